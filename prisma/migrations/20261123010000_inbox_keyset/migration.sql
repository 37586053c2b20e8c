-- The inbox pages by keyset ("dueAt", "id") > cursor: an index that seeks it replaces the one on
-- ("agency", "status", "dueAt") (its prefix).
-- DropIndex
DROP INDEX "CaseTask_agency_status_dueAt_idx";

-- CreateIndex
CREATE INDEX "CaseTask_agency_status_dueAt_id_idx" ON "CaseTask"("agency", "status", "dueAt", "id");

-- The region-prefix filter (LIKE 'region/%') uses a btree index only under the C collation unless the
-- column is indexed with text_pattern_ops.
-- DropIndex
DROP INDEX "CaseTask_agency_status_regionCode_idx";

-- CreateIndex
CREATE INDEX "CaseTask_agency_status_regionCode_idx" ON "CaseTask"("agency", "status", "regionCode" text_pattern_ops);
