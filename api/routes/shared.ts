import type { Request } from 'express';
import { z } from 'zod';
import { regionWithin } from '../../domain/agencies';
import { ACTIVE_REFERRAL_STATUSES, isActiveReferralStatus } from '../../domain/journey/state';
import { ACTIVE_TASK_STATUSES, isActiveTaskStatus } from '../../domain/journey/taskBook';
import { taskTypeInfo, type TaskType } from '../../domain/taskTypes';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import type { Principal } from '../auth';
import { Problem, zodIssues } from '../errors';
import { inRegion } from '../monitor/sql';
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
 * Which cases a principal sees, in two forms kept side by side (`test/db/case-sight.test.ts` checks
 * that they agree): `seesCase` over rows (GET /v1/cases/:id, GET /v1/referrals/:id) and
 * `seesCaseSql` over `HouseholdCase` (the referral feed). The union and coordinators see every case
 * in their region subtree, whole. Another agency sees a case in region only while it has open work
 * on it: an active task, or a referral not yet decided and reported. A referral keeps a task open
 * while it is undecided or being worked; the one moment it has none is just after it was sent,
 * before its acceptance task reaches the read model (the case's own summary of the referral is
 * updated by signal, later than the referral's tasks: not used alone). With `referrers`, the agency
 * that referred the household follows the case too (integrators following their referrals).
 */
export function seesCase(
  p: Principal,
  c: { regionCode: string; summary: unknown },
  /** The principal's agency's tasks on the case, of any status. */
  mine: Array<{ workflowId: string; status: string }>,
  /** Whether the principal's agency referred the household to this case (counts with `referrers`). */
  referred: boolean,
): boolean {
  if (!regionWithin(c.regionCode, p.region)) return false;
  if (seesWholeCases(p) || referred) return true;
  return (
    mine.some((t) => isActiveTaskStatus(t.status)) ||
    caseReferrals(c.summary).some(
      (r) =>
        r.agency === p.agency && isActiveReferralStatus(r.status) && !mine.some((t) => t.workflowId === r.id),
    )
  );
}

/** `seesCase` in SQL, over the `HouseholdCase` row aliased `alias`. */
export function seesCaseSql(p: Principal, alias: string, opts: { referrers: boolean }): Prisma.Sql {
  const c = Prisma.raw(`"${alias}"`);
  const region = inRegion(Prisma.sql`${c}."regionCode"`, p.region);
  if (seesWholeCases(p)) return region;
  const referrals = Prisma.sql`jsonb_array_elements(CASE WHEN jsonb_typeof(${c}."summary"->'agencyReferrals') = 'array'
    THEN ${c}."summary"->'agencyReferrals' ELSE '[]'::jsonb END)`;
  return Prisma.sql`(${region} AND (
    EXISTS (SELECT 1 FROM "CaseTask" t WHERE t."caseId" = ${c}."id" AND t."agency" = ${p.agency}
             AND t."status" IN (${Prisma.join(ACTIVE_TASK_STATUSES)}))
    OR EXISTS (SELECT 1 FROM ${referrals} r
                WHERE r->>'agency' = ${p.agency} AND r->>'status' IN (${Prisma.join(ACTIVE_REFERRAL_STATUSES)})
                  AND NOT EXISTS (SELECT 1 FROM "CaseTask" t WHERE t."caseId" = ${c}."id"
                                   AND t."agency" = ${p.agency} AND t."workflowId" = r->>'id'))
    ${opts.referrers ? Prisma.sql`OR EXISTS (${referralsBySql(p.agency, Prisma.sql`${c}."id"`)})` : Prisma.empty}))`;
}

/** The agency's referrals of the household to the case (its `case.referral_received` events). */
const referralsBySql = (agency: string, caseId: Prisma.Sql) =>
  Prisma.sql`SELECT 1 FROM "CaseEvent" e WHERE e."caseId" = ${caseId} AND e."type" = 'case.referral_received'
              AND e."agency" = ${agency}`;

/**
 * The case, or 404 (`case_not_found`, with `referrers` `referral_not_found`), and whether the
 * principal sees it whole or only its own agency's part (its tasks and timeline entries, never the
 * household's hardship causes or incomes), by `seesCase`. Once an agency's work is done the case is
 * absent to it again, so nothing leaks beyond what the task needed.
 */
export async function visibleCase(db: Db, p: Principal, id: string, opts = { referrers: false }) {
  const c = await db.householdCase.findUnique({ where: { id } });
  const absent = () =>
    opts.referrers
      ? new Problem(404, 'referral_not_found', `no referral ${id} visible to you`)
      : new Problem(404, 'case_not_found', `no case ${id} in your region`);
  if (!c || !regionWithin(c.regionCode, p.region)) throw absent();
  if (seesWholeCases(p)) return { case: c, whole: true };
  const [mine, referred] = await Promise.all([
    db.caseTask.findMany({
      where: { caseId: c.id, agency: p.agency },
      select: { workflowId: true, status: true },
    }),
    opts.referrers
      ? db.$queryRaw<unknown[]>`${referralsBySql(p.agency, Prisma.sql`${c.id}`)} LIMIT 1`.then(
          (rows) => rows.length > 0,
        )
      : false,
  ]);
  if (!seesCase(p, c, mine, referred)) throw absent();
  return { case: c, whole: false };
}

/** The tasks a principal may see listed on a case it sees (whole or its own agency's part). */
export function tasksSeenOnCase<T extends { agency: string }>(p: Principal, whole: boolean, tasks: T[]): T[] {
  return whole ? tasks : tasks.filter((t) => t.agency === p.agency);
}

/**
 * A task is reassigned only within its agency, checked as far as the platform can know it (the one
 * place for it: the task, case and monitor routes call it). There is no staff directory: a staff
 * member's identity is the claims of the JWT they send, so the platform knows staff only once they
 * have acted (the agency of their latest audit entry): best-effort — someone who has never acted
 * passes, and their first request shows their agency. Integrator keys are rows, known exactly: an
 * unknown or revoked key is refused (422 `assignee_unknown`), a key of another agency too (422
 * `assignee_not_in_agency`).
 */
export async function assertAssignable(
  db: Db,
  task: { id: string; agency: string },
  assignee: string,
  path: string,
) {
  const refuse = (code: string, why: string, rule: string) =>
    new Problem(422, code, `${why}; task ${task.id} belongs to ${task.agency}`, [
      { path, message: rule, code },
    ]);
  let agency: string | undefined;
  if (assignee.startsWith('apikey:')) {
    const key = await db.apiKey.findUnique({ where: { id: assignee.slice('apikey:'.length) } });
    if (!key || key.revokedAt)
      throw refuse('assignee_unknown', `${assignee} is no API key in use`, 'must be an API key in use');
    agency = key.agency;
  } else {
    const last = await db.auditEntry.findFirst({
      where: { actor: assignee },
      orderBy: { at: 'desc' },
      select: { agency: true },
    });
    agency = last?.agency;
  }
  if (agency !== undefined && agency !== task.agency)
    throw refuse(
      'assignee_not_in_agency',
      `${assignee} belongs to ${agency}`,
      `must be a member of ${task.agency}`,
    );
}
