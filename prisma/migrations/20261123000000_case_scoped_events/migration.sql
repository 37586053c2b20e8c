-- A household's later case (返困, referred again after its first case ended) runs under the same
-- workflow ID and numbers its events from 1 again: events and milestones are keyed per case, and
-- the webhook outbox names the case of each queued event.

-- AlterTable
ALTER TABLE "CaseEvent" DROP CONSTRAINT "CaseEvent_pkey",
ADD CONSTRAINT "CaseEvent_pkey" PRIMARY KEY ("caseId", "workflowId", "seq");

-- AlterTable
ALTER TABLE "CaseMilestone" DROP CONSTRAINT "CaseMilestone_pkey",
ADD CONSTRAINT "CaseMilestone_pkey" PRIMARY KEY ("caseId", "workflowId", "seq");

-- AlterTable: rows queued before this migration name their event by (workflowId, seq), unique then.
ALTER TABLE "WebhookOutbox" ADD COLUMN "caseId" TEXT;
UPDATE "WebhookOutbox" o SET "caseId" = e."caseId"
  FROM "CaseEvent" e WHERE e."workflowId" = o."workflowId" AND e."seq" = o."seq";
DELETE FROM "WebhookOutbox" WHERE "caseId" IS NULL;
ALTER TABLE "WebhookOutbox" ALTER COLUMN "caseId" SET NOT NULL;

CREATE OR REPLACE FUNCTION "webhook_outbox_enqueue"() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM "WebhookSubscription" WHERE "active") THEN
    INSERT INTO "WebhookOutbox" ("caseId", "workflowId", "seq") VALUES (NEW."caseId", NEW."workflowId", NEW."seq");
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
