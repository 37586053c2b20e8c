import type { Activities } from '../../activities';
import type { ProjectionInput } from '../../activities/projection';
import type { JournalEvent, Task } from '../../domain/journey/taskBook';

/** An in-memory stand-in for the database projection, for workflow tests on the test server. */
export function memoryActivities() {
  const tasks = new Map<string, Task & { caseId: string }>();
  const events: Array<JournalEvent & { workflowId: string; caseId: string }> = [];
  const cases = new Map<string, NonNullable<ProjectionInput['case']>>();
  const disbursed = new Map<string, number>();
  let projections = 0;
  const activities: Activities = {
    async projectCase(input) {
      projections++;
      for (const e of input.events) {
        if (!events.some((x) => x.workflowId === input.workflowId && x.seq === e.seq))
          events.push({ ...e, workflowId: input.workflowId, caseId: input.caseId });
      }
      if (input.case) cases.set(input.case.id, input.case);
      for (const t of input.tasks) tasks.set(t.id, { ...t, caseId: input.caseId });
    },
    async disburseAid(input) {
      const first = !disbursed.has(input.paymentId);
      disbursed.set(input.paymentId, (disbursed.get(input.paymentId) ?? 0) + (first ? input.amountCents : 0));
      return { paidAt: new Date().toISOString(), firstTime: first };
    },
  };
  return {
    activities,
    tasks,
    events,
    cases,
    disbursed,
    get projections() {
      return projections;
    },
    openTasks(caseId: string, type?: string) {
      return [...tasks.values()].filter(
        (t) =>
          t.caseId === caseId &&
          (t.status === 'open' || t.status === 'awaiting_correction') &&
          (!type || t.type === type),
      );
    },
    eventTypes(caseId: string) {
      return events.filter((e) => e.caseId === caseId).map((e) => e.type);
    },
  };
}
export type MemoryStore = ReturnType<typeof memoryActivities>;
