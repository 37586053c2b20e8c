import type { ChildProcess } from 'node:child_process';
import { Client } from 'pg';
import { templateDb } from './globalSetup';

export default async function globalTeardown(): Promise<void> {
  if (process.env.TEST_DATABASE_URL && process.env.HRP_TEMPLATE_DB) {
    const admin = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${templateDb()} WITH (FORCE)`);
    await admin.end();
  }
  const server = (globalThis as { __temporalDev?: ChildProcess }).__temporalDev;
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
}
