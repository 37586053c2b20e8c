import crypto from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import { createApp } from '../../api/app';
import { signToken, type Claims } from '../../api/auth';
import type { Resolver } from '../../api/integrations/targets';
import type { ImportOptions } from '../../activities/imports';
import { setLogLevel } from '../../api/log';
import { listen, type RunningServer } from '../../api/server';
import { loadConfig, type Config } from '../../config';
import { createDb, type Db } from '../../db/client';
import { createWorker } from '../../worker/worker';
import { templateDb } from './globalSetup';
import { quietTemporalRuntime } from './quietRuntime';

/**
 * The real stack for one test suite: its own PostgreSQL database (cloned from the migrated
 * template), a worker on its own task queue against the real Temporal dev server, and the API on a
 * real HTTP port.
 */
export interface Stack {
  config: Config;
  db: Db;
  client: Client;
  worker: Worker;
  server: RunningServer;
  baseUrl: string;
  databaseUrl: string;
  token(claims: Omit<Claims, 'exp'>): string;
  http(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

export async function createTestDatabase(): Promise<string> {
  const base = process.env.TEST_DATABASE_URL!;
  const name = `hrp_test_${crypto.randomBytes(6).toString('hex')}`;
  const admin = new PgClient({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} TEMPLATE ${templateDb()}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * For a test file of its own database: a fresh copy of the template before its tests, handed to
 * `use` with a client of `poolSize` connections; disconnected and dropped after them.
 */
export function useTestDatabase(poolSize: number, use: (db: Db) => void): void {
  let url: string;
  let db: Db;
  beforeAll(async () => {
    url = await createTestDatabase();
    db = createDb(url, poolSize);
    use(db);
  });
  afterAll(async () => {
    await db.$disconnect();
    await dropTestDatabase(url);
  });
}

export async function dropTestDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new PgClient({ connectionString: process.env.TEST_DATABASE_URL! });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

export async function startStack(
  overrides: Record<string, string> = {},
  deps: { resolve?: Resolver; imports?: ImportOptions; batchItemWaitMs?: number } = {},
): Promise<Stack> {
  setLogLevel('warn'); // request logs would drown the test report
  quietTemporalRuntime();
  const databaseUrl = await createTestDatabase();
  const taskQueue = `test-${crypto.randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS,
    TEMPORAL_TASK_QUEUE: taskQueue,
    DATABASE_URL: databaseUrl,
    PORT: '0',
    LOG_LEVEL: 'warn',
    ...overrides,
  });
  const db = createDb(databaseUrl, 10);
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const workerConnection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createWorker({
    connection: workerConnection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    db,
    resolve: deps.resolve,
    imports: deps.imports,
  });
  const workerRun = worker.run();
  const server = await listen(
    createApp({ config, db, client, resolve: deps.resolve, batchItemWaitMs: deps.batchItemWaitMs }),
    0,
    '127.0.0.1',
  );
  const baseUrl = `http://127.0.0.1:${server.port}`;
  return {
    config,
    db,
    client,
    worker,
    server,
    baseUrl,
    databaseUrl,
    token: (claims) => signToken(claims, config.JWT_SECRET),
    async http(method, path, opts = {}) {
      const res = await fetch(baseUrl + path, {
        method,
        headers: {
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...opts.headers,
        },
        body:
          opts.body === undefined
            ? undefined
            : typeof opts.body === 'string'
              ? opts.body
              : JSON.stringify(opts.body),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, body, headers: res.headers };
    },
    async stop() {
      await server.close();
      worker.shutdown();
      await workerRun;
      await workerConnection.close();
      await connection.close();
      await db.$disconnect();
      await dropTestDatabase(databaseUrl);
    },
  };
}

/** Polls until `fn` returns a truthy value (the projection is written just after an Update returns). */
export async function eventually<T>(
  fn: () => Promise<T | undefined | null | false>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
