/**
 * Times the coordinators' stuck list and statistics at 100k cases (p50/p99 over repeated runs).
 * Seeds a fresh database on TEST_DATABASE_URL directly with SQL (cases, tasks, timeline with its
 * triggers, aid), then calls the same functions the endpoints call.
 *   export "$(bash scripts/ensure-postgres.sh)"; npx tsx scripts/bench/monitor.ts [cases=100000] [runs=30]
 *
 * On the 2-core development machine at 100k cases (load average 1.4 before, 1.8 after), p50 / p99 ms,
 * before (132cca0) → after the stuck list's partial indexes and the figures' tallies:
 *   stuck list, province (hl), first 100             590 / 770   →  62 / 73
 *   stuck list, city (hl/c3), first 100              135 / 153   →  23 / 29
 *   stuck list, county, agency=housing, minDays=7     14 / 32    →  11 / 18
 *   stats, province (hl), 2026                      1200 / 1381  →  45 / 57
 *   stats, city (hl/c3), 2026                        350 / 456   →  19 / 22
 *   projection flush (stage change, task, payment)   1.0 → 3.6 (the tally triggers)
 * Other work on the machine moves these by a third either way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { createDb } from '../../db/client';
import { migrate } from '../../db/migrate';
import { programStats } from '../../api/monitor/stats';
import { StuckQuerySchema, stuckList } from '../../api/monitor/stuck';

const N = Number(process.argv[2] ?? 100_000);
const RUNS = Number(process.argv[3] ?? 30);

async function freshDatabase(name: string): Promise<string> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set (export "$(bash scripts/ensure-postgres.sh)")');
  const admin = new PgClient({ connectionString: base });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

const STAGES = `ARRAY['intake','comparison','survey','deliberation','public_notice','sign_off','planning','assisting','assisting','assisting','exit_review','gradual_exit','closed','safety_net','withdrawn']`;
const CAUSES = `ARRAY['illness','disability','disaster','accident','unemployment','schooling','single_parent','other']`;

/** The triggers that keep the coordinators' tallies (migration 20261123050100_monitor_tallies). */
const TALLY_TRIGGERS = [
  ['HouseholdCase', 'HouseholdCase_monitor'],
  ['CaseMilestone', 'CaseMilestone_monitor'],
  ['AidDisbursement', 'AidDisbursement_monitor'],
  ['CaseTask', 'CaseTask_monitor'],
];

const busyWorkers = `SELECT count(*)::int AS n FROM pg_stat_activity
  WHERE datname = current_database() AND backend_type = 'autovacuum worker'`;

/** A migration's SQL from `marker` on (its backfill). */
function migrationFrom(name: string, marker: string): string {
  const sql = fs.readFileSync(
    path.resolve(__dirname, `../../prisma/migrations/${name}/migration.sql`),
    'utf8',
  );
  return sql.slice(sql.indexOf(marker));
}

