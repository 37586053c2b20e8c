import { inRegion } from '../../api/monitor/sql';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { collationOf, createIcuDatabase, planOf } from '../support/icuDatabase';
import { dropTestDatabase } from '../support/stack';

/**
 * Every region-subtree filter outside the inbox (`inRegion`: the monitor's figures, drill-downs and
 * stuck list, the referral feed; the API-key list's equivalent) is an index range in a database
 * whose collation is not C. A plain btree serves `LIKE 'r/%'` only under C; each column has a
 * text_pattern_ops index for it (the inbox's own is checked in inbox-index.test.ts).
 */
let url: string;
let db: Db;
const REGION = 'hl/harbin/county-4';

beforeAll(async () => {
  ({ url, db } = await createIcuDatabase());
  // 20k cases and tasks, 2k keys, over two cities of ten counties with streets below.
  const region = `'hl/' || (ARRAY['harbin','qiqihar'])[g % 2 + 1] || '/county-' || (g % 10) || '/street-' || (g % 7)`;
  await db.$executeRawUnsafe(`
    INSERT INTO "HouseholdCase" ("id","workflowId","householdKey","regionCode","stage","causes","headName",
      "idNumberMasked","openedAt","policyVersion","lastEventAt","eventSeq","facts","summary","updatedAt")
    SELECT 'c' || g, 'w' || g, 'k' || g, ${region}, (ARRAY['intake','assisting','closed'])[g % 3 + 1], '{}',
      '某', '230***********0001', now(), '2026.1', now(), 1, '{}', '{}', now()
    FROM generate_series(1, 20000) g`);
  await db.$executeRawUnsafe(`
    INSERT INTO "CaseTask" ("id","caseId","workflowId","type","agency","regionCode","status","createdAt","dueAt","context","updatedAt")
    SELECT 't' || g, 'c' || g, 'w' || g, 'cadreVisit', (ARRAY['union','hr','housing'])[g % 3 + 1], ${region},
      (ARRAY['open','completed'])[g / 7 % 2 + 1], now(), now() + (g % 500 - 250) * interval '1 hour', '{}', now()
    FROM generate_series(1, 20000) g`);
  await db.$executeRawUnsafe(`
    INSERT INTO "ApiKey" ("id","name","agency","region","roles","hash","createdBy")
    SELECT 'k' || g, 'system', 'hr', ${region}, '{staff}', md5(g::text), 'seed' FROM generate_series(1, 2000) g`);
  await db.$executeRawUnsafe('ANALYZE');
});
afterAll(async () => {
  await db?.$disconnect();
  if (url) await dropTestDatabase(url);
});

/** The range a text_pattern_ops index turns `LIKE 'r/%'` into on `col`: from 'r/' up to 'r0' ('/' + 1). */
const prefixRange = (col: string) =>
  new RegExp(`Index Cond: .*${col}"? ~>=~ '${REGION}/'::text\\) AND \\(.*${col}"? ~<~ '${REGION}0'::text\\)`);
const subtree = (table: string, col: string, extra = Prisma.empty) =>
  Prisma.sql`SELECT count(*) FROM ${Prisma.raw(`"${table}"`)} x
    WHERE ${inRegion(Prisma.raw(`x."${col}"`), REGION)} ${extra}`;

test('the database under test does not use the C collation', async () => {
  expect(await collationOf(db)).toEqual({ provider: 'i', locale: 'und' });
});

test.each([
  ['HouseholdCase', 'regionCode', 'HouseholdCase_regionCode_prefix_stage_idx'],
  ['CaseTask', 'regionCode', 'CaseTask_regionCode_prefix_status_dueAt_idx'],
  ['ApiKey', 'region', 'ApiKey_region_prefix_idx'],
])('%s.%s in a region subtree is an index range', async (table, col, index) => {
  const p = await planOf(db, subtree(table, col));
  expect(p).toContain(`"${index}"`);
  expect(p).toMatch(prefixRange(col));
});

test('a stuck-list shape (open tasks of any agency past due in a subtree) is one range over region, status and due time', async () => {
  const p = await planOf(
    db,
    subtree('CaseTask', 'regionCode', Prisma.sql`AND x."status" = 'open' AND x."dueAt" < now()`),
  );
  expect(p).toContain('"CaseTask_regionCode_prefix_status_dueAt_idx"');
  expect(p).toMatch(/Index Cond: .*status = 'open'::text\) AND \("dueAt" < now\(\)\)/);
});

test('the subtree holds the same cases as comparing the path segments would (collation-independent)', async () => {
  const [{ count }] = await db.$queryRaw<[{ count: bigint }]>(subtree('HouseholdCase', 'regionCode'));
  const [{ expected }] = await db.$queryRaw<[{ expected: bigint }]>`
    SELECT count(*) AS expected FROM "HouseholdCase"
     WHERE split_part("regionCode", '/', 2) = 'harbin' AND split_part("regionCode", '/', 3) = 'county-4'`;
  expect(count).toBe(expected);
  expect(count).toBeGreaterThan(0n);
});
