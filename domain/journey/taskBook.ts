import type { Actor } from '../agencies';
import {
  addCalendarDays,
  calendarYearsMissing,
  localTimeOfDayMs,
  workingDaysBetween,
  workingDaysLater,
  type WorkingDayCalendar,
} from '../calendar/workingDays';
import type { Deadline, Policy } from '../policy';
import type { TaskType } from '../taskTypes';

/**
 * The part shared by the case workflow and the referral child workflow: human tasks with timed
 * approvals (due time, reminder, escalation, extension, 补正 pause), and the journal of events and
 * changed tasks waiting to be written to the database projection. Pure and deterministic: `now`
 * always comes from the caller (the workflow's clock).
 *
 * Clocks. A working-day deadline that crosses a year the case's calendar lacks counts that year's
 * weekdays, is flagged once (`calendar.year_missing`) and remembered (`weekdayFallbackDues`); when
 * the year is published it is merged into the case's calendar and those dues are recounted
 * (`task.due_recounted`). A stopped clock (补正, a coordinator's hold) keeps what is left as working
 * days plus the due's time of day and recounts them when it starts again (`remainingUntil` /
 * `dueAfter`), so a holiday in between never eats them; calendar-day deadlines keep calendar time.
 * A hold moves each clock only by the held time it lived through.
 */
export type TaskStatus = 'open' | 'awaiting_correction' | 'completed' | 'cancelled';

export interface Task {
  id: string;
  type: TaskType;
  agency: string;
  regionCode: string;
  workflowId: string;
  status: TaskStatus;
  assignee: string | null;
  createdAt: string;
  dueAt: string;
  remindAt: string;
  remindedAt: string | null;
  escalatedAt: string | null;
  escalatedTo: { agency: string; role: string } | null;
  /** While returned for correction the deadline clock stops; this is what was left of it (calendar
   * time; tasks paused before `pausedRemaining` existed). */
  pausedRemainingMs: number | null;
  /** What was left of the deadline when returned for correction: working days for working-day deadlines. */
  pausedRemaining?: Remaining | null;
  /** Type-specific pointers, e.g. the payment or follow-up month the task is about. */
  context: Record<string, string | number>;
  completedAt: string | null;
  completedBy: string | null;
  result: unknown;
}

export interface JournalEvent {
  seq: number;
  type: string;
  at: string;
  actor: string | null;
  agency: string | null;
  taskId: string | null;
  data: Record<string, unknown>;
}

export interface Book {
  workflowId: string;
  caseId: string;
  /**
   * What task, payment and referral IDs are built from. A household's cases share one workflow ID
   * (a 返困 household is referred again after its first case ended), so a case's IDs come from its
   * caseId. Absent in the state of cases started before that: their IDs stay on the workflow ID.
   */
  idPrefix?: string;
  regionCode: string;
  tasks: Record<string, Task>;
  taskSeq: number;
  eventSeq: number;
  /** Events and task IDs changed since the last projection flush. */
  outbox: JournalEvent[];
  dirtyTasks: string[];
  lastEventAt: string | null;
  policy: Policy;
  calendar: WorkingDayCalendar;
  /**
   * Coordinator hold (issue 5): timers stop while set. `setDuring`: clocks (task IDs, schedule items)
   * set while held, and when; a resume moves each only by the held time it lived through.
   */
  hold: { since: string; reason: string; setDuring?: Record<string, string> } | null;
  /**
   * Working-day dues counted on weekdays alone because the calendar lacked a year they cross, keyed
   * by clock (task ID or schedule item), to recount when that year is published.
   */
  weekdayFallbackDues?: Record<string, FallbackDue>;
  /** Those years (each flagged once, `calendar.year_missing`) and when the case last asked for them. */
  missingCalendarYears?: Record<string, { askedAt: string | null }>;
}

/** How a working-day due was counted while its calendar lacked `years` (their weekdays counted). */
export interface FallbackDue {
  from: string;
  workingDays: number;
  timeOfDayMs: number;
  years: string[];
}

const DAY_MS = 86_400_000;
const END_OF_DAY_MS = DAY_MS - 1;

/**
 * What is left of a deadline whose clock stops (补正, hold): whole working days after the day it
 * stopped plus the due's local time of day for working-day deadlines, so that resuming recounts
 * them on the calendar (a holiday in between does not eat them); calendar time otherwise.
 */
