-- CreateTable
CREATE TABLE "WebhookSubscription" (
    "id" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "agency" TEXT NOT NULL,
    "region" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "eventTypes" TEXT[],
    "secret" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "WebhookSubscription_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookOutbox" (
    "id" BIGSERIAL NOT NULL,
    "workflowId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookOutbox_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookDelivery" (
    "id" TEXT NOT NULL,
    "subscriptionId" TEXT NOT NULL,
    "eventId" TEXT NOT NULL,
    "caseId" TEXT NOT NULL,
    "eventType" TEXT NOT NULL,
    "eventAt" TIMESTAMP(3) NOT NULL,
    "payload" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastAttemptAt" TIMESTAMP(3),
    "lastStatusCode" INTEGER,
    "lastError" TEXT,
    "nextAttemptAt" TIMESTAMP(3),
    "deliveredAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "WebhookDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookAttempt" (
    "id" BIGSERIAL NOT NULL,
    "deliveryId" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "statusCode" INTEGER,
    "error" TEXT,
    "durationMs" INTEGER NOT NULL,
    "redelivery" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "WebhookAttempt_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ImportJob" (
    "id" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "agency" TEXT NOT NULL,
    "region" TEXT NOT NULL,
    "fileHash" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "totalRows" INTEGER NOT NULL,
    "validRows" INTEGER NOT NULL,
    "invalidRows" INTEGER NOT NULL,
    "processedRows" INTEGER NOT NULL DEFAULT 0,
    "startedCases" INTEGER NOT NULL DEFAULT 0,
    "joinedCases" INTEGER NOT NULL DEFAULT 0,
    "failedRows" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ImportJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ImportRow" (
    "jobId" TEXT NOT NULL,
    "rowNo" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "errors" JSONB,
    "input" JSONB,
    "householdKey" TEXT,
    "caseId" TEXT,
    "error" TEXT,

    CONSTRAINT "ImportRow_pkey" PRIMARY KEY ("jobId","rowNo")
);

-- CreateTable
CREATE TABLE "CaseMilestone" (
    "workflowId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "caseId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "fromStage" TEXT,
    "durationMs" BIGINT,
    "at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "CaseMilestone_pkey" PRIMARY KEY ("workflowId","seq")
);

-- CreateIndex
CREATE INDEX "WebhookSubscription_owner_idx" ON "WebhookSubscription"("owner");

-- CreateIndex
CREATE INDEX "WebhookDelivery_subscriptionId_createdAt_idx" ON "WebhookDelivery"("subscriptionId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "WebhookDelivery_subscriptionId_eventId_key" ON "WebhookDelivery"("subscriptionId", "eventId");

-- CreateIndex
CREATE INDEX "WebhookAttempt_deliveryId_idx" ON "WebhookAttempt"("deliveryId");

-- CreateIndex
CREATE UNIQUE INDEX "ImportJob_agency_fileHash_key" ON "ImportJob"("agency", "fileHash");

-- CreateIndex
CREATE INDEX "ImportRow_jobId_status_idx" ON "ImportRow"("jobId", "status");

-- CreateIndex
CREATE INDEX "CaseMilestone_caseId_at_idx" ON "CaseMilestone"("caseId", "at");

-- CreateIndex
CREATE INDEX "CaseMilestone_kind_key_at_idx" ON "CaseMilestone"("kind", "key", "at");

-- Webhook fan-out without touching the workflows: every new CaseEvent row (the projection's
-- timeline) is queued for the dispatcher while any subscription is active. A retried projection
-- inserts nothing (skipDuplicates), so nothing is queued twice.
CREATE FUNCTION "webhook_outbox_enqueue"() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM "WebhookSubscription" WHERE "active") THEN
    INSERT INTO "WebhookOutbox" ("workflowId", "seq") VALUES (NEW."workflowId", NEW."seq");
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER "CaseEvent_webhook_outbox" AFTER INSERT ON "CaseEvent"
  FOR EACH ROW EXECUTE FUNCTION "webhook_outbox_enqueue"();

-- Coordinators' figures: milestones (opened, stage changes with the time spent in the stage left,
-- referral grants as recorded on the case) kept as the timeline is written.
CREATE FUNCTION "case_milestone_record"() RETURNS trigger AS $$
DECLARE
  prev RECORD;
BEGIN
  IF NEW."type" = 'case.opened' THEN
    INSERT INTO "CaseMilestone" ("workflowId", "seq", "caseId", "kind", "key", "at")
    VALUES (NEW."workflowId", NEW."seq", NEW."caseId", 'opened', 'intake', NEW."at") ON CONFLICT DO NOTHING;
  ELSIF NEW."type" = 'case.stage_changed' THEN
    SELECT m."at" INTO prev FROM "CaseMilestone" m
     WHERE m."caseId" = NEW."caseId" AND m."kind" IN ('opened', 'stage')
     ORDER BY m."at" DESC, m."seq" DESC LIMIT 1;
    INSERT INTO "CaseMilestone" ("workflowId", "seq", "caseId", "kind", "key", "fromStage", "durationMs", "at")
    VALUES (NEW."workflowId", NEW."seq", NEW."caseId", 'stage', NEW."data"->>'to', NEW."data"->>'from',
            CASE WHEN prev."at" IS NULL THEN NULL
                 ELSE (EXTRACT(EPOCH FROM (NEW."at" - prev."at")) * 1000)::BIGINT END,
            NEW."at") ON CONFLICT DO NOTHING;
  ELSIF NEW."type" = 'referral.granted' AND NEW."data" ? 'referralId' THEN
    INSERT INTO "CaseMilestone" ("workflowId", "seq", "caseId", "kind", "key", "at")
    VALUES (NEW."workflowId", NEW."seq", NEW."caseId", 'grant', NEW."data"->>'measure', NEW."at") ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql
-- The lookup's plan is cached from the first calls, when the table is small; never let that be a
-- sequential scan that later runs once per inserted event.
SET enable_seqscan = off;

CREATE TRIGGER "CaseEvent_case_milestone" AFTER INSERT ON "CaseEvent"
  FOR EACH ROW EXECUTE FUNCTION "case_milestone_record"();

-- Backfill milestones for a timeline written before this migration.
INSERT INTO "CaseMilestone" ("workflowId", "seq", "caseId", "kind", "key", "fromStage", "durationMs", "at")
SELECT "workflowId", "seq", "caseId", "kind", "key", "fromStage",
       CASE WHEN "kind" = 'stage' AND "prevAt" IS NOT NULL
            THEN (EXTRACT(EPOCH FROM ("at" - "prevAt")) * 1000)::BIGINT END,
       "at"
  FROM (
    SELECT e."workflowId", e."seq", e."caseId", e."at",
           CASE e."type" WHEN 'case.opened' THEN 'opened' WHEN 'case.stage_changed' THEN 'stage' ELSE 'grant' END AS "kind",
           CASE e."type" WHEN 'case.opened' THEN 'intake' WHEN 'case.stage_changed' THEN e."data"->>'to'
                ELSE e."data"->>'measure' END AS "key",
           CASE WHEN e."type" = 'case.stage_changed' THEN e."data"->>'from' END AS "fromStage",
           LAG(e."at") OVER (PARTITION BY e."caseId", e."type" = 'referral.granted' ORDER BY e."at", e."seq") AS "prevAt"
      FROM "CaseEvent" e
     WHERE e."type" IN ('case.opened', 'case.stage_changed')
        OR (e."type" = 'referral.granted' AND e."data" ? 'referralId')
  ) x;