async function seed(url: string): Promise<void> {
  const pg = new PgClient({ connectionString: url });
  await pg.connect();
  const t0 = Date.now();
  const query = pg.query.bind(pg);
  // Row by row, the tally triggers would refresh a case per inserted row: seed with them off and
  // rebuild the tallies set-based afterwards (the migration's backfill, same rows).
  const setTallyTriggers = async (on: boolean) => {
    for (const [table, trigger] of TALLY_TRIGGERS)
      await pg.query(`ALTER TABLE "${table}" ${on ? 'ENABLE' : 'DISABLE'} TRIGGER "${trigger}"`);
  };
  await setTallyTriggers(false);
  const step = async (sql: string) => {
    const t = Date.now();
    await query(sql);
    console.log(`  seed step ${sql.trim().split('\n')[0]!.slice(0, 40)}: ${Date.now() - t} ms`);
  };
  // 13 cities × 7 districts in one province.
  await step(`
    INSERT INTO "HouseholdCase" ("id","workflowId","householdKey","regionCode","stage","tier","causes","headName",
      "idNumberMasked","openedAt","filedAt","endedAt","onHold","policyVersion","lastEventAt","eventSeq","facts","summary","updatedAt")
    SELECT 'case-' || i, 'household-' || i, 'k' || i, 'hl/c' || (i % 13) || '/d' || (i % 7),
           (${STAGES})[1 + i % 15],
           CASE i % 4 WHEN 0 THEN 'deep' WHEN 1 THEN 'relative' WHEN 2 THEN 'accident' END,
           ARRAY[(${CAUSES})[1 + i % 8], (${CAUSES})[1 + (i / 8) % 8]],
           '某', '230***********0000',
           now() - make_interval(days => 30 + i % 700),
           CASE WHEN i % 15 >= 6 THEN now() - make_interval(days => i % 600) END,
           CASE WHEN i % 15 >= 12 THEN now() - make_interval(days => i % 100) END,
           i % 97 = 0, '2026.1', now() - make_interval(days => i % 45), 10, '{}', '{}', now()
      FROM generate_series(1, ${N}) i`);
  // Eight tasks per case: six done (some late), two open (some overdue, some escalated).
  await step(`
    INSERT INTO "CaseTask" ("id","caseId","workflowId","type","agency","regionCode","status","assignee","createdAt","dueAt",
      "escalatedAt","context","completedAt","completedBy","updatedAt")
    SELECT 'household-' || i || '.t' || k, 'case-' || i, 'household-' || i,
           (ARRAY['intakeReview','dataComparisonCivil','dataComparisonHr','householdSurvey','collectiveDeliberation','chairSignOff','cadreVisit','referralAcceptance'])[k],
           (ARRAY['union','civil_affairs','hr','union','union','union','union','housing'])[k],
           'hl/c' || (i % 13) || '/d' || (i % 7),
           CASE WHEN k <= 6 THEN 'completed' ELSE 'open' END,
           CASE WHEN i % 5 = 0 THEN 'staff-' || (i % 50) END,
           now() - make_interval(days => 60), now() - make_interval(days => (i * k) % 60 - 30),
           CASE WHEN k > 6 AND i % 11 = 0 THEN now() - make_interval(days => 3) END,
           '{}',
           CASE WHEN k <= 6 THEN now() - make_interval(days => (i * k) % 60 - 28) END,
           CASE WHEN k <= 6 THEN 'staff' END, now()
      FROM generate_series(1, ${N}) i, generate_series(1, 8) k`);
  // The timeline: opened, four stage changes, a grant on every third case. In one statement of
  // hundreds of thousands of rows the per-row milestone trigger is the bottleneck, so the seed
  // fills milestones with the migration's own set-based backfill instead (same rows).
  await pg.query('ALTER TABLE "CaseEvent" DISABLE TRIGGER USER');
  await step(`
    INSERT INTO "CaseEvent" ("workflowId","seq","caseId","type","at","data")
    SELECT 'household-' || i, k, 'case-' || i,
           CASE WHEN k = 1 THEN 'case.opened' WHEN k = 6 THEN 'referral.granted' ELSE 'case.stage_changed' END,
           now() - make_interval(days => 300 - k * 20 - i % 40),
           CASE WHEN k = 1 THEN '{}'::jsonb
                WHEN k = 6 THEN jsonb_build_object('referralId', 'household-' || i || '.r1', 'measure',
                                  (ARRAY['public_rental_housing','medical_assistance','job_placement'])[1 + i % 3])
                ELSE jsonb_build_object('from', (ARRAY['intake','comparison','survey','deliberation'])[k - 1],
                                        'to', (ARRAY['comparison','survey','deliberation','gradual_exit'])[k - 1]) END
      FROM generate_series(1, ${N}) i, generate_series(1, 6) k
     WHERE k < 6 OR i % 3 = 0`);
  await pg.query('ALTER TABLE "CaseEvent" ENABLE TRIGGER USER');
  await step(migrationFrom('20261122020000_integrations', '-- Backfill milestones'));
  await step(`
    INSERT INTO "AidDisbursement" ("paymentId","caseId","measure","amountCents","year","approvedBy","paidAt")
    SELECT 'p-' || i || '-' || k, 'case-' || i, (ARRAY['union_living_aid','union_medical_aid','golden_autumn_education'])[k],
           500000 * (1 + i % 7), 2026, 'sup', now()
      FROM generate_series(1, ${N}, 3) i, generate_series(1, 3) k`);
  await step('ANALYZE');
  await step('SELECT monitor_rebuild_tallies()');
  await setTallyTriggers(true);
  // What autovacuum does after bulk inserts: the visibility map lets index-only scans skip the heap.
  // An autovacuum worker that began before the backfill committed holds back what VACUUM may mark
  // all-visible: wait for those to finish first.
  while ((await pg.query(busyWorkers)).rows[0].n > 0) await new Promise((r) => setTimeout(r, 200));
  await pg.query('VACUUM ANALYZE');
  const counts =
    await pg.query(`SELECT (SELECT count(*) FROM "HouseholdCase") cases, (SELECT count(*) FROM "CaseTask") tasks,
    (SELECT count(*) FROM "CaseEvent") events, (SELECT count(*) FROM "CaseMilestone") milestones,
    (SELECT count(*) FROM "AidDisbursement") payments`);
  console.log(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s:`, counts.rows[0]);
  await pg.end();
}

async function time(label: string, fn: () => Promise<unknown>): Promise<void> {
  await fn(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const pct = (p: number) => ms[Math.min(ms.length - 1, Math.ceil((p / 100) * ms.length) - 1)]!.toFixed(1);
  console.log(
    `${label.padEnd(58)} p50 ${pct(50).padStart(7)} ms   p99 ${pct(99).padStart(7)} ms   (${RUNS} runs)`,
  );
}

/** A projection flush as a workflow makes it, on case `i`: a stage change, a task done, a payment. */
async function flush(pg: PgClient, i: number): Promise<void> {
  await pg.query('BEGIN');
  await pg.query(
    `INSERT INTO "CaseEvent" ("workflowId","seq","caseId","type","at","data")
     VALUES ('household-' || $1::int, 100, 'case-' || $1::int, 'case.stage_changed', now(), '{"from":"assisting","to":"exit_review"}')`,
    [i],
  );
  await pg.query(
    `UPDATE "HouseholdCase" SET "stage" = 'exit_review', "lastEventAt" = now(), "eventSeq" = 100 WHERE "id" = 'case-' || $1::int`,
    [i],
  );
  await pg.query(
    `UPDATE "CaseTask" SET "status" = 'completed', "completedAt" = now(), "completedBy" = 'bench'
      WHERE "id" = 'household-' || $1::int || '.t7'`,
    [i],
  );
  await pg.query(
    `INSERT INTO "AidDisbursement" ("paymentId","caseId","measure","amountCents","year","approvedBy","paidAt")
     VALUES ('bench-' || $1::int, 'case-' || $1::int, 'union_living_aid', 100000, 2026, 'sup', now())`,
    [i],
  );
  await pg.query('COMMIT');
}

const load = () =>
  `load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`;

async function main() {
  console.log(`${os.cpus().length} cores, ${load()}`);
  const url = await freshDatabase('hrp_bench_monitor');
  await migrate(url);
  await seed(url);
  const db = createDb(url, 10);
  const q = (o: Record<string, string> = {}) => StuckQuerySchema.parse(o);
  const first = await stuckList(db, 'hl', q());
  console.log(`stuck items in the province: ${first.total}`);
  await time('stuck list, province (hl), first 100', () => stuckList(db, 'hl', q()));
  await time('stuck list, city (hl/c3), first 100', () => stuckList(db, 'hl/c3', q()));
  await time('stuck list, county, agency=housing, minDays=7', () =>
    stuckList(db, 'hl/c3/d3', q({ agency: 'housing', minDays: '7' })),
  );
  await time('stats, province (hl), 2026', () => programStats(db, 'hl', 2026));
  await time('stats, city (hl/c3), 2026', () => programStats(db, 'hl/c3', 2026));
  // What keeping the tallies costs a write (each run on another case).
  const pg = new PgClient({ connectionString: url });
  await pg.connect();
  let next = 1;
  await time('projection flush (stage change, task done, payment)', () => flush(pg, next++));
  for (const [table, trigger] of TALLY_TRIGGERS)
    await pg.query(`ALTER TABLE "${table}" DISABLE TRIGGER "${trigger}"`);
  await time('  the same without the tally triggers', () => flush(pg, next++));
  // Leave the database as the triggers would have: the bench's database stays for profiling.
  for (const [table, trigger] of TALLY_TRIGGERS)
    await pg.query(`ALTER TABLE "${table}" ENABLE TRIGGER "${trigger}"`);
  await pg.query('SELECT monitor_rebuild_tallies()');
  await pg.end();
  await db.$disconnect();
  console.log(load());
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
