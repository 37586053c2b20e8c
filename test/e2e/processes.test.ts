import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { signToken } from '../../api/auth';
import { demoUsers } from '../../scripts/demoUsers';
import { createTestDatabase, dropTestDatabase } from '../support/stack';

/**
 * The platform as users run it: `npm start` (embedded Temporal dev server + PGlite) and the
 * production split (`npm run worker` + `npm run api`), as real processes stopped by signals.
 */
const root = path.resolve(__dirname, '../..');
const tsx = require.resolve('tsx/cli');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function run(script: string, env: Record<string, string>): Proc {
  let out = '';
  const clean = { ...process.env };
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'PORT']) delete clean[k];
  const child = spawn(process.execPath, [tsx, path.join(root, script)], {
    cwd: root,
    env: { ...clean, LOG_LEVEL: 'info', ...env },
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}

async function waitReady(port: number, proc: Proc, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`exited early:\n${proc.out()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`not ready in ${ms} ms:\n${proc.out().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function stop(proc: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  proc.child.kill(signal);
  return proc.exited;
}

const household = { idNumber: '23010219750505432X', headName: '王建国', regionCode: 'hl/harbin/daoli' };
const referral = { source: 'self_application', referrer: 'online application' };

test('npm start: embedded platform up, SIGTERM stops it cleanly, a restart keeps the case', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hrp-start-'));
  const [port, temporalPort, uiPort, pgPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const env = {
    DATA_DIR: dataDir,
    PORT: String(port),
    EMBEDDED_TEMPORAL: 'true',
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TEMPORAL_UI_PORT: String(uiPort),
    EMBEDDED_PG_PORT: String(pgPort),
  };
  try {
    const first = run('scripts/start.ts', env);
    await waitReady(port, first);
    const token = /export TOKEN_UNION_STAFF=(\S+)/.exec(first.out())?.[1];
    expect(token).toBeDefined();
    const ready = await (await fetch(`http://127.0.0.1:${port}/readyz`)).json();
    expect(ready).toEqual({ status: 'ready', temporal: 'ok', database: 'ok' });
    const res = await fetch(`http://127.0.0.1:${port}/v1/referrals`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ household, referral }),
    });
    expect(res.status).toBe(201);
    const { caseId } = (await res.json()) as { caseId: string };
    expect(await stop(first)).toBe(0);
    expect(first.out()).toContain('"msg":"stopped"');
    expect(fs.existsSync(path.join(dataDir, 'temporal.db-wal'))).toBe(true);

    const second = run('scripts/start.ts', env);
    await waitReady(port, second);
    const read = await fetch(`http://127.0.0.1:${port}/v1/cases/${caseId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { stage: string }).stage).toBe('intake');
    expect(await stop(second, 'SIGINT')).toBe(0);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a bad setting stops start-up with one line naming the variable and the rule', async () => {
  const proc = run('scripts/start.ts', { PORT: '70000' });
  expect(await proc.exited).toBe(1);
  expect(
    proc
      .out()
      .trim()
      .split('\n')
      .filter((l) => !l.includes('npm warn')),
  ).toEqual(['Invalid configuration: PORT Too big: expected number to be <=65535 (got "70000")']);
});

test('production split: worker and API as separate processes against PostgreSQL and Temporal', async () => {
  const databaseUrl = await createTestDatabase();
  const port = await freePort();
  const env = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS!,
    TEMPORAL_TASK_QUEUE: `split-${port}`,
    PORT: String(port),
  };
  const worker = run('worker/main.ts', env);
  const api = run('api/main.ts', env);
  try {
    await waitReady(port, api);
    const token = signToken(demoUsers[0]!, 'dev-only-jwt-secret-change-me');
    const res = await fetch(`http://127.0.0.1:${port}/v1/referrals`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ household: { ...household, idNumber: '230102197505054321' }, referral }),
    });
    expect(res.status).toBe(201);
    const { caseId } = (await res.json()) as { caseId: string };
    const read = await fetch(`http://127.0.0.1:${port}/v1/cases/${caseId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(
      ((await read.json()) as { openTasks: Array<{ type: string }> }).openTasks.map((t) => t.type),
    ).toEqual(['intakeReview']);
    // The worker settles audit attempts left open, on its own timer.
    expect(worker.out()).toContain('"msg":"audit reconciler started"');
  } finally {
    expect(await stop(api)).toBe(0);
    expect(await stop(worker)).toBe(0);
    await dropTestDatabase(databaseUrl);
  }
});
