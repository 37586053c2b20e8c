import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import { cnMainlandCalendar } from '../domain/calendar/cn-mainland';
import type { Household, Referral } from '../domain/journey/state';
import { currentPolicyVersion, policies } from '../domain/policy';
import { act, householdCase } from '../workflows/householdCase';

export interface ImportRowInput {
  household: Household;
  referral: Referral;
}

const CHUNK = 200;

export interface ImportOptions {
  /** Rows in flight at once (each starts or joins a case). */
  concurrency?: number;
  /** How often the job's counters are recounted while it runs. */
  progressEveryMs?: number;
}

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * Recounts a job's progress every `everyMs` while it runs. `stop()` waits for a recount in flight,
 * so none lands after (and overwrites) the final count.
 */
function progressTicker(db: Db, jobId: string, everyMs: number, heartbeat: () => void) {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    heartbeat();
    running = running.then(() => refreshCounters(db, jobId)).catch(() => undefined);
  }, everyMs);
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}

export function createImportActivities(db: Db, opts: ImportOptions = {}) {
  const concurrency = opts.concurrency ?? 16;
  const progressEveryMs = opts.progressEveryMs ?? 2000;
  return {
    /**
     * Starts or joins a case for every pending row of a job. Re-runnable: a row is pending until its
     * case answered, and each row's Update carries a stable ID (`import:<job>:<row>`), so a retry
     * after a crash returns the first answer instead of adding the referral twice.
     */
    async runImport(input: { jobId: string }): Promise<{ processed: number }> {
      const ctx = Context.current();
      const client = ctx.client;
      const job = await db.importJob.findUniqueOrThrow({ where: { id: input.jobId } });
      await db.importJob.update({ where: { id: job.id }, data: { status: 'running' } });
      const actor = { id: job.owner, agency: job.agency, roles: [], region: job.region };
      const policy = policies[currentPolicyVersion]!;
      let processed = 0;
      const ticker = progressTicker(db, job.id, progressEveryMs, () => ctx.heartbeat(processed));
      try {
        for (;;) {
          ctx.heartbeat(processed);
          const rows = await db.importRow.findMany({
            where: { jobId: job.id, status: 'pending' },
            orderBy: { rowNo: 'asc' },
            take: CHUNK,
          });
          if (!rows.length) break;
          await pool(rows, concurrency, async (row) => {
            // Worker shutdown or a cancelled job: stop here; the rows left pending resume on retry.
            if (ctx.cancellationSignal.aborted) throw new Error('import activity cancelled');
            const { household, referral } = row.input as unknown as ImportRowInput;
            try {
              const view = await client.workflow.executeUpdateWithStart(act, {
                updateId: `import:${job.id}:${row.rowNo}`,
                args: [{ actor, command: { action: 'addReferral', referral } }],
                startWorkflowOperation: new WithStartWorkflowOperation(householdCase, {
                  workflowId: `household-${row.householdKey}`,
                  taskQueue: ctx.info.taskQueue,
                  workflowIdConflictPolicy: 'USE_EXISTING',
                  args: [
                    {
                      start: {
                        household,
                        householdKey: row.householdKey!,
                        referral,
                        policy,
                        calendar: cnMainlandCalendar,
                      },
                    },
                  ],
                }),
              });
              await db.importRow.update({
                where: { jobId_rowNo: { jobId: job.id, rowNo: row.rowNo } },
                // The household's details are no longer needed here once the case holds them.
                data: {
                  status: view.referral ?? 'joined',
                  caseId: view.caseId,
                  input: Prisma.DbNull,
                },
              });
            } catch (err) {
              // A business refusal fails the row; anything else (Temporal unreachable) retries the chunk.
              if (!(err instanceof WorkflowUpdateFailedError)) throw err;
              await db.importRow.update({
                where: { jobId_rowNo: { jobId: job.id, rowNo: row.rowNo } },
                data: { status: 'failed', error: (err.cause?.message ?? err.message).slice(0, 500) },
              });
            }
          });
          processed += rows.length;
        }
      } finally {
        await ticker.stop();
      }
      await refreshCounters(db, job.id, true);
      return { processed };
    },
  };
}

/** Progress is recounted from the rows, so a retried chunk never double-counts. */
async function refreshCounters(db: Db, jobId: string, finished = false): Promise<void> {
  const counts = await db.importRow.groupBy({ by: ['status'], where: { jobId }, _count: { _all: true } });
  const n = (s: string) => counts.find((c) => c.status === s)?._count._all ?? 0;
  await db.importJob.update({
    where: { id: jobId },
    data: {
      startedCases: n('started'),
      joinedCases: n('joined'),
      duplicateRows: n('duplicate'),
      failedRows: n('failed'),
      processedRows: n('started') + n('joined') + n('duplicate') + n('failed'),
      ...(finished ? { status: 'completed', finishedAt: new Date() } : {}),
    },
  });
}
