-- Coordinators' figures kept by triggers in the same transaction as the projection writes, so the
-- statistics add up a few rows per region instead of scanning every case, milestone, payment and
-- task (1 s at the province on 100k cases). Each rule here mirrors one in api/monitor/filters.ts,
-- whose drill-downs list the rows behind every figure; test/e2e/monitor-stats.test.ts checks that
-- each figure equals its drill-down, test/db/monitor-tallies.test.ts that the tables equal a recount.

-- CreateTable
CREATE TABLE "MonitorCaseTally" (
    "caseId" TEXT NOT NULL,
    "figure" TEXT NOT NULL,
    "year" INTEGER NOT NULL,
    "key" TEXT NOT NULL,
    "regionCode" TEXT NOT NULL,
    "n" BIGINT NOT NULL,
    "cents" BIGINT NOT NULL,

    CONSTRAINT "MonitorCaseTally_pkey" PRIMARY KEY ("caseId","figure","year","key")
);

-- CreateTable
CREATE TABLE "MonitorTally" (
    "figure" TEXT NOT NULL,
    "year" INTEGER NOT NULL,
    "key" TEXT NOT NULL,
    "regionCode" TEXT NOT NULL,
    "households" BIGINT NOT NULL,
    "n" BIGINT NOT NULL,
    "cents" BIGINT NOT NULL,

    CONSTRAINT "MonitorTally_pkey" PRIMARY KEY ("figure","year","key","regionCode")
);

-- CreateTable
CREATE TABLE "MonitorTaskTally" (
    "year" INTEGER NOT NULL,
    "agency" TEXT NOT NULL,
    "regionCode" TEXT NOT NULL,
    "completed" BIGINT NOT NULL,
    "late" BIGINT NOT NULL,

    CONSTRAINT "MonitorTaskTally_pkey" PRIMARY KEY ("year","agency","regionCode")
);

-- CreateTable
CREATE TABLE "MonitorStageTime" (
    "scope" TEXT NOT NULL,
    "year" INTEGER NOT NULL,
    "fromStage" TEXT NOT NULL,
    "durationMs" BIGINT NOT NULL,
    "caseId" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,

    CONSTRAINT "MonitorStageTime_pkey" PRIMARY KEY ("caseId","workflowId","seq","scope")
);

-- CreateIndex
CREATE INDEX "MonitorCaseTally_aid_idx" ON "MonitorCaseTally"("year", "key", "cents", "regionCode" text_pattern_ops) WHERE (figure = 'aid');

-- CreateIndex
CREATE INDEX "MonitorTally_figure_year_regionCode_idx" ON "MonitorTally"("figure", "year", "regionCode" text_pattern_ops);

-- CreateIndex
CREATE INDEX "MonitorTaskTally_year_regionCode_idx" ON "MonitorTaskTally"("year", "regionCode" text_pattern_ops);

-- CreateIndex
CREATE INDEX "MonitorStageTime_scope_year_fromStage_durationMs_idx" ON "MonitorStageTime"("scope", "year", "fromStage", "durationMs");

-- Medians and households at cap are read from the indexes alone, which needs the visibility map
-- current: vacuum these after a few thousand new rows, not after a fifth of the table.
ALTER TABLE "MonitorStageTime" SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.01);
ALTER TABLE "MonitorCaseTally" SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.01);

-- The local (China, UTC+8 all year) calendar year of an instant: timestamps hold UTC. The same
-- boundaries as yearBounds in api/monitor/sql.ts (cnMainlandCalendar.timeZoneOffsetMinutes).
CREATE FUNCTION "monitor_year"(at TIMESTAMP) RETURNS INTEGER
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT EXTRACT(YEAR FROM at + INTERVAL '480 minutes')::INTEGER $$;

-- A region and every region above it: 'hl/harbin/daoli' → hl, hl/harbin, hl/harbin/daoli.
CREATE FUNCTION "monitor_scopes"(region TEXT) RETURNS SETOF TEXT
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT array_to_string((string_to_array(region, '/'))[1:i], '/')
          FROM generate_series(1, cardinality(string_to_array(region, '/'))) i $$;

