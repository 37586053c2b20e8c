/**
 * Times a 10k-row bulk referral import end to end: upload (parse + validate + store), then the
 * durable import workflow starting one case per row on a local Temporal dev server.
 *   export "$(bash scripts/ensure-postgres.sh)"; npx tsx scripts/bench/import.ts [rows=10000]
 * Everything runs on 127.0.0.1: a fresh database on TEST_DATABASE_URL, a dev server, a worker, the API.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { cpus } from 'node:os';
import { Client as PgClient } from 'pg';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createApp } from '../../api/app';
import { createApiKey } from '../../api/auth';
import { setLogLevel } from '../../api/log';
import { listen } from '../../api/server';
import { loadConfig } from '../../config';
import { createDb } from '../../db/client';
import { migrate } from '../../db/migrate';
import { createWorker } from '../../worker/worker';
import { resolveTool } from '../tools';

const ROWS = Number(process.argv[2] ?? 10_000);

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });

async function main() {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  const admin = new PgClient({ connectionString: base });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS hrp_bench_import WITH (FORCE)');
  await admin.query('CREATE DATABASE hrp_bench_import');
  await admin.end();
  const url = new URL(base);
  url.pathname = '/hrp_bench_import';
  await migrate(url.toString());

  const port = await freePort();
  const temporal = spawn(
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
    { stdio: 'ignore' },
  );
  try {
    let connection: Connection | undefined;
    for (let i = 0; !connection; i++) {
      connection = await Connection.connect({ address: `127.0.0.1:${port}` }).catch(async (e) => {
        if (i > 60) throw e;
        await new Promise((r) => setTimeout(r, 500));
        return undefined;
      });
    }
    const config = loadConfig({
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      DATABASE_URL: url.toString(),
      TEMPORAL_TASK_QUEUE: 'bench',
      LOG_LEVEL: 'error',
      ...(process.env.WORKER_MAX_CACHED_WORKFLOWS
        ? { WORKER_MAX_CACHED_WORKFLOWS: process.env.WORKER_MAX_CACHED_WORKFLOWS }
        : {}),
    });
    setLogLevel('error'); // one JSON line per progress poll would drown the figures
    const db = createDb(url.toString(), 20);
    const worker = await createWorker({
      connection: await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }),
      namespace: 'default',
      taskQueue: 'bench',
      db,
      maxConcurrentActivityTaskExecutions: 20,
      maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    });
    const running = worker.run();
    const server = await listen(
      createApp({
        config,
        db,
        client: new Client({ connection }),
        rateLimit: { capacity: 1e6, refillPerSecond: 1e6 },
      }),
      0,
      '127.0.0.1',
    );
    const { key } = await createApiKey(db, { name: 'bench', agency: 'union', region: 'hl', roles: [] });

    console.log(
      `${cpus().length} cores; worker cache ${config.WORKER_MAX_CACHED_WORKFLOWS} workflow runs (WORKER_MAX_CACHED_WORKFLOWS)`,
    );
    const lines = ['idNumber,headName,regionCode,phone,source,referrer,externalRef'];
    for (let i = 1; i <= ROWS; i++)
      lines.push(
        `2301021980${String(i).padStart(7, '0')}X,户主${i},hl/c${i % 13}/d${i % 7},139${String(i).padStart(8, '0')},enterprise_union,bench,B-${i}`,
      );
    const file = lines.join('\n');
    const headers = { authorization: `ApiKey ${key}`, 'content-type': 'text/csv' };
    const t0 = Date.now();
    const res = await fetch(`http://127.0.0.1:${server.port}/v1/imports`, {
      method: 'POST',
      headers,
      body: file,
    });
    const job = (await res.json()) as { id: string; validRows: number };
    const tUpload = Date.now() - t0;
    console.log(
      `upload: HTTP ${res.status}, ${job.validRows} valid rows, parsed+validated+stored in ${tUpload} ms (${Math.round((ROWS / tUpload) * 1000)} rows/s)`,
    );
    let last = -1;
    let done: { startedCases: number; joinedCases: number; failedRows: number } | undefined;
    for (;;) {
      const r = (await (
        await fetch(`http://127.0.0.1:${server.port}/v1/imports/${job.id}`, { headers })
      ).json()) as {
        status: string;
        processedRows: number;
        startedCases: number;
        joinedCases: number;
        failedRows: number;
      };
      if (r.processedRows !== last)
        console.log(`  +${((Date.now() - t0) / 1000).toFixed(1)} s: ${r.processedRows} rows processed`);
      last = r.processedRows;
      if (r.status === 'completed') {
        done = r;
        break;
      }
      await new Promise((rr) => setTimeout(rr, 2000));
    }
    const total = Date.now() - t0;
    console.log(
      `import of ${ROWS} rows: ${(total / 1000).toFixed(1)} s end to end = ${Math.round((ROWS / total) * 1000)} rows/s ` +
        `(job: ${done!.startedCases} started, ${done!.joinedCases} joined, ${done!.failedRows} failed; cases in the read model: ${await db.householdCase.count()})`,
    );
    // A fast run that failed its rows measures nothing: say so and fail.
    if (done!.failedRows > 0) process.exitCode = 1;
    const again = await fetch(`http://127.0.0.1:${server.port}/v1/imports`, {
      method: 'POST',
      headers,
      body: file,
    });
    console.log(`re-upload: HTTP ${again.status} (duplicate), cases now ${await db.householdCase.count()}`);
    await server.close();
    worker.shutdown();
    await running;
    await db.$disconnect();
    await connection.close();
  } finally {
    temporal.kill('SIGTERM');
  }
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
