-- CreateTable
CREATE TABLE "HouseholdCase" (
    "id" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "householdKey" TEXT NOT NULL,
    "regionCode" TEXT NOT NULL,
    "stage" TEXT NOT NULL,
    "tier" TEXT,
    "causes" TEXT[],
    "headName" TEXT NOT NULL,
    "idNumberMasked" TEXT NOT NULL,
    "fileNumber" TEXT,
    "openedAt" TIMESTAMP(3) NOT NULL,
    "filedAt" TIMESTAMP(3),
    "endedAt" TIMESTAMP(3),
    "onHold" BOOLEAN NOT NULL DEFAULT false,
    "policyVersion" TEXT NOT NULL,
    "lastEventAt" TIMESTAMP(3) NOT NULL,
    "eventSeq" INTEGER NOT NULL,
    "facts" JSONB NOT NULL,
    "summary" JSONB NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "HouseholdCase_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "CaseTask" (
    "id" TEXT NOT NULL,
    "caseId" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "agency" TEXT NOT NULL,
    "regionCode" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "assignee" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "dueAt" TIMESTAMP(3) NOT NULL,
    "remindedAt" TIMESTAMP(3),
    "escalatedAt" TIMESTAMP(3),
    "escalatedTo" JSONB,
    "context" JSONB NOT NULL,
    "completedAt" TIMESTAMP(3),
    "completedBy" TEXT,
    "result" JSONB,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "CaseTask_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "CaseEvent" (
    "workflowId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "caseId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "actor" TEXT,
    "agency" TEXT,
    "taskId" TEXT,
    "data" JSONB NOT NULL,

    CONSTRAINT "CaseEvent_pkey" PRIMARY KEY ("workflowId","seq")
);

-- CreateTable
CREATE TABLE "AidDisbursement" (
    "paymentId" TEXT NOT NULL,
    "caseId" TEXT NOT NULL,
    "measure" TEXT NOT NULL,
    "amountCents" INTEGER NOT NULL,
    "year" INTEGER NOT NULL,
    "approvedBy" TEXT NOT NULL,
    "paidAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AidDisbursement_pkey" PRIMARY KEY ("paymentId")
);

-- CreateIndex
CREATE INDEX "HouseholdCase_regionCode_stage_idx" ON "HouseholdCase"("regionCode", "stage");

-- CreateIndex
CREATE INDEX "HouseholdCase_householdKey_idx" ON "HouseholdCase"("householdKey");

-- CreateIndex
CREATE INDEX "HouseholdCase_lastEventAt_idx" ON "HouseholdCase"("lastEventAt");

-- CreateIndex
CREATE INDEX "CaseTask_agency_status_dueAt_idx" ON "CaseTask"("agency", "status", "dueAt");

-- CreateIndex
CREATE INDEX "CaseTask_caseId_idx" ON "CaseTask"("caseId");

-- CreateIndex
CREATE INDEX "CaseTask_regionCode_status_dueAt_idx" ON "CaseTask"("regionCode", "status", "dueAt");

-- CreateIndex
CREATE INDEX "CaseEvent_caseId_at_idx" ON "CaseEvent"("caseId", "at");

-- CreateIndex
CREATE INDEX "AidDisbursement_caseId_year_idx" ON "AidDisbursement"("caseId", "year");
