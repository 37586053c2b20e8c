import { inboxCountSql, inboxPageSql, type InboxFilter } from '../../api/inbox';
import type { Db } from '../../db/client';
import type { Prisma } from '../../generated/prisma/client';
import { collationOf, createIcuDatabase, planOf } from '../support/icuDatabase';
import { dropTestDatabase } from '../support/stack';

/**
 * The inbox's SQL can use its indexes in a database whose collation is not C (here ICU's root
 * locale, as a production cluster initialised with en_US or zh_CN would be): a late page seeks to
 * its cursor in (agency, status, dueAt, id), and the region-prefix filter is an index range.
 * Plans are read with sequential scans disabled, so what is asserted is that the index *can* serve
 * the query; which plan wins at a given size is the benchmark's business (scripts/bench/inbox.ts).
 */
let url: string;
let db: Db;

beforeAll(async () => {
  ({ url, db } = await createIcuDatabase());
  // 20k tasks over three agencies, two cities of ten counties with streets below, two statuses.
  await db.$executeRawUnsafe(`
    INSERT INTO "CaseTask" ("id","caseId","workflowId","type","agency","regionCode","status","createdAt","dueAt","context","updatedAt")
    SELECT 't' || g, 'c' || g, 'w' || g, 'cadreVisit', (ARRAY['union','hr','housing'])[g % 3 + 1],
      'hl/' || (ARRAY['harbin','qiqihar'])[g % 2 + 1] || '/county-' || (g % 10) || '/street-' || (g % 7),
      (ARRAY['open','completed'])[g / 7 % 2 + 1], now(), now() + (g % 500) * interval '1 hour', '{}', now()
    FROM generate_series(1, 20000) g`);
  await db.$executeRawUnsafe('ANALYZE "CaseTask"');
});
afterAll(async () => {
  await db?.$disconnect();
  if (url) await dropTestDatabase(url);
});

const plan = (sql: Prisma.Sql) => planOf(db, sql);

const filter = (region: string): InboxFilter => ({ agency: 'hr', status: 'open', region, now: new Date() });

test('the database under test does not use the C collation', async () => {
  expect(await collationOf(db)).toEqual({ provider: 'i', locale: 'und' });
});

test('a late page seeks to its cursor in (agency, status, dueAt, id) with a row comparison', async () => {
  const cursor = { dueAt: new Date(Date.now() + 300 * 3600_000), id: 't12345' };
  const p = await plan(inboxPageSql(filter('hl/harbin'), cursor, 51));
  expect(p).toMatch(/Index Scan using "CaseTask_agency_status_dueAt_id_idx"/);
  expect(p).toMatch(/Index Cond: .*ROW\("dueAt", id\) > ROW\(/);
  expect(p).not.toMatch(/Sort/);
});

test('the region-prefix filter is an index range under a non-C collation', async () => {
  const p = await plan(inboxCountSql(filter('hl/harbin/county-4')));
  expect(p).toMatch(
    /Index Cond: .*"regionCode" ~>=~ 'hl\/harbin\/county-4\/'::text\) AND \("regionCode" ~<~ 'hl\/harbin\/county-40'::text\)/,
  );
});

test('the page and count answer the same rows as a plain scan would (collation-independent prefix)', async () => {
  const region = 'hl/harbin/county-4';
  const [{ n }] = (await db.$queryRaw(inboxCountSql(filter(region)))) as [{ n: number }];
  const [{ expected }] = await db.$queryRaw<[{ expected: number }]>`
    SELECT count(*)::int AS expected FROM "CaseTask"
     WHERE "agency" = 'hr' AND "status" = 'open'
       AND split_part("regionCode", '/', 2) = 'harbin' AND split_part("regionCode", '/', 3) = 'county-4'`;
  expect(n).toBe(expected);
  expect(n).toBeGreaterThan(0);
});