-- What each of the cases `ids` contributes to each figure, recounted from the projection. A case
-- counts only once its row exists (its region is needed); a NULL key (a stage change without
-- `from`, a NULL cause) is ''.
CREATE FUNCTION "monitor_case_tallies"(ids TEXT[])
RETURNS TABLE ("caseId" TEXT, "figure" TEXT, "year" INTEGER, "key" TEXT, "regionCode" TEXT, "n" BIGINT, "cents" BIGINT)
LANGUAGE sql STABLE AS $$
  -- Joined to the ids (not `= ANY (ids)`): with every case's ID at once, each probe would scan the array.
  WITH c AS (
    SELECT h."id", h."regionCode", h."stage", h."tier", h."causes", h."policyVersion",
           h."endedAt" IS NULL AS "open", monitor_year(h."filedAt") AS "filedYear"
      FROM (SELECT DISTINCT unnest(ids) AS "id") k JOIN "HouseholdCase" h ON h."id" = k."id"),
  m AS (
    SELECT m."caseId", m."kind", m."key", m."fromStage", m."durationMs", m."at", m."seq", monitor_year(m."at") AS "year"
      FROM c JOIN "CaseMilestone" m ON m."caseId" = c."id"),
  d AS (
    SELECT d."caseId", d."year", d."measure", d."amountCents"
      FROM c JOIN "AidDisbursement" d ON d."caseId" = c."id"),
  -- exitedAsOf (filters.ts): out at the end of a year when its last stage change up to then entered
  -- the gradual-exit period or closed the file after it. One row per year with stage changes.
  yearEnd AS (
    SELECT DISTINCT ON (m."caseId", m."year") m."caseId", m."year",
           m."key" = 'gradual_exit' OR (m."key" = 'closed' AND m."fromStage" = 'gradual_exit') AS "out"
      FROM m WHERE m."kind" = 'stage'
     ORDER BY m."caseId", m."year", m."at" DESC, m."seq" DESC),
  -- The year it was filed and each later year with stage changes, each with whether it was out
  -- then (the last year-end state up to it: a running group starts at each year-end row).
  points AS (
    SELECT p."caseId", p."year", p."filed",
           first_value(p."out") OVER (PARTITION BY p."caseId", p."grp" ORDER BY p."year", p."filed") AS "out"
      FROM (SELECT s.*, count(*) FILTER (WHERE NOT s."filed")
                          OVER (PARTITION BY s."caseId" ORDER BY s."year", s."filed") AS "grp"
              FROM (SELECT y."caseId", y."year", y."out", false AS "filed" FROM yearEnd y
                    UNION ALL
                    SELECT c."id", c."filedYear", NULL, true FROM c WHERE c."filedYear" IS NOT NULL) s) p),
  counted AS (
    SELECT p."caseId", p."year", COALESCE(p."out", false)::INTEGER AS "i"
      FROM points p JOIN c ON c."id" = p."caseId"
     WHERE p."filed" OR p."year" > c."filedYear")
  SELECT c."id", 'stage', 0, c."stage", c."regionCode", 1::BIGINT, 0::BIGINT FROM c
  UNION ALL
  SELECT c."id", 'open', 0, '', c."regionCode", 1, 0 FROM c WHERE c."open"
  UNION ALL
  SELECT c."id", 'tier', 0, c."tier", c."regionCode", 1, 0 FROM c WHERE c."open" AND c."tier" IS NOT NULL
  UNION ALL
  SELECT c."id", 'cause', 0, COALESCE(x."cause", ''), c."regionCode", count(*), 0
    FROM c CROSS JOIN unnest(c."causes") x("cause") WHERE c."open" GROUP BY c."id", c."regionCode", 4
  UNION ALL
  SELECT c."id", 'filed', c."filedYear", COALESCE(c."tier", ''), c."regionCode", 1, 0 FROM c WHERE c."filedYear" IS NOT NULL
  UNION ALL
  -- From "filed by the end of the year" × out then, the change in each year it changes.
  SELECT e."caseId", 'exit', e."year", COALESCE(c."tier", ''), c."regionCode", e."delta", 0
    FROM (SELECT k."caseId", k."year",
                 (k."i" - COALESCE(lag(k."i") OVER (PARTITION BY k."caseId" ORDER BY k."year"), 0))::BIGINT AS "delta"
            FROM counted k) e JOIN c ON c."id" = e."caseId"
   WHERE e."delta" <> 0
  UNION ALL
  -- grantMilestone (filters.ts)
  SELECT c."id", 'grant', m."year", m."key", c."regionCode", count(*), 0
    FROM m JOIN c ON c."id" = m."caseId" WHERE m."kind" = 'grant' GROUP BY c."id", c."regionCode", m."year", m."key"
  UNION ALL
  -- stageLeft (filters.ts)
  SELECT c."id", 'departure', m."year", COALESCE(m."fromStage", ''), c."regionCode", count(*), 0
    FROM m JOIN c ON c."id" = m."caseId" WHERE m."kind" = 'stage' AND m."durationMs" IS NOT NULL
   GROUP BY c."id", c."regionCode", m."year", 4
  UNION ALL
  -- payment (filters.ts), per household and year: its cap is its policy version's.
  SELECT c."id", 'aid', d."year", c."policyVersion", c."regionCode", count(*), sum(d."amountCents")
    FROM d JOIN c ON c."id" = d."caseId" GROUP BY c."id", c."regionCode", c."policyVersion", d."year"
  UNION ALL
  SELECT c."id", 'aid_measure', d."year", d."measure", c."regionCode", count(*), sum(d."amountCents")
    FROM d JOIN c ON c."id" = d."caseId" GROUP BY c."id", c."regionCode", d."year", d."measure"
