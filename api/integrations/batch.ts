import { WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import type { Db } from '../../db/client';
import { regionWithin } from '../../domain/agencies';
import { eventsRecordedBy } from '../../domain/journey/state';
import { TaskCompletionSchema, isReferralTask } from '../../domain/taskTypes';
import { completeReferralTask } from '../../workflows/agencyReferral';
import { completeTask } from '../../workflows/householdCase';
import { auditedChange, canonicalJson, formDigest } from '../audit';
import { actorOf, type Principal } from '../auth';
import { Problem, problemFromFailure, zodIssues, type FieldIssue } from '../errors';
import { sha256 } from '../hash';
import { log } from '../log';

/**
 * System-to-system task work: one task completion of a batch, answered per item like a response of
 * its own (200 applied, 202 pending, 4xx/5xx with a problem), so one bad or slow item never decides
 * the fate of the others.
 */
export type BatchItemResult =
  | {
      taskId: string;
      ok: true;
      status: 200;
      alreadyApplied?: true;
      /** The case's stage after a case task; the referral's status after a referral task. */
      stage?: string;
      referral?: { referralId: string; status: string };
    }
  | { taskId: string; ok: false; status: 202; pending: true; detail: string }
  | {
      taskId: string;
      ok: false;
      status: number;
      error: { status: number; code: string; detail: string; errors?: FieldIssue[] };
    };

export interface BatchDeps {
  db: Db;
  client: Client;
  /** How long one item waits for its workflow before it is reported pending. */
  itemWaitMs: number;
}

function failed(taskId: string, status: number, code: string, detail: string, errors?: FieldIssue[]) {
  return {
    taskId,
    ok: false,
    status,
    error: { status, code, detail, ...(errors ? { errors } : {}) },
  } as const;
}

async function completeBatchItem(
  deps: BatchDeps,
  p: Principal,
  requestId: string,
  item: { taskId: string; completion: unknown },
  index: number,
): Promise<BatchItemResult> {
  const { db, client } = deps;
  const actor = actorOf(p);
  const completion = TaskCompletionSchema.safeParse(item.completion);
  if (!completion.success)
    return failed(
      item.taskId,
      400,
      'invalid_input',
      'the completion does not match its schema',
      zodIssues(completion.error, ['body', 'items', String(index), 'completion']),
    );
  const task = await db.caseTask.findUnique({ where: { id: item.taskId } });
  if (!task || task.agency !== p.agency || !regionWithin(task.regionCode, p.region))
    return failed(item.taskId, 404, 'task_not_found', `no task ${item.taskId} in your inbox`);
  const fingerprint = canonicalJson(completion.data);
  if (task.status === 'completed' || task.status === 'cancelled') {
    // A retried batch: the same answer from the same system is reported as applied, not as a conflict.
    if (
      task.completedBy === actor.id &&
      canonicalJson({ type: task.type, form: task.result }) === fingerprint
    )
      return { taskId: task.id, ok: true, status: 200, alreadyApplied: true };
    return failed(task.id, 409, 'task_not_open', `task ${task.id} is ${task.status}`);
  }
  const updateId = `batch-${sha256(`${actor.id}|${task.id}|${fingerprint}`).slice(0, 40)}`;
  const input = { taskId: task.id, actor, completion: completion.data };
  const handle = client.workflow.getHandle(task.workflowId);
  let applied: Pick<Extract<BatchItemResult, { ok: true }>, 'stage' | 'referral'>;
  try {
    // Audited as any change (attempt, Update, outcome), once per Update ID: a batch retried while
    // the projection still shows the task open runs the same Update again (Temporal answers it from
    // the first run), reuses an attempt left open and records nothing twice.
    applied = await auditedChange(
      db,
      {
        caseId: task.caseId,
        principal: p,
        action: 'task.complete',
        target: task.id,
        requestId,
        workflowId: task.workflowId,
        updateId,
        recordedAs: eventsRecordedBy.completeTask,
        data: { type: task.type, formSha256: formDigest(completion.data.form), via: 'batch' },
      },
      // A stuck workflow must not hold the whole batch: past the deadline the item is pending; the
      // same item sent again carries the same Update ID and learns the one outcome.
      () =>
        client.withDeadline(Date.now() + deps.itemWaitMs, async () => {
          if (!isReferralTask(task.type)) {
            const view = await handle.executeUpdate(completeTask, { args: [input], updateId });
            return { stage: view.stage };
          }
          const view = await handle.executeUpdate(completeReferralTask, { args: [input], updateId });
          return { referral: { referralId: view.referralId, status: view.status } };
        }),
      { outcome: (r) => ({ ...r }) },
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)
      return {
        taskId: task.id,
        ok: false,
        status: 202,
        pending: true,
        detail: `the case did not answer within ${deps.itemWaitMs / 1000} s; send the same item again to learn its outcome (it is applied at most once)`,
      };
    const prob = err instanceof Problem ? err : problemFromFailure(err);
    if (!prob) throw err;
    return failed(task.id, prob.status, prob.code, prob.message, prob.errors);
  }
  return { taskId: task.id, ok: true, status: 200, ...applied };
}

/** Every item, a few at a time; an unexpected error is one item's generic 500, its detail logged. */
export async function completeBatch(
  deps: BatchDeps,
  p: Principal,
  requestId: string,
  items: Array<{ taskId: string; completion: unknown }>,
): Promise<BatchItemResult[]> {
  const results = new Array<BatchItemResult>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(8, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        const item = items[i]!;
        results[i] = await completeBatchItem(deps, p, requestId, item, i).catch((err: unknown) => {
          log('error', 'batch item failed', {
            requestId,
            taskId: item.taskId,
            err: err instanceof Error ? err.stack : String(err),
          });
          return failed(item.taskId, 500, 'internal', 'an unexpected error occurred; quote the request ID');
        });
      }
    }),
  );
  return results;
}
