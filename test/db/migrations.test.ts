import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, dropTestDatabase } from '../support/stack';

/**
 * schema.prisma and prisma/migrations must describe the same database. One database is built from
 * the schema (Prisma's engine diffing empty → schema), another from the committed migrations; their
 * catalogs must match table by table, column by column, index by index.
 */
const root = path.resolve(__dirname, '../..');
const tsx = (script: string, env: Record<string, string>) =>
  execFileSync(process.execPath, [require.resolve('tsx/cli'), path.join(root, script)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });

async function catalog(url: string) {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const q = async (sql: string) => (await c.query(sql)).rows.map((r) => JSON.stringify(r));
    return {
      columns: await q(`SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default
                         FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
                         ORDER BY table_name, column_name`),
      indexes: await q(`SELECT tablename, indexname, indexdef FROM pg_indexes
                         WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY indexname`),
      constraints: await q(`SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def
                             FROM pg_constraint WHERE connamespace = 'public'::regnamespace
                             AND conrelid::regclass::text <> '_prisma_migrations' ORDER BY conname`),
      enums: await q(
        `SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid ORDER BY 1, e.enumsortorder`,
      ),
    };
  } finally {
    await c.end();
  }
}

let fromMigrations: string;
let fromSchema: string;

beforeAll(async () => {
  fromMigrations = await createTestDatabase(); // cloned from the template that `npm run migrate` built
  const admin = new Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  const name = `hrp_schema_${crypto.randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(process.env.TEST_DATABASE_URL!);
  url.pathname = `/${name}`;
  fromSchema = url.toString();
  const sql = tsx('scripts/schema-sql.ts', { DATABASE_URL: fromSchema });
  const c = new Client({ connectionString: fromSchema });
  await c.connect();
  await c.query(sql);
  await c.end();
});

afterAll(async () => {
  await dropTestDatabase(fromMigrations);
  await dropTestDatabase(fromSchema);
});

test('the committed migrations build exactly the database schema.prisma describes', async () => {
  const [a, b] = await Promise.all([catalog(fromSchema), catalog(fromMigrations)]);
  expect(b.columns.length).toBeGreaterThan(10);
  expect(b).toEqual(a);
});

test("migrations are recorded in Prisma's _prisma_migrations with the file's checksum, and re-running applies nothing", async () => {
  const dir = path.join(root, 'prisma/migrations');
  const names = fs
    .readdirSync(dir)
    .filter((d) => fs.statSync(path.join(dir, d)).isDirectory())
    .sort();
  const c = new Client({ connectionString: fromMigrations });
  await c.connect();
  const rows = (
    await c.query(
      'SELECT migration_name, checksum, finished_at FROM _prisma_migrations ORDER BY migration_name',
    )
  ).rows;
  await c.end();
  expect(rows.map((r) => r.migration_name)).toEqual(names);
  for (const r of rows) {
    const sql = fs.readFileSync(path.join(dir, r.migration_name, 'migration.sql'));
    expect(r.checksum).toBe(crypto.createHash('sha256').update(sql).digest('hex'));
    expect(r.finished_at).not.toBeNull();
  }
  expect(tsx('scripts/migrate.ts', { DATABASE_URL: fromMigrations }).trim()).toBe(
    'database schema is up to date',
  );
});
