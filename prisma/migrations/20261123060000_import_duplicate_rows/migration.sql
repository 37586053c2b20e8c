-- Import rows whose referral the case already held (the same referral again) are counted apart.
ALTER TABLE "ImportJob" ADD COLUMN "duplicateRows" INTEGER NOT NULL DEFAULT 0;