export type Remaining = { workingDays: number; timeOfDayMs: number } | { ms: number };

export function remainingUntil(
  dueIso: string,
  at: string,
  workingDays: boolean,
  cal: WorkingDayCalendar,
): Remaining {
  const ms = Date.parse(dueIso) - Date.parse(at);
  // Overdue keeps its lateness in calendar time.
  if (!workingDays || ms <= 0) return { ms };
  return { workingDays: workingDaysBetween(at, dueIso, cal), timeOfDayMs: localTimeOfDayMs(dueIso, cal) };
}

/** The due of a clock (`key`: task ID or schedule item) started again at `from` with `r` left. */
export function dueAfter(book: Book, key: string, from: string, r: Remaining, now: string): string {
  return 'ms' in r
    ? calendarDue(book, key, new Date(Date.parse(from) + r.ms).toISOString())
    : workingDayDue(book, key, from, r.workingDays, r.timeOfDayMs, now);
}

/** The due of a clock (`key`: task ID or schedule item) with `deadline` from `start`. */
export function dueFrom(book: Book, key: string, start: string, deadline: Deadline, now: string): string {
  return 'workingDays' in deadline
    ? workingDayDue(book, key, start, deadline.workingDays, END_OF_DAY_MS, now)
    : calendarDue(book, key, addCalendarDays(start, deadline.calendarDays, book.calendar));
}

function calendarDue(book: Book, key: string, dueAt: string): string {
  forgetFallbackDue(book, key);
  return dueAt;
}

/** The clock's due is no longer the weekday count it was (set otherwise, or the task closed). */
export function forgetFallbackDue(book: Book, key: string): void {
  if (book.weekdayFallbackDues?.[key]) delete book.weekdayFallbackDues[key];
}

/**
 * n working days after `from` (at a local time of day). Where the calendar lacks a year the count
 * crosses, that year's weekdays count: the due is kept to recount once the year is published, and
 * the year is flagged (once per case) for the coordinators and for the case to ask for it.
 */
function workingDayDue(
  book: Book,
  key: string,
  from: string,
  n: number,
  timeOfDayMs: number,
  now: string,
): string {
  const dueAt = workingDaysLater(from, n, timeOfDayMs, book.calendar);
  const years = calendarYearsMissing(from, dueAt, book.calendar);
  calendarDue(book, key, dueAt);
  if (years.length)
    book.weekdayFallbackDues = {
      ...book.weekdayFallbackDues,
      [key]: { from, workingDays: n, timeOfDayMs, years },
    };
  for (const year of years) {
    const known = book.missingCalendarYears?.[year];
    if (!known) {
      book.missingCalendarYears = { ...book.missingCalendarYears, [year]: { askedAt: null } };
      // Task IDs always hold a dot; schedule items never do.
      const taskId = key.includes('.') ? key : undefined;
      record(
        book,
        'calendar.year_missing',
        now,
        { year, dueAt, clock: key, weekdayFallback: true },
        null,
        taskId,
      );
    } else if (known.askedAt && Date.parse(now) - Date.parse(known.askedAt) >= DAY_MS) {
      known.askedAt = null; // needed again a day after the last ask: ask again
    }
  }
  return dueAt;
}

/** Missing calendar years to ask for now (each marked asked, so concurrent settles ask once). */
export function claimCalendarYearsToAsk(book: Book, now: string): string[] {
  const years = Object.entries(book.missingCalendarYears ?? {}).filter(([, y]) => y.askedAt === null);
  for (const [, y] of years) y.askedAt = now;
  return years.map(([year]) => year);
}

/**
 * Merges newly published years into the case's calendar and recounts the open tasks' weekday
 * fallback dues. Returns the other clocks (schedule items) whose fallback due can be recounted.
 */