$$;

-- The timed stage departures of the cases `ids`, once per region enclosing each case.
CREATE FUNCTION "monitor_stage_times"(ids TEXT[])
RETURNS TABLE ("scope" TEXT, "year" INTEGER, "fromStage" TEXT, "durationMs" BIGINT, "caseId" TEXT, "workflowId" TEXT, "seq" INTEGER)
LANGUAGE sql STABLE AS $$
  SELECT s."scope", monitor_year(m."at"), COALESCE(m."fromStage", ''), m."durationMs", m."caseId", m."workflowId", m."seq"
    FROM (SELECT DISTINCT unnest(ids) AS "id") k
    JOIN "HouseholdCase" c ON c."id" = k."id"
    JOIN "CaseMilestone" m ON m."caseId" = c."id"
    CROSS JOIN monitor_scopes(c."regionCode") s("scope")
   WHERE m."kind" = 'stage' AND m."durationMs" IS NOT NULL
$$;

-- Brings the tallies of the cases `ids` up to date: recounts them, applies the difference to the
-- per-region sums (in key order, so concurrent refreshes lock rows in the same order) and keeps
-- the recount for next time. Refreshes of one case run one at a time (advisory lock), each reading
-- what the previous one committed (READ COMMITTED: each statement takes a new snapshot). Its
-- statements are planned once per connection: re-planning them (custom plans for `= ANY (ids)`)
-- cost five times what running them does.
CREATE FUNCTION "monitor_refresh_cases"(ids TEXT[]) RETURNS VOID
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('monitor:' || i, 0)) FROM unnest(ids) i ORDER BY i;

  WITH fresh AS MATERIALIZED (SELECT * FROM monitor_case_tallies(ids)),
  stale AS (SELECT * FROM "MonitorCaseTally" t WHERE t."caseId" = ANY (ids)),
  gone AS (
    DELETE FROM "MonitorCaseTally" t
     WHERE t."caseId" = ANY (ids)
       AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f."caseId" = t."caseId" AND f."figure" = t."figure"
                                                AND f."year" = t."year" AND f."key" = t."key")),
  kept AS (
    INSERT INTO "MonitorCaseTally" AS t SELECT * FROM fresh
    ON CONFLICT ("caseId", "figure", "year", "key") DO UPDATE
       SET "regionCode" = EXCLUDED."regionCode", "n" = EXCLUDED."n", "cents" = EXCLUDED."cents"
     WHERE (t."regionCode", t."n", t."cents") IS DISTINCT FROM (EXCLUDED."regionCode", EXCLUDED."n", EXCLUDED."cents")),
  delta AS (
    SELECT x."figure", x."year", x."key", x."regionCode", sum(x."h") AS "h", sum(x."n") AS "n", sum(x."cents") AS "cents"
      FROM (SELECT f."figure", f."year", f."key", f."regionCode", 1 AS "h", f."n", f."cents" FROM fresh f
            UNION ALL
            SELECT s."figure", s."year", s."key", s."regionCode", -1, -s."n", -s."cents" FROM stale s) x
     GROUP BY 1, 2, 3, 4
    HAVING sum(x."h") <> 0 OR sum(x."n") <> 0 OR sum(x."cents") <> 0)
  INSERT INTO "MonitorTally" AS t ("figure", "year", "key", "regionCode", "households", "n", "cents")
  SELECT * FROM delta ORDER BY 1, 2, 3, 4
  ON CONFLICT ("figure", "year", "key", "regionCode") DO UPDATE
     SET "households" = t."households" + EXCLUDED."households", "n" = t."n" + EXCLUDED."n",
         "cents" = t."cents" + EXCLUDED."cents";

  DELETE FROM "MonitorStageTime" s
   WHERE s."caseId" = ANY (ids)
     AND NOT EXISTS (SELECT 1 FROM monitor_stage_times(ids) f
                      WHERE (f."caseId", f."workflowId", f."seq", f."scope", f."year", f."fromStage", f."durationMs")
                          = (s."caseId", s."workflowId", s."seq", s."scope", s."year", s."fromStage", s."durationMs"));
  INSERT INTO "MonitorStageTime" SELECT * FROM monitor_stage_times(ids) ON CONFLICT DO NOTHING;
