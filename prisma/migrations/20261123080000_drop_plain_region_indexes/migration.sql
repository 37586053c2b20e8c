-- The region-prefix (text_pattern_ops) indexes serve equality as well as the subtree LIKE, so the
-- plain ones only cost writes.
DROP INDEX "HouseholdCase_regionCode_stage_idx";
DROP INDEX "CaseTask_regionCode_status_dueAt_idx";
DROP INDEX "ApiKey_region_idx";