export function addCalendarYears(book: Book, published: WorkingDayCalendar['years'], now: string): string[] {
  const years = Object.keys(published)
    .filter((y) => !(y in book.calendar.years))
    .sort();
  if (!years.length) return [];
  book.calendar = { ...book.calendar, years: { ...book.calendar.years } };
  for (const year of years) {
    book.calendar.years[year] = published[year]!;
    delete book.missingCalendarYears?.[year];
    record(book, 'calendar.year_published', now, { year });
  }
  const others: string[] = [];
  for (const [key, f] of Object.entries(book.weekdayFallbackDues ?? {})) {
    if (!f.years.some((y) => years.includes(y))) continue;
    const task = book.tasks[key];
    if (!task) others.push(key);
    else if (task.status !== 'open') forgetFallbackDue(book, key);
    else {
      const dueAt = recountFallbackDue(book, key, now)!;
      if (dueAt === task.dueAt) continue;
      setDue(book, task, dueAt, now);
      record(book, 'task.due_recounted', now, { dueAt, years }, null, task.id);
    }
  }
  return others;
}

/** A clock's weekday-fallback due counted again on the calendar as it now is; null if it has none. */
export function recountFallbackDue(book: Book, key: string, now: string): string | null {
  const f = book.weekdayFallbackDues?.[key];
  return f ? workingDayDue(book, key, f.from, f.workingDays, f.timeOfDayMs, now) : null;
}

const countsWorkingDays = (book: Book, task: Task) => 'workingDays' in book.policy.taskDeadlines[task.type];

/** A clock (task ID or schedule item) set now: while held, remember when, for the resume. */
export function noteClockSet(book: Book, key: string, now: string): void {
  if (book.hold) book.hold.setDuring = { ...book.hold.setDuring, [key]: now };
}

/** Where a clock stands: now, or while held the moment it stopped (the hold, or its own start in it). */
export function clockStoodAt(book: Book, key: string, now: string): string {
  if (!book.hold) return now;
  const set = book.hold.setDuring?.[key];
  return set && Date.parse(set) > Date.parse(book.hold.since) ? set : book.hold.since;
}

export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export function record(
  book: Book,
  type: string,
  now: string,
  data: Record<string, unknown> = {},
  actor?: Actor | null,
  taskId?: string,
): void {
  book.eventSeq += 1;
  book.lastEventAt = now;
  book.outbox.push({
    seq: book.eventSeq,
    type,
    at: now,
    actor: actor?.id ?? null,
    agency: actor?.agency ?? null,
    taskId: taskId ?? null,
    data,
  });
}

/** The n-th ID of a kind (`t` task, `p` payment, `r` referral) of this book: `<prefix>.<kind><n>`. */
export function derivedId(book: Book, kind: 't' | 'p' | 'r', n: number): string {
  return `${book.idPrefix ?? book.workflowId}.${kind}${n}`;
}

export function touch(book: Book, task: Task): void {
  if (!book.dirtyTasks.includes(task.id)) book.dirtyTasks.push(task.id);
}

function remindAtFor(createdAt: string, dueAt: string, policy: Policy): string {
  const t = Date.parse(dueAt) - policy.reminderBeforeHours * 3600_000;
  return new Date(Math.max(t, Date.parse(createdAt))).toISOString();
}

export function openTask(
  book: Book,
  spec: { type: TaskType; agency: string; context?: Record<string, string | number> },
  now: string,
): Task {
  book.taskSeq += 1;
  const id = derivedId(book, 't', book.taskSeq);
  const dueAt = dueFrom(book, id, now, book.policy.taskDeadlines[spec.type], now);
  const task: Task = {
    id,
    type: spec.type,
    agency: spec.agency,
    regionCode: book.regionCode,
    workflowId: book.workflowId,
    status: 'open',
    assignee: null,
    createdAt: now,
    dueAt,
    remindAt: remindAtFor(now, dueAt, book.policy),
    remindedAt: null,
    escalatedAt: null,
    escalatedTo: null,
    pausedRemainingMs: null,
    context: spec.context ?? {},
    completedAt: null,
    completedBy: null,
    result: null,
  };
  book.tasks[task.id] = task;
  noteClockSet(book, task.id, now);
  touch(book, task);
  record(book, 'task.opened', now, { type: task.type, agency: task.agency, dueAt }, null, task.id);
  return task;
}

/** Task statuses that still ask something of their agency (the read model filters on them too). */
export const ACTIVE_TASK_STATUSES: TaskStatus[] = ['open', 'awaiting_correction'];

export const isActiveTaskStatus = (status: string): boolean =>
  (ACTIVE_TASK_STATUSES as string[]).includes(status);

export function isActive(task: Task): boolean {
  return isActiveTaskStatus(task.status);
}

