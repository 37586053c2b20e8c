import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { createDb, type Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';

/**
 * A migrated database whose collation is not C (ICU's root locale, as a production cluster
 * initialised with en_US or zh_CN would be), for checking that the queries' indexes serve them
 * there too. Drop it with `dropTestDatabase(url)`.
 */
export async function createIcuDatabase(): Promise<{ url: string; db: Db }> {
  const admin = new Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  const name = `hrp_icu_${crypto.randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und'`);
  await admin.end();
  const u = new URL(process.env.TEST_DATABASE_URL!);
  u.pathname = `/${name}`;
  const url = u.toString();
  // The migration engine is ESM + WASM, which jest's CommonJS runtime cannot load: run the command.
  execFileSync(
    process.execPath,
    [require.resolve('tsx/cli'), path.resolve(__dirname, '../../scripts/migrate.ts')],
    { env: { ...process.env, DATABASE_URL: url } },
  );
  return { url, db: createDb(url, 2) };
}

/** The database's collation provider and ICU locale. */
export async function collationOf(db: Db): Promise<{ provider: string; locale: string }> {
  const [row] = await db.$queryRaw<Array<{ provider: string; locale: string }>>`
    SELECT datlocprovider::text AS provider, daticulocale AS locale FROM pg_database WHERE datname = current_database()`;
  return row!;
}

/**
 * The plan of a query with sequential scans disabled: what is asserted is that an index *can* serve
 * it; which plan wins at a given size is a benchmark's business.
 */
export async function planOf(db: Db, sql: Prisma.Sql): Promise<string> {
  const [, rows] = await db.$transaction([
    db.$executeRaw`SET LOCAL enable_seqscan = off`,
    db.$queryRaw<Array<{ 'QUERY PLAN': string }>>(Prisma.sql`EXPLAIN ${sql}`),
  ]);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}
