-- The coordinators' stuck list reads only open tasks and open cases: partial indexes that give each
-- kind of stuck item in list order (the first page stops after its rows) and count the rest from
-- the index alone, instead of joining and sorting every stuck item per request.

-- CreateIndex
CREATE INDEX "HouseholdCase_open_lastEventAt_idx" ON "HouseholdCase"("lastEventAt", "regionCode" text_pattern_ops, "onHold", "policyVersion", "stage", "id") WHERE ("endedAt" IS NULL);

-- CreateIndex
CREATE INDEX "HouseholdCase_onHold_idx" ON "HouseholdCase"("id") WHERE ("onHold");

-- CreateIndex
CREATE INDEX "CaseTask_open_dueAt_idx" ON "CaseTask"("dueAt", "id", "regionCode" text_pattern_ops, "caseId", "agency", "type", "escalatedAt") WHERE (status = 'open');

-- CreateIndex
CREATE INDEX "CaseTask_open_escalatedAt_idx" ON "CaseTask"("escalatedAt", "id", "dueAt", "regionCode" text_pattern_ops, "caseId", "agency", "type") WHERE (status = 'open' AND "escalatedAt" IS NOT NULL);
