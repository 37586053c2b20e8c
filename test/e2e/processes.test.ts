import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { signToken } from '../../api/auth';
import { demoUsers } from '../../scripts/demoUsers';
import { createTestDatabase, dropTestDatabase, eventually } from '../support/stack';

/**
 * The platform as users run it: `npm start` (embedded Temporal dev server + PGlite) and the
 * production split (`npm run worker` + `npm run api`), as real processes stopped by signals.
 */
const root = path.resolve(__dirname, '../..');

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

/**
 * A script as package.json runs the long-lived processes: node with tsx's loader, not tsx's CLI,
 * whose signal relay SIGKILLs a child that does not acknowledge a signal within 30 ms (a busy
 * machine) and so cut shutdowns short. With `npm: true`, the package.json script of that name.
 */
function run(script: string, env: Record<string, string>, opts: { npm?: boolean } = {}): Proc {
  let out = '';
  const clean = { ...process.env };
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'PORT']) delete clean[k];
  const [cmd, args] = opts.npm
    ? ['npm', ['run', '--silent', script]]
    : [process.execPath, ['--import', 'tsx', path.join(root, script)]];
  const child = spawn(cmd, args, {
    cwd: root,
    // Its own process group, so a test can press Ctrl-C the way a terminal does (see `stop`).
    detached: true,
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

/** SIGINT to every process of the group, as a terminal sends it; none left is no error. */
function ctrlC(proc: Proc): void {
  try {
    process.kill(-proc.child.pid!, 'SIGINT');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** SIGTERM to the process; SIGINT as a terminal's Ctrl-C sends it: to every process of the group. */
async function stop(proc: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (signal === 'SIGINT') ctrlC(proc);
  else proc.child.kill(signal);
  return proc.exited;
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

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

    // As a user runs it: `npm start`, so Ctrl-C reaches npm and the platform.
    const second = run('start', env, { npm: true });
    await waitReady(port, second);
    const read = await fetch(`http://127.0.0.1:${port}/v1/cases/${caseId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { stage: string }).stage).toBe('intake');
    // Ctrl-C reaches the whole group, and npm relays it again: a second SIGINT arrives
    // mid-shutdown (here, as a second Ctrl-C). npm itself
    // ends by the signal, as after any Ctrl-C (a shell shows 130); the platform under it must still
    // finish its shutdown, Temporal server included.
    ctrlC(second);
    await eventually(async () => second.out().includes('"msg":"shutting down"'), 30_000);
    ctrlC(second);
    await eventually(async () => second.out().includes('"msg":"stopped"'), 30_000);
    await eventually(async () => !(await listening(temporalPort)), 30_000);
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
    expect(await stop(api, 'SIGINT')).toBe(0);
    expect(await stop(worker, 'SIGINT')).toBe(0);
    await dropTestDatabase(databaseUrl);
  }
});
