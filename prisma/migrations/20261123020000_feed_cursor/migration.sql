-- AlterTable
ALTER TABLE "HouseholdCase" ADD COLUMN "writeXid" BIGINT NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX "HouseholdCase_writeXid_id_idx" ON "HouseholdCase"("writeXid", "id");

-- The referral feed's cursor. `updatedAt` is stamped by the writer's clock before its commit, so a
-- late commit (or another host's clock) could land behind a cursor already handed out. Instead each
-- write records its transaction's id; the feed serves only rows whose id is below the snapshot's
-- xmin (every such transaction has ended), ordered by (writeXid, id): no row can later appear
-- before a cursor. xid8 is 64-bit and never wraps.
CREATE FUNCTION "household_case_write_xid"() RETURNS trigger AS $$
BEGIN
  NEW."writeXid" := pg_current_xact_id()::text::bigint;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER "HouseholdCase_write_xid" BEFORE INSERT OR UPDATE ON "HouseholdCase"
  FOR EACH ROW EXECUTE FUNCTION "household_case_write_xid"();