export function activeTasks(book: Book, type?: TaskType): Task[] {
  return Object.values(book.tasks).filter((t) => isActive(t) && (!type || t.type === type));
}

export function closeTask(book: Book, task: Task, now: string, actor: Actor, result: unknown): void {
  forgetFallbackDue(book, task.id);
  task.status = 'completed';
  task.completedAt = now;
  task.completedBy = actor.id;
  task.result = result;
  touch(book, task);
  record(book, 'task.completed', now, { type: task.type, result }, actor, task.id);
}

export function cancelTask(book: Book, task: Task, now: string, reason: string): void {
  if (!isActive(task)) return;
  forgetFallbackDue(book, task.id);
  task.status = 'cancelled';
  task.completedAt = now;
  touch(book, task);
  record(book, 'task.cancelled', now, { type: task.type, reason }, null, task.id);
}

/** Closed tasks are dropped from workflow state (they live on in the database) to keep it small. */
export function pruneClosedTasks(book: Book): void {
  for (const [id, t] of Object.entries(book.tasks)) {
    if (!isActive(t) && !book.dirtyTasks.includes(id)) delete book.tasks[id];
  }
}

export function getActiveTask(book: Book, taskId: string): Task {
  const task = book.tasks[taskId];
  if (!task) throw new DomainError('task_not_found', `task ${taskId} is not on this case`);
  if (!isActive(task)) throw new DomainError('task_not_open', `task ${taskId} is ${task.status}`);
  return task;
}

/** Reminders and escalations that have come due. Nothing is dropped when a deadline passes. */
export function tickTasks(book: Book, now: string): void {
  if (book.hold) return;
  const t = Date.parse(now);
  for (const task of Object.values(book.tasks)) {
    if (task.status !== 'open') continue;
    if (!task.remindedAt && t >= Date.parse(task.remindAt)) {
      task.remindedAt = now;
      touch(book, task);
      record(
        book,
        'task.reminded',
        now,
        { type: task.type, agency: task.agency, dueAt: task.dueAt },
        null,
        task.id,
      );
    }
    if (!task.escalatedAt && t >= Date.parse(task.dueAt)) {
      task.escalatedAt = now;
      task.escalatedTo = escalationTarget(book, task);
      touch(book, task);
      record(
        book,
        'task.escalated',
        now,
        { type: task.type, dueAt: task.dueAt, to: task.escalatedTo },
        null,
        task.id,
      );
    }
  }
}

/** Who an overdue (or escalated by hand) task goes to: the policy's target for its type. */
function escalationTarget(book: Book, task: Task): { agency: string; role: string } {
  const target = book.policy.escalation.byTaskType[task.type] ?? book.policy.escalation.default;
  return { agency: target.agency === 'owner' ? task.agency : target.agency, role: target.role };
}

export function nextTaskWake(book: Book): number | undefined {
  if (book.hold) return undefined;
  let next: number | undefined;
  for (const task of Object.values(book.tasks)) {
    if (task.status !== 'open') continue;
    const candidates = [
      task.remindedAt ? undefined : task.remindAt,
      task.escalatedAt ? undefined : task.dueAt,
    ];
    for (const c of candidates) if (c) next = Math.min(next ?? Infinity, Date.parse(c));
  }
  return next;
}

/** `legacyClocks`: keep the milliseconds left, as histories recorded before working-day pauses did. */
export function returnForCorrection(
  book: Book,
  taskId: string,
  reason: string,
  now: string,
  actor: Actor,
  legacyClocks = false,
): Task {
  const task = getActiveTask(book, taskId);
  if (task.status !== 'open')
    throw new DomainError('task_not_open', `task ${taskId} is already awaiting correction`);
  task.status = 'awaiting_correction';
  if (legacyClocks) {
    task.pausedRemainingMs = Math.max(0, Date.parse(task.dueAt) - Date.parse(now));
  } else {
    // While held the clock already stood still: what is left is counted from where it stopped.
    const at = clockStoodAt(book, task.id, now);
    task.pausedRemaining = remainingUntil(task.dueAt, at, countsWorkingDays(book, task), book.calendar);
  }
  touch(book, task);
  record(
    book,
    'task.returned_for_correction',
    now,
    { reason, remainingMs: task.pausedRemainingMs, remaining: task.pausedRemaining },
    actor,
    task.id,
  );
  return task;
}

