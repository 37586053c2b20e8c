-- An import job is one per (agency, region, normalised content): an uploader of another region
-- is no longer handed the first uploader's job.
-- DropIndex
DROP INDEX "ImportJob_agency_fileHash_key";

-- CreateIndex
CREATE UNIQUE INDEX "ImportJob_agency_region_fileHash_key" ON "ImportJob"("agency", "region", "fileHash");