END
$$;

-- Refreshes the case a written row belongs to: the case row itself, or the case a milestone or
-- payment names (before and after the write, when it moved). A case row is upserted whole on every
-- projection flush: nothing to do unless a counted column changed.
CREATE FUNCTION "monitor_case_changed"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ids TEXT[];
BEGIN
  IF TG_TABLE_NAME = 'HouseholdCase' THEN
    IF TG_OP = 'UPDATE'
       AND (OLD."id", OLD."regionCode", OLD."stage", OLD."tier", OLD."causes", OLD."endedAt" IS NULL,
            monitor_year(OLD."filedAt"), OLD."policyVersion")
           IS NOT DISTINCT FROM
           (NEW."id", NEW."regionCode", NEW."stage", NEW."tier", NEW."causes", NEW."endedAt" IS NULL,
            monitor_year(NEW."filedAt"), NEW."policyVersion") THEN
      RETURN NULL;
    END IF;
    ids := ARRAY[OLD."id", NEW."id"];
  ELSE
    ids := ARRAY[OLD."caseId", NEW."caseId"];
  END IF;
  PERFORM monitor_refresh_cases(ARRAY(SELECT DISTINCT i FROM unnest(ids) i WHERE i IS NOT NULL));
  RETURN NULL;
END
$$;

CREATE TRIGGER "HouseholdCase_monitor" AFTER INSERT OR UPDATE OR DELETE ON "HouseholdCase"
  FOR EACH ROW EXECUTE FUNCTION "monitor_case_changed"();
CREATE TRIGGER "CaseMilestone_monitor" AFTER INSERT OR UPDATE OR DELETE ON "CaseMilestone"
  FOR EACH ROW EXECUTE FUNCTION "monitor_case_changed"();
