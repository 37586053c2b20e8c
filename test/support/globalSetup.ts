import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { resolveTool } from '../../scripts/tools';

/**
 * Once per jest run: a real Temporal dev server (in memory, with the platform's search attributes)
 * and a migrated template database on the real PostgreSQL that scripts/test.sh provides. Each
 * suite then clones the template (test/support/stack.ts).
 */
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => (s.destroy(), r(false)));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`Temporal dev server did not listen on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One template per jest run, so concurrent runs on the same server never drop each other's. */
export function templateDb(): string {
  return process.env.HRP_TEMPLATE_DB ?? 'hrp_template';
}

export default async function globalSetup(): Promise<void> {
  const baseUrl = process.env.TEST_DATABASE_URL;
  if (!baseUrl)
    throw new Error('TEST_DATABASE_URL is not set: run the suite with `npm test` (scripts/test.sh)');

  // Template database, migrated once through the same migrate script the platform uses.
  process.env.HRP_TEMPLATE_DB = `hrp_template_${process.pid}`;
  const TEMPLATE_DB = templateDb();
  const admin = new PgClient({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await admin.end();
  const templateUrl = new URL(baseUrl);
  templateUrl.pathname = `/${TEMPLATE_DB}`;
  execFileSync(
    process.execPath,
    [require.resolve('tsx/cli'), path.resolve(__dirname, '../../scripts/migrate.ts')],
    {
      env: { ...process.env, DATABASE_URL: templateUrl.toString() },
      stdio: 'pipe',
    },
  );

  const port = await freePort();
  const server = spawn(
    resolveTool('temporal'),
    [
      'server',
      'start-dev',
      '--headless',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--log-level',
      'error',
      '--search-attribute',
      'CaseStage=Keyword',
      '--search-attribute',
      'RegionCode=Keyword',
      '--search-attribute',
      'HouseholdKey=Keyword',
    ],
    // Not detached: if jest is interrupted, the server goes down with it.
    { stdio: 'ignore' },
  );
  (globalThis as { __temporalDev?: typeof server }).__temporalDev = server;
  await waitForPort(port, 30_000);
  process.env.TEMPORAL_TEST_ADDRESS = `127.0.0.1:${port}`;
}
