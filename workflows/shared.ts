import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  patched,
  proxyActivities,
} from '@temporalio/workflow';
import { ZodError } from 'zod';
import type { Activities } from '../activities';
import type { CaseRow } from '../activities/projection';
import { DomainError, pruneClosedTasks, type Book } from '../domain/journey/taskBook';

export const { projectCase, disburseAid, householdAidPaid, calendarYears } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // The database may be down for a while: keep retrying, but not in a hot loop.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Business errors travel to callers as non-retryable ApplicationFailures with a stable `type`. */
export function toFailure(err: unknown): never {
  if (err instanceof DomainError)
    throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
  if (err instanceof ZodError)
    throw ApplicationFailure.create({
      type: 'invalid_input',
      message: err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      details: [err.issues.map((i) => ({ path: i.path.map(String), message: i.message, code: i.code }))],
      nonRetryable: true,
    });
  throw err;
}

/** Wraps an Update validator so that rejections carry the business error's type. */
export function guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      toFailure(err);
    }
  };
}

export function nowIso(): string {
  // Workflow time: deterministic, replayed from history.
  return new Date().toISOString();
}

/**
 * Serialises writes to the database projection: one flush at a time, in order, so a retried
 * activity can never overwrite a newer snapshot.
 */
export function createFlusher(book: Book, caseRow: () => CaseRow | null) {
  let chain: Promise<void> = Promise.resolve();
  return function flush(): Promise<void> {
    chain = chain.then(async () => {
      if (!book.outbox.length && !book.dirtyTasks.length) return;
      const events = book.outbox.splice(0);
      const tasks = book.dirtyTasks.splice(0).flatMap((id) => (book.tasks[id] ? [book.tasks[id]] : []));
      await projectCase({ caseId: book.caseId, workflowId: book.workflowId, case: caseRow(), tasks, events });
      pruneClosedTasks(book);
    });
    return chain;
  };
}

/**
 * Waits until no Update or signal handler is running and `settle` has written everything out, so
 * that continue-as-new or completion never abandons a handler that arrived while settling (its
 * caller would get an error for a change the state already holds). Histories recorded before the
 * re-check existed went on at once; the patch keeps them replaying.
 */
export async function drainHandlers(settle: () => Promise<void>): Promise<void> {
  await condition(allHandlersFinished);
  await settle();
  while (!allHandlersFinished() && patched('drain-late-handlers')) {
    await condition(allHandlersFinished);
    await settle();
  }
}