CREATE TRIGGER "AidDisbursement_monitor" AFTER INSERT OR UPDATE OR DELETE ON "AidDisbursement"
  FOR EACH ROW EXECUTE FUNCTION "monitor_case_changed"();

-- judgedTask / lateTask (filters.ts), for completed tasks: the year it was completed in, and late
-- when completed after its due time. Open tasks past due are counted live (they age by the clock).
CREATE FUNCTION "monitor_task_changed"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND (OLD."status", OLD."completedAt", OLD."dueAt", OLD."agency", OLD."regionCode")
         IS NOT DISTINCT FROM (NEW."status", NEW."completedAt", NEW."dueAt", NEW."agency", NEW."regionCode") THEN
    RETURN NULL;
  END IF;
  INSERT INTO "MonitorTaskTally" AS t ("year", "agency", "regionCode", "completed", "late")
  SELECT x."year", x."agency", x."regionCode", sum(x."completed"), sum(x."late")
    FROM (SELECT monitor_year(NEW."completedAt") AS "year", NEW."agency", NEW."regionCode",
                 1 AS "completed", (NEW."completedAt" > NEW."dueAt")::INTEGER AS "late"
           WHERE TG_OP <> 'DELETE' AND NEW."status" = 'completed' AND NEW."completedAt" IS NOT NULL
          UNION ALL
          SELECT monitor_year(OLD."completedAt"), OLD."agency", OLD."regionCode",
                 -1, -(OLD."completedAt" > OLD."dueAt")::INTEGER
           WHERE TG_OP <> 'INSERT' AND OLD."status" = 'completed' AND OLD."completedAt" IS NOT NULL) x
   GROUP BY 1, 2, 3
  HAVING sum(x."completed") <> 0 OR sum(x."late") <> 0
   ORDER BY 1, 2, 3
  ON CONFLICT ("year", "agency", "regionCode") DO UPDATE
     SET "completed" = t."completed" + EXCLUDED."completed", "late" = t."late" + EXCLUDED."late";
  RETURN NULL;
END
$$;

CREATE TRIGGER "CaseTask_monitor" AFTER INSERT OR UPDATE OR DELETE ON "CaseTask"
  FOR EACH ROW EXECUTE FUNCTION "monitor_task_changed"();

-- Every tally recounted from the projection at once (set-based, the same functions over every
-- case): this migration's backfill, and the way back after a bulk load made with these triggers
-- disabled. Writers wait meanwhile, so nothing lands between the recount and the triggers.
CREATE FUNCTION "monitor_rebuild_tallies"() RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE "HouseholdCase", "CaseMilestone", "AidDisbursement", "CaseTask" IN SHARE MODE;
  TRUNCATE "MonitorCaseTally", "MonitorTally", "MonitorStageTime", "MonitorTaskTally";
  INSERT INTO "MonitorCaseTally" SELECT * FROM monitor_case_tallies(ARRAY(SELECT "id" FROM "HouseholdCase"));
  INSERT INTO "MonitorTally" ("figure", "year", "key", "regionCode", "households", "n", "cents")
  SELECT "figure", "year", "key", "regionCode", count(*), sum("n"), sum("cents")
    FROM "MonitorCaseTally" GROUP BY 1, 2, 3, 4;
  INSERT INTO "MonitorStageTime" SELECT * FROM monitor_stage_times(ARRAY(SELECT "id" FROM "HouseholdCase"));
  INSERT INTO "MonitorTaskTally" ("year", "agency", "regionCode", "completed", "late")
  SELECT monitor_year("completedAt"), "agency", "regionCode", count(*), count(*) FILTER (WHERE "completedAt" > "dueAt")
    FROM "CaseTask" WHERE "status" = 'completed' AND "completedAt" IS NOT NULL GROUP BY 1, 2, 3;
END
$$;

-- Backfill the tallies of a projection written before this migration, planned on current statistics.
ANALYZE "HouseholdCase", "CaseMilestone", "AidDisbursement", "CaseTask";
SELECT monitor_rebuild_tallies();
