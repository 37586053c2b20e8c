/**
 * `npm start`: the whole platform on embedded defaults, in one command.
 *  - Temporal: `temporal server start-dev` (pinned CLI, SQLite file under DATA_DIR, web UI) unless
 *    TEMPORAL_ADDRESS is set, in which case that cluster is used.
 *  - Database: embedded PGlite under DATA_DIR unless DATABASE_URL is set; migrations applied.
 *  - Search attributes registered; worker and API started in this process.
 * Ctrl-C / SIGTERM: the API stops accepting and finishes requests, the worker drains, then the
 * database and the Temporal server stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Runtime } from '@temporalio/worker';
import { loadConfig } from '../config';
import { createApp } from '../api/app';
import { ensureWebhookDispatcher } from '../api/integrations/dispatcher';
import { fatal, log, setLogLevel } from '../api/log';
import { listen } from '../api/server';
import { createDb } from '../db/client';
import { startEmbeddedPostgres } from '../db/embedded';
import { migrate } from '../db/migrate';
import { registerSearchAttributes } from '../worker/searchAttributes';
import { connectClient, connectWorkerConnection } from '../worker/temporal';
import { createWorker } from '../worker/worker';
import { startAuditReconciler } from '../worker/auditReconciler';
import { printDemoTokens } from './demoUsers';
import { resolveTool } from './tools';

function waitForPort(host: string, port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child && child.exitCode !== null)
        return reject(new Error(`temporal server exited with code ${child.exitCode}`));
      const socket = net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 200);
      });
    };
    attempt();
  });
}

async function main() {
  const config = loadConfig();
  const embeddedTemporal =
    config.EMBEDDED_TEMPORAL === 'true' ||
    (config.EMBEDDED_TEMPORAL === 'auto' && !process.env.TEMPORAL_ADDRESS);
  setLogLevel(config.LOG_LEVEL);
  const dataDir = path.resolve(config.DATA_DIR);
  fs.mkdirSync(dataDir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];

  let temporal: ChildProcess | undefined;
  if (embeddedTemporal) {
    const [host, port] = config.TEMPORAL_ADDRESS.split(':') as [string, string];
    const bin = resolveTool('temporal');
    temporal = spawn(
      bin,
      [
        'server',
        'start-dev',
        '--ip',
        host,
        '--port',
        port,
        '--ui-port',
        String(config.TEMPORAL_UI_PORT),
        '--namespace',
        config.TEMPORAL_NAMESPACE,
        '--db-filename',
        path.join(dataDir, 'temporal.db'),
        '--sqlite-pragma',
        'journal_mode=WAL',
        '--sqlite-pragma',
        'synchronous=NORMAL',
        '--log-level',
        'error',
      ],
      // Own process group: a terminal's Ctrl-C reaches only us, and we stop the server last,
      // after the worker has drained.
      { stdio: ['ignore', 'inherit', 'inherit'], detached: true },
    );
    await waitForPort(host, Number(port), 30_000, temporal);
    log('info', 'temporal dev server up', {
      address: config.TEMPORAL_ADDRESS,
      ui: `http://${host}:${config.TEMPORAL_UI_PORT}`,
    });
  }

  let databaseUrl = config.DATABASE_URL;
  let poolSize = config.DATABASE_POOL_SIZE;
  if (!databaseUrl) {
    const pg = await startEmbeddedPostgres(dataDir, config.EMBEDDED_PG_PORT);
    stops.push(pg.stop);
    databaseUrl = pg.url;
    poolSize = 1; // PGlite executes one query at a time
    log('info', 'embedded PGlite up', {
      dataDir: path.join(dataDir, 'pglite'),
      port: config.EMBEDDED_PG_PORT,
    });
  }
  const applied = await migrate(databaseUrl);
  log('info', applied.length ? 'migrations applied' : 'database schema up to date', { applied });

  const db = createDb(databaseUrl, poolSize);
  const client = await connectClient(config);
  const registered = await registerSearchAttributes(client.connection, config.TEMPORAL_NAMESPACE);
  if (registered.length) log('info', 'search attributes registered', { registered });

  // The SDK's own SIGINT handling would stop the worker before the API; we order shutdown ourselves.
  Runtime.install({ shutdownSignals: [] });
  const workerConnection = await connectWorkerConnection(config);
  const worker = await createWorker({
    connection: workerConnection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    db,
    maxConcurrentActivityTaskExecutions: poolSize,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  });
  const workerRun = worker.run();
  await ensureWebhookDispatcher(client, config.TEMPORAL_TASK_QUEUE);
  const reconciler = startAuditReconciler(db);
  const server = await listen(createApp({ config, db, client }), config.PORT);
  log('info', 'platform ready', {
    api: `http://127.0.0.1:${server.port}`,
    readyz: `http://127.0.0.1:${server.port}/readyz`,
  });
  printDemoTokens(config.JWT_SECRET);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'shutting down', { signal });
    await server.close();
    worker.shutdown();
    await workerRun;
    await reconciler.stop();
    await workerConnection.close();
    await client.connection.close();
    await db.$disconnect();
    for (const stop of stops.reverse()) await stop();
    if (temporal && temporal.exitCode === null) {
      const exited = new Promise((r) => temporal!.once('exit', r));
      temporal.kill('SIGTERM');
      await exited;
    }
    log('info', 'stopped');
    process.exit(0);
  };
  // `on`, not `once`: a terminal's Ctrl-C reaches the whole process group, and npm relays it
  // too, so the signal arrives more than once; a second one must not kill the process mid-shutdown
  // (the detached Temporal server would be left running).
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch(fatal);
