import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { ImportOptions } from '../activities/imports';
import type { Resolver } from '../api/integrations/targets';
import type { Db } from '../db/client';

/** A worker for the household-case task queue; workflows are bundled from `workflows/index.ts`. */
export async function createWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  db: Db;
  maxConcurrentActivityTaskExecutions?: number;
  maxCachedWorkflows?: number;
  /** DNS for webhook targets (tests play a changing answer); the system resolver by default. */
  resolve?: Resolver;
  imports?: ImportOptions;
}): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities({ db: opts.db, resolve: opts.resolve, imports: opts.imports }),
    // Size activity concurrency to the database pool (TEMPORAL-NOTES trap 8).
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 10,
    // The SDK's default scales with the heap (thousands of runs); see config WORKER_MAX_CACHED_WORKFLOWS.
    maxCachedWorkflows: opts.maxCachedWorkflows ?? 500,
  });
}
