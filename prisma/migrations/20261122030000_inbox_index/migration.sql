-- CreateIndex
CREATE INDEX "CaseTask_agency_status_regionCode_idx" ON "CaseTask"("agency", "status", "regionCode");
