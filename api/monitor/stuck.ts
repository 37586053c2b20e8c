import { z } from 'zod';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { RegionCodeSchema } from '../../domain/agencies';
import { allPolicies, and, inSubtree, policyCase } from './sql';

const DAY = 86_400_000;

export const STUCK_REASONS = [
  'task_overdue',
  'referral_not_accepted',
  'escalation_open',
  'cadre_visit_missed',
  'follow_up_missed',
  'case_idle',
] as const;

export const StuckQuerySchema = z.object({
  region: RegionCodeSchema.optional(),
  agency: z.string().min(1).optional(),
  stage: z.string().min(1).optional(),
  taskType: z.string().min(1).optional(),
  reason: z.enum(STUCK_REASONS).optional(),
  /** Only items stuck for at least this many days. */
  minDays: z.coerce.number().min(0).optional(),
  /** Cases on hold are paused on purpose: hidden unless asked for. */
  held: z.enum(['exclude', 'include', 'only']).default('exclude'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
export type StuckQuery = z.infer<typeof StuckQuerySchema>;

interface StuckRow {
  id: string;
  reason: (typeof STUCK_REASONS)[number];
  since: Date;
  escalated: boolean;
  escalatedTo: { agency: string; role: string } | null;
  caseId: string;
  workflowId: string;
  taskId: string | null;
  taskType: string | null;
  holders: string[];
  assignee: string | null;
  dueAt: Date | null;
  stage: string;
  regionCode: string;
  onHold: boolean;
  total: bigint;
}

/** Overdue tasks of these types are named by what is missed; any other overdue task is `task_overdue`. */
const REASON_BY_TYPE = {
  referralAcceptance: 'referral_not_accepted',
  cadreVisit: 'cadre_visit_missed',
  followUpVisit: 'follow_up_missed',
} as const;
const namedTypes = Object.keys(REASON_BY_TYPE);

/**
 * Everything stuck in a region, latest first: open tasks past their due time (named by kind:
 * referral not accepted, missed cadre visit, missed follow-up, other overdue task), escalations
 * still open, and open cases with no event for the policy's `stuckAfterDays` (stuck since that
 * period ran out).
 *
 * One statement (one snapshot): each kind of item yields its first `offset + limit` in list order
 * from an index (overdue tasks by due time, escalations not yet due by escalation time, idle cases
 * by when their quiet period ran out), the page is taken from their merge, and the total is a
 * separate count over the partial indexes on open tasks and open cases (migration
 * 20261123050000_monitor_stuck). Nothing sorts or counts every stuck item per row.
 */
export async function stuckList(db: Db, region: string, q: StuckQuery, now = new Date()) {
  const n = q.limit + q.offset;
  const cutoff = q.minDays === undefined ? undefined : new Date(now.getTime() - q.minDays * DAY);
  const reasonIs = (r: (typeof STUCK_REASONS)[number]) => q.reason === undefined || q.reason === r;

  // The case's own filters, on the case row `c`.
  const caseConds = (c: Prisma.Sql) => {
    const w: Prisma.Sql[] = [];
    if (q.stage) w.push(Prisma.sql`${c}."stage" = ${q.stage}`);
    if (q.held === 'exclude') w.push(Prisma.sql`NOT ${c}."onHold"`);
    if (q.held === 'only') w.push(Prisma.sql`${c}."onHold"`);
    return w;
  };

  // Tasks: what every stuck task shares, then what each of the two kinds adds.
  const task = [
    Prisma.sql`t."status" = 'open'`,
    inSubtree(Prisma.sql`t."regionCode"`, region),
    ...(q.agency ? [Prisma.sql`t."agency" = ${q.agency}`] : []),
    ...(q.taskType ? [Prisma.sql`t."type" = ${q.taskType}`] : []),
  ];
  const overdue: Prisma.Sql[] | null = (() => {
    const w = [Prisma.sql`t."dueAt" < ${now}`];
    if (cutoff) w.push(Prisma.sql`t."dueAt" <= ${cutoff}`);
    if (q.reason === 'case_idle') return null;
    if (q.reason === 'escalation_open') w.push(Prisma.sql`t."escalatedAt" IS NOT NULL`);
    else if (q.reason === 'task_overdue') w.push(Prisma.sql`t."type" NOT IN (${Prisma.join(namedTypes)})`);
    else if (q.reason) {
      const type = namedTypes.find((k) => REASON_BY_TYPE[k as keyof typeof REASON_BY_TYPE] === q.reason);
      w.push(Prisma.sql`t."type" = ${type}`);
    }
    return w;
  })();
  // Escalated before its due time (or its deadline moved after): stuck since the escalation.
  const escalated: Prisma.Sql[] | null = reasonIs('escalation_open')
    ? [
        Prisma.sql`t."dueAt" >= ${now}`,
        Prisma.sql`t."escalatedAt" IS NOT NULL`,
        ...(cutoff ? [Prisma.sql`t."escalatedAt" <= ${cutoff}`] : []),
      ]
    : null;
  const overdueReason = Prisma.sql`CASE t."type" ${Prisma.join(
    Object.entries(REASON_BY_TYPE).map(([type, reason]) => Prisma.sql`WHEN ${type} THEN ${reason}`),
    ' ',
  )} ELSE 'task_overdue' END`;
  // Ordered as the partial indexes on open tasks are, so each kind stops after `n` rows ('task:'
  // || id sorts as id: the database collation is C).
  const taskBranch = (extra: Prisma.Sql[], reason: Prisma.Sql, since: Prisma.Sql) => Prisma.sql`(
      SELECT 'task:' || t."id" AS "id", ${reason} AS "reason", ${since} AS "since", t."caseId", t."id" AS "taskId"
        FROM "CaseTask" t JOIN "HouseholdCase" c ON c."id" = t."caseId"
       WHERE ${and([...task, ...extra, ...caseConds(Prisma.sql`c`)])}
       ORDER BY ${since}, t."id" LIMIT ${n})`;
  // The count reads the task indexes alone; the case is consulted only for what the filters ask of
  // it (a task's case row is written in the same transaction as the task).
  const ofCase = caseConds(Prisma.sql`h`);
  const caseOfTask =
    !q.stage && q.held === 'exclude'
      ? Prisma.sql`NOT EXISTS (SELECT 1 FROM "HouseholdCase" h WHERE h."id" = t."caseId" AND h."onHold")`
      : ofCase.length
        ? Prisma.sql`EXISTS (SELECT 1 FROM "HouseholdCase" h WHERE h."id" = t."caseId" AND ${and(ofCase)})`
        : Prisma.sql`TRUE`;
  const taskCount = (extra: Prisma.Sql[]) =>
    Prisma.sql`(SELECT count(*) FROM "CaseTask" t WHERE ${and([...task, ...extra, caseOfTask])})`;

  // Idle cases: stuck from the moment their policy's quiet period ran out, as a task is from its
  // due time, so `since`, `daysLate` and `minDays` mean the same for both. Found once, for both
  // the page and the count.
  const minIdleDays = Math.min(...allPolicies().map((p) => p.stuckAfterDays));
  const idleSince = Prisma.sql`(c."lastEventAt" + make_interval(days => ${policyCase(
    Prisma.sql`c."policyVersion"`,
    (p) => p.stuckAfterDays,
    minIdleDays,
  )}))`;
  const openWork = (agency?: string) => Prisma.sql`"CaseTask" o WHERE o."caseId" = c."id"
    AND o."status" IN ('open', 'awaiting_correction') ${agency ? Prisma.sql`AND o."agency" = ${agency}` : Prisma.empty}`;
  const idle =
    !q.taskType &&
    reasonIs('case_idle') &&
    Prisma.sql`idle AS MATERIALIZED (
      SELECT 'case:' || c."id" AS "id", ${idleSince} AS "since", c."id" AS "caseId" FROM "HouseholdCase" c
       WHERE ${and([
         Prisma.sql`c."endedAt" IS NULL`,
         Prisma.sql`c."lastEventAt" < ${new Date(now.getTime() - minIdleDays * DAY)}`,
         Prisma.sql`${idleSince} < ${now}`,
         inSubtree(Prisma.sql`c."regionCode"`, region),
         ...caseConds(Prisma.sql`c`),
         ...(q.agency ? [Prisma.sql`EXISTS (SELECT 1 FROM ${openWork(q.agency)})`] : []),
         ...(cutoff ? [Prisma.sql`${idleSince} <= ${cutoff}`] : []),
       ])}),`;

  const branches: Prisma.Sql[] = [];
  const counts: Prisma.Sql[] = [];
  if (overdue) {
    branches.push(taskBranch(overdue, overdueReason, Prisma.sql`t."dueAt"`));
    counts.push(taskCount(overdue));
  }
  if (escalated) {
    branches.push(taskBranch(escalated, Prisma.sql`'escalation_open'`, Prisma.sql`t."escalatedAt"`));
    counts.push(taskCount(escalated));
  }
  if (idle) {
    branches.push(Prisma.sql`(SELECT i."id", 'case_idle' AS "reason", i."since", i."caseId", NULL AS "taskId"
                                FROM idle i ORDER BY i."since", i."id" LIMIT ${n})`);
    counts.push(Prisma.sql`(SELECT count(*) FROM idle)`);
  }
  if (!branches.length) return { total: 0, items: [] };

  const rows = await db.$queryRaw<StuckRow[]>`
    WITH ${idle || Prisma.empty} page AS (
      SELECT * FROM (${Prisma.join(branches, ' UNION ALL ')}) s
       ORDER BY s."since", s."id" LIMIT ${q.limit} OFFSET ${q.offset})
    SELECT p."id", p."reason", p."since", t."escalatedAt" IS NOT NULL AS "escalated", t."escalatedTo",
           c."id" AS "caseId", COALESCE(t."workflowId", c."workflowId") AS "workflowId", t."id" AS "taskId",
           t."type" AS "taskType",
           CASE WHEN t."id" IS NULL
                THEN COALESCE((SELECT array_agg(DISTINCT o."agency") FROM ${openWork()}), '{}')
                ELSE ARRAY[t."agency"] END AS "holders",
           t."assignee", t."dueAt", c."stage", c."regionCode", c."onHold",
           (${Prisma.join(counts, ' + ')}) AS "total"
      FROM page p JOIN "HouseholdCase" c ON c."id" = p."caseId" LEFT JOIN "CaseTask" t ON t."id" = p."taskId"
     ORDER BY p."since", p."id"`;

  return {
    total: rows.length ? Number(rows[0]!.total) : 0,
    items: rows.map((r) => ({
      reason: r.reason,
      since: r.since.toISOString(),
      daysLate: Math.round(((now.getTime() - r.since.getTime()) / 86_400_000) * 10) / 10,
      escalated: r.escalated,
      caseId: r.caseId,
      stage: r.stage,
      regionCode: r.regionCode,
      onHold: r.onHold,
      task: r.taskId ? { id: r.taskId, type: r.taskType, workflowId: r.workflowId, dueAt: r.dueAt } : null,
      heldBy: { agencies: r.holders, assignee: r.assignee, escalatedTo: r.escalatedTo },
      links: {
        case: `/v1/cases/${r.caseId}`,
        ...(r.taskId ? { actions: `/v1/monitor/tasks/${encodeURIComponent(r.taskId)}/actions` } : {}),
        caseActions: `/v1/monitor/cases/${r.caseId}/actions`,
      },
    })),
  };
}
