import type { Request } from 'express';
import { z } from 'zod';
import { regionWithin } from '../../domain/agencies';
import { taskTypeInfo, type TaskType } from '../../domain/taskTypes';
import type { Db } from '../../db/client';
import type { Principal } from '../auth';
import { Problem, zodIssues } from '../errors';
import { registerSchema } from '../openapi';

/** Validates against a zod schema; 400 problem with the issues' field paths and rules. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, prefix: string[] = []): T {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new Problem(
      400,
      'invalid_input',
      'the request does not match its schema',
      zodIssues(r.error, prefix),
    );
  return r.data;
}

export const principalOf = (req: Request): Principal => req.principal!;

export const IdParamsSchema = z.object({ id: z.string().min(1).max(300) });

const dateTime = z.iso.datetime();
export const TaskSummarySchema = registerSchema(
  'TaskSummary',
  z.object({
    id: z.string(),
    caseId: z.string(),
    type: z.string(),
    title: z.string(),
    agency: z.string(),
    regionCode: z.string(),
    status: z.enum(['open', 'awaiting_correction', 'completed', 'cancelled']),
    assignee: z.string().nullable(),
    createdAt: dateTime,
    dueAt: dateTime,
    overdue: z.boolean(),
    escalatedAt: dateTime.nullable(),
    completedAt: dateTime.nullable(),
  }),
);
export type TaskSummary = z.infer<typeof TaskSummarySchema>;

export interface TaskRow {
  id: string;
  caseId: string;
  workflowId: string;
  type: string;
  agency: string;
  regionCode: string;
  status: string;
  assignee: string | null;
  createdAt: Date;
  dueAt: Date;
  escalatedAt: Date | null;
  completedAt: Date | null;
  context: unknown;
}

export function taskSummary(t: TaskRow, now = Date.now()): TaskSummary {
  return {
    id: t.id,
    caseId: t.caseId,
    type: t.type,
    title: taskTypeInfo[t.type as TaskType]?.title ?? t.type,
    agency: t.agency,
    regionCode: t.regionCode,
    status: t.status as TaskSummary['status'],
    assignee: t.assignee,
    createdAt: t.createdAt.toISOString(),
    dueAt: t.dueAt.toISOString(),
    overdue: t.status === 'open' && t.dueAt.getTime() < now,
    escalatedAt: t.escalatedAt?.toISOString() ?? null,
    completedAt: t.completedAt?.toISOString() ?? null,
  };
}

/** A principal sees a task only of its own agency within its region subtree. */
export function canSeeTask(p: Principal, t: { agency: string; regionCode: string }): boolean {
  return t.agency === p.agency && regionWithin(t.regionCode, p.region);
}

/** The task, or 404: another agency's or region's task is reported as absent, so nothing leaks. */
export async function visibleTask(db: Db, p: Principal, id: string) {
  const task = await db.caseTask.findUnique({ where: { id } });
  if (!task || !canSeeTask(p, task)) throw new Problem(404, 'task_not_found', `no task ${id} in your inbox`);
  return task;
}

/** Task statuses that still ask something of their agency. */
export const ACTIVE_TASK_STATUSES = ['open', 'awaiting_correction'];
const ACTIVE_REFERRAL_STATUSES = new Set(['pending', 'accepted', 'waitlisted']);

/** The union leads every case and coordinators oversee them: they see whole cases in their region. */
export const seesWholeCases = (p: Principal) => p.agency === 'union' || p.roles.includes('coordinator');

/** The agency referrals of a case, as its projection summarises them. */
export function caseReferrals(
  summary: unknown,
): Array<{ id: string; agency: string; measure: string; status: string }> {
  const list = (summary as { agencyReferrals?: unknown } | null)?.agencyReferrals;
  return Array.isArray(list) ? list : [];
}

/**
 * The case, or 404, and how much of it the principal sees. The union and coordinators see the
 * whole case in their region subtree. Another agency sees a case only while it has open work on it
 * (an open task, or a referral not yet decided and reported), and then only its own part: its
 * tasks and timeline entries, never the household's hardship causes or incomes. Once its work is
 * done the case is absent again, so nothing leaks beyond what the task needed.
 */
export async function visibleCase(db: Db, p: Principal, id: string) {
  const c = await db.householdCase.findUnique({ where: { id } });
  const absent = () => new Problem(404, 'case_not_found', `no case ${id} in your region`);
  if (!c || !regionWithin(c.regionCode, p.region)) throw absent();
  if (seesWholeCases(p)) return { case: c, whole: true };
  const mine = await db.caseTask.findMany({
    where: { caseId: c.id, agency: p.agency },
    select: { workflowId: true, status: true },
  });
  const openTask = mine.some((t) => ACTIVE_TASK_STATUSES.includes(t.status));
  // A referral keeps a task open while it is undecided or being worked; the one moment it has none
  // is just after it was sent, before its acceptance task reaches the read model. (The case's own
  // summary of the referral is updated by signal, later than the referral's tasks: not used alone.)
  const justReferred = caseReferrals(c.summary).some(
    (r) =>
      r.agency === p.agency &&
      ACTIVE_REFERRAL_STATUSES.has(r.status) &&
      !mine.some((t) => t.workflowId === r.id),
  );
  if (!openTask && !justReferred) throw absent();
  return { case: c, whole: false };
}

/** The tasks a principal may see listed on a case it sees (whole or its own agency's part). */
export function tasksSeenOnCase<T extends { agency: string }>(p: Principal, whole: boolean, tasks: T[]): T[] {
  return whole ? tasks : tasks.filter((t) => t.agency === p.agency);
}

/**
 * The agency of a principal the platform knows: an integrator key (its row), or a staff member who
 * has acted before (the latest audit entry of theirs). Undefined for someone it has never seen.
 */
export async function knownAgencyOf(db: Db, sub: string): Promise<string | undefined> {
  if (sub.startsWith('apikey:'))
    return (await db.apiKey.findUnique({ where: { id: sub.slice('apikey:'.length) } }))?.agency;
  const last = await db.auditEntry.findFirst({
    where: { actor: sub },
    orderBy: { at: 'desc' },
    select: { agency: true },
  });
  return last?.agency;
}

/** A task is reassigned only within its agency: a known principal of another agency is refused (422). */
export async function assertAssignable(
  db: Db,
  task: { id: string; agency: string },
  assignee: string,
  path: string,
) {
  const agency = await knownAgencyOf(db, assignee);
  if (agency !== undefined && agency !== task.agency)
    throw new Problem(
      422,
      'assignee_not_in_agency',
      `${assignee} belongs to ${agency}; task ${task.id} belongs to ${task.agency}`,
      [{ path, message: `must be a member of ${task.agency}`, code: 'assignee_not_in_agency' }],
    );
}
