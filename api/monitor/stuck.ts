import { z } from 'zod';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { RegionCodeSchema } from '../../domain/agencies';
import { allPolicies, and, inRegion, policyValues } from './sql';

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

/**
 * Everything stuck in a region, latest first: open tasks past their due time (named by kind:
 * referral not accepted, missed cadre visit, missed follow-up, other overdue task), escalations
 * still open, and open cases with no event for the policy's `stuckAfterDays` (stuck since that
 * period ran out).
 */
export async function stuckList(db: Db, region: string, q: StuckQuery, now = new Date()) {
  const taskConds = [
    Prisma.sql`t."status" = 'open'`,
    Prisma.sql`(t."dueAt" < ${now} OR t."escalatedAt" IS NOT NULL)`,
    inRegion(Prisma.sql`t."regionCode"`, region),
  ];
  if (q.agency) taskConds.push(Prisma.sql`t."agency" = ${q.agency}`);
  if (q.taskType) taskConds.push(Prisma.sql`t."type" = ${q.taskType}`);
  const days = policyValues((p) => p.stuckAfterDays);
  const minIdleDays = Math.min(...allPolicies().map((p) => p.stuckAfterDays));
  // An idle case is stuck from the moment its policy's quiet period ran out, as a task is from its
  // due time: `since`, `daysLate` and `minDays` then mean the same for both.
  const idleSince = Prisma.sql`(c."lastEventAt" + make_interval(days => COALESCE(p.days, ${minIdleDays})::int))`;
  const idle = q.taskType
    ? Prisma.empty
    : Prisma.sql`
      UNION ALL
      SELECT 'case:' || c."id", 'case_idle', ${idleSince}, false, NULL::jsonb, c."id", c."workflowId",
             NULL, NULL,
             COALESCE((SELECT array_agg(DISTINCT o."agency") FROM "CaseTask" o
                        WHERE o."caseId" = c."id" AND o."status" IN ('open', 'awaiting_correction')), '{}'),
             NULL, NULL, c."stage", c."regionCode", c."onHold"
        FROM "HouseholdCase" c LEFT JOIN ${days} p(version, days) ON p.version = c."policyVersion"
       WHERE c."endedAt" IS NULL
         AND c."lastEventAt" < ${new Date(now.getTime() - minIdleDays * 86_400_000)}
         AND ${idleSince} < ${now}
         AND ${inRegion(Prisma.sql`c."regionCode"`, region)}`;
  const outer: Prisma.Sql[] = [];
  if (q.stage) outer.push(Prisma.sql`s."stage" = ${q.stage}`);
  if (q.agency) outer.push(Prisma.sql`${q.agency} = ANY(s."holders")`);
  if (q.reason)
    outer.push(
      q.reason === 'escalation_open' ? Prisma.sql`s."escalated"` : Prisma.sql`s."reason" = ${q.reason}`,
    );
  if (q.minDays !== undefined)
    outer.push(Prisma.sql`s."since" <= ${new Date(now.getTime() - q.minDays * 86_400_000)}`);
  if (q.held === 'exclude') outer.push(Prisma.sql`NOT s."onHold"`);
  if (q.held === 'only') outer.push(Prisma.sql`s."onHold"`);

  const rows = await db.$queryRaw<StuckRow[]>`
    WITH s AS (
      SELECT 'task:' || t."id" AS "id",
             CASE WHEN t."dueAt" >= ${now} THEN 'escalation_open'
                  WHEN t."type" = 'referralAcceptance' THEN 'referral_not_accepted'
                  WHEN t."type" = 'cadreVisit' THEN 'cadre_visit_missed'
                  WHEN t."type" = 'followUpVisit' THEN 'follow_up_missed'
                  ELSE 'task_overdue' END AS "reason",
             CASE WHEN t."dueAt" < ${now} THEN t."dueAt" ELSE t."escalatedAt" END AS "since",
             t."escalatedAt" IS NOT NULL AS "escalated", t."escalatedTo",
             t."caseId", t."workflowId", t."id" AS "taskId", t."type" AS "taskType",
             ARRAY[t."agency"] AS "holders", t."assignee", t."dueAt",
             c."stage", c."regionCode", c."onHold"
        FROM "CaseTask" t JOIN "HouseholdCase" c ON c."id" = t."caseId"
       WHERE ${and(taskConds)}
      ${idle}
    )
    SELECT s.*, count(*) OVER () AS "total" FROM s
     WHERE ${and(outer)}
     ORDER BY s."since" ASC, s."id" ASC
     LIMIT ${q.limit} OFFSET ${q.offset}`;

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
