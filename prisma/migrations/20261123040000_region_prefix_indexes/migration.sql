-- The region subtree filter (regionCode = r OR regionCode LIKE 'r/%') of the monitor, the referral
-- feed and the API-key list: a plain btree serves the LIKE only under the C collation; these
-- text_pattern_ops indexes serve it under any (ICU, en_US, zh_CN).

-- CreateIndex
CREATE INDEX "ApiKey_region_prefix_idx" ON "ApiKey"("region" text_pattern_ops);

-- CreateIndex
CREATE INDEX "HouseholdCase_regionCode_prefix_stage_idx" ON "HouseholdCase"("regionCode" text_pattern_ops, "stage");

-- CreateIndex
CREATE INDEX "CaseTask_regionCode_prefix_status_dueAt_idx" ON "CaseTask"("regionCode" text_pattern_ops, "status", "dueAt");