export function correctionReceived(book: Book, taskId: string, now: string, actor: Actor): Task {
  const task = getActiveTask(book, taskId);
  if (task.status !== 'awaiting_correction')
    throw new DomainError('task_not_awaiting_correction', `task ${taskId} is not waiting for a correction`);
  const dueAt = task.pausedRemaining
    ? dueAfter(book, task.id, now, task.pausedRemaining, now)
    : new Date(Date.parse(now) + (task.pausedRemainingMs ?? 0)).toISOString();
  setDue(book, task, dueAt, now);
  noteClockSet(book, task.id, now);
  task.status = 'open';
  task.pausedRemainingMs = null;
  task.pausedRemaining = null;
  record(book, 'task.correction_received', now, { dueAt }, actor, task.id);
  return task;
}

function setDue(book: Book, task: Task, dueAt: string, now: string): void {
  task.dueAt = dueAt;
  task.remindAt = remindAtFor(now, dueAt, book.policy);
  if (Date.parse(task.remindAt) > Date.parse(now)) task.remindedAt = null;
  task.escalatedAt = null;
  task.escalatedTo = null;
  touch(book, task);
}

/** Claim, release or reassign: who holds a task. */
export function assignTask(
  book: Book,
  task: Task,
  assignee: string | null,
  how: 'claimed' | 'released' | 'reassigned',
  now: string,
  actor: Actor,
): void {
  task.assignee = assignee;
  touch(book, task);
  record(book, `task.${how}`, now, { assignee }, actor, task.id);
}

/** A reminder or escalation sent by hand (coordinators, supervisors), besides the timed ones. */
export function nudgeTask(
  book: Book,
  task: Task,
  how: 'remind' | 'escalate',
  reason: string | null,
  now: string,
  actor: Actor,
): void {
  if (how === 'remind') {
    record(book, 'task.reminded', now, { type: task.type, manual: true }, actor, task.id);
    return;
  }
  task.escalatedAt = now;
  task.escalatedTo = escalationTarget(book, task);
  touch(book, task);
  record(
    book,
    'task.escalated',
    now,
    { type: task.type, manual: true, reason, to: task.escalatedTo },
    actor,
    task.id,
  );
}

export function extendDeadline(
  book: Book,
  taskId: string,
  by: Deadline,
  reason: string,
  now: string,
  actor: Actor,
): Task {
  const task = getActiveTask(book, taskId);
  const from = Date.parse(task.dueAt) > Date.parse(now) ? task.dueAt : now;
  const dueAt = dueFrom(book, task.id, from, by, now);
  setDue(book, task, dueAt, now);
  if (from === now) noteClockSet(book, task.id, now);
  record(book, 'task.deadline_extended', now, { dueAt, by, reason }, actor, task.id);
  return task;
}

/**
 * Ends a hold for the open tasks (call it while `book.hold` is still set): each deadline gets back
 * what was left of it where its clock stopped — the hold's start, or its own start within the hold —
 * in working days recounted on the calendar from now, or in calendar time. A hold neither eats nor
 * adds time, not even to a task opened while held.
 */
export function resumeClocks(book: Book, now: string): void {
  for (const task of Object.values(book.tasks)) {
    if (task.status !== 'open') continue;
    const at = clockStoodAt(book, task.id, now);
    const left = remainingUntil(task.dueAt, at, countsWorkingDays(book, task), book.calendar);
    task.dueAt = dueAfter(book, task.id, now, left, now);
    task.remindAt = remindAtFor(now, task.dueAt, book.policy);
    touch(book, task);
  }
}

/** Before `resumeClocks` (replayed histories): every open clock shifted by the whole hold. */
export function shiftClocks(book: Book, ms: number): void {
  for (const task of Object.values(book.tasks)) {
    if (task.status !== 'open') continue;
    forgetFallbackDue(book, task.id); // its basis no longer holds
    task.dueAt = new Date(Date.parse(task.dueAt) + ms).toISOString();
    task.remindAt = new Date(Date.parse(task.remindAt) + ms).toISOString();
    touch(book, task);
  }
}

export function shiftIso(iso: string | null, ms: number): string | null {
  return iso === null ? null : new Date(Date.parse(iso) + ms).toISOString();
}

export function addMonths(iso: string, months: number): string {
  const d = new Date(iso);
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + months);
  const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, last));
  return d.toISOString();
}
