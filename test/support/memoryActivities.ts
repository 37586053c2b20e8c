import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { ProjectionInput } from '../../activities/projection';
import type { WorkingDayCalendar } from '../../domain/calendar/workingDays';
import type { JournalEvent, Task } from '../../domain/journey/taskBook';

/** An in-memory stand-in for the database projection, for workflow tests on the test server. */
export function memoryActivities() {
  const tasks = new Map<string, Task & { caseId: string }>();
  const events: Array<JournalEvent & { workflowId: string; caseId: string }> = [];
  const cases = new Map<string, NonNullable<ProjectionInput['case']>>();
  const disbursed = new Map<string, number>();
  const payments = new Map<string, { caseId: string; year: number; amountCents: number }>();
  // The calendar years "published" so far (none until a test publishes one).
  const published = new Map<string, WorkingDayCalendar['years']>();
  let projections = 0;
  const activities: Activities = {
    async projectCase(input) {
      projections++;
      for (const e of input.events) {
        // Keyed per case, as in the database: a household's later case reuses the workflow ID.
        if (
          !events.some(
            (x) => x.caseId === input.caseId && x.workflowId === input.workflowId && x.seq === e.seq,
          )
        )
          events.push({ ...e, workflowId: input.workflowId, caseId: input.caseId });
      }
      if (input.case) cases.set(input.case.id, input.case);
      for (const t of input.tasks) tasks.set(t.id, { ...t, caseId: input.caseId });
    },
    async disburseAid(input) {
      const first = !disbursed.has(input.paymentId);
      if (!first && payments.get(input.paymentId)?.caseId !== input.caseId)
        throw ApplicationFailure.create({ type: 'payment_id_taken', nonRetryable: true });
      disbursed.set(input.paymentId, (disbursed.get(input.paymentId) ?? 0) + (first ? input.amountCents : 0));
      if (first) payments.set(input.paymentId, input);
      return { paidAt: new Date().toISOString(), firstTime: first };
    },
    async calendarYears({ calendarId, years }) {
      const all = published.get(calendarId) ?? {};
      return Object.fromEntries(years.filter((y) => all[y]).map((y) => [y, all[y]!]));
    },
    async householdAidPaid({ householdKey, exceptCaseId }) {
      const byYear: Record<string, number> = {};
      for (const p of payments.values()) {
        if (p.caseId === exceptCaseId || cases.get(p.caseId)?.householdKey !== householdKey) continue;
        byYear[p.year] = (byYear[p.year] ?? 0) + p.amountCents;
      }
      return byYear;
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
    /** Publishes a calendar year, as a new State Council notice added to the calendar's data. */
    publishCalendarYear(calendarId: string, year: string, data: WorkingDayCalendar['years'][string]) {
      published.set(calendarId, { ...published.get(calendarId), [year]: data });
    },
    eventTypes(caseId: string) {
      return events.filter((e) => e.caseId === caseId).map((e) => e.type);
    },
  };
}
export type MemoryStore = ReturnType<typeof memoryActivities>;
