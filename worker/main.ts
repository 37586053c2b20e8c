/** `npm run worker`: the worker as its own process (production). Needs DATABASE_URL. */
import { loadConfig } from '../config';
import { createDb } from '../db/client';
import { ensureWebhookDispatcher } from '../api/integrations/dispatcher';
import { connectClient, connectWorkerConnection } from './temporal';
import { createWorker } from './worker';
import { startAuditReconciler } from './auditReconciler';
import { log, fatal } from '../api/log';

async function main() {
  const config = loadConfig();
  if (!config.DATABASE_URL)
    throw new Error('Invalid configuration: DATABASE_URL must be set for a separate worker process');
  const db = createDb(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const connection = await connectWorkerConnection(config);
  const worker = await createWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    db,
    maxConcurrentActivityTaskExecutions: config.DATABASE_POOL_SIZE,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  });
  const client = await connectClient(config);
  await ensureWebhookDispatcher(client, config.TEMPORAL_TASK_QUEUE);
  await client.connection.close();
  const reconciler = startAuditReconciler(db);
  // Worker.runUntil-style drain: the SDK shuts down on SIGINT/SIGTERM and finishes running tasks.
  log('info', 'worker started', { taskQueue: config.TEMPORAL_TASK_QUEUE });
  await worker.run();
  await reconciler.stop();
  await connection.close();
  await db.$disconnect();
  log('info', 'worker stopped');
}
main().catch(fatal);
