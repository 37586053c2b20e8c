import { z } from 'zod';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { RegionCodeSchema } from '../../domain/agencies';
import { atCap, exitedAsOf, grantMilestone, judgedTask, lateTask, payment, stageLeft } from './filters';
import { and, inRegion } from './sql';

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const instant = z.iso.datetime({ offset: true }).transform((v) => new Date(v));
const year = z.coerce.number().int().min(2000).max(2100);
const page = {
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
};

/** The region (subtree), or with `exactRegion=true` only what sits at the region itself. */
const regionScope = (col: Prisma.Sql, region: string, exact: boolean | undefined) =>
  exact ? Prisma.sql`${col} = ${region}` : inRegion(col, region);

/** A page of rows (each carrying the window's `total`), each with a link to its case. */
function paged<T extends { total: bigint; caseId?: string; id?: string }>(
  rows: T[],
  item: (r: Omit<T, 'total'>) => object = (r) => r,
) {
  return {
    total: rows.length ? Number(rows[0]!.total) : 0,
    items: rows.map(({ total: _t, ...r }) => ({
      ...item(r),
      links: { case: `/v1/cases/${r.caseId ?? r.id}` },
    })),
  };
}

/** The cases behind a figure: the same filters the statistics use (filters.ts), by query parameter. */
export const CaseDrillSchema = z.object({
  region: RegionCodeSchema.optional(),
  exactRegion: bool.optional(),
  stage: z.string().min(1).optional(),
  tier: z.string().min(1).optional(),
  cause: z.string().min(1).optional(),
  open: bool.optional(),
  filedBefore: instant.optional(),
  exitedAsOf: instant.optional(),
  aidYear: year.optional(),
  aidMeasure: z.string().min(1).optional(),
  atCap: bool.optional(),
  grantedMeasure: z.string().min(1).optional(),
  grantYear: year.optional(),
  leftStage: z.string().min(1).optional(),
  leftYear: year.optional(),
  ...page,
});

export async function drillCases(db: Db, region: string, q: z.infer<typeof CaseDrillSchema>) {
  const w: Prisma.Sql[] = [regionScope(Prisma.sql`c."regionCode"`, region, q.exactRegion)];
  if (q.stage) w.push(Prisma.sql`c."stage" = ${q.stage}`);
  if (q.tier) w.push(Prisma.sql`c."tier" = ${q.tier}`);
  if (q.cause) w.push(Prisma.sql`${q.cause} = ANY(c."causes")`);
  if (q.open !== undefined)
    w.push(q.open ? Prisma.sql`c."endedAt" IS NULL` : Prisma.sql`c."endedAt" IS NOT NULL`);
  if (q.filedBefore) w.push(Prisma.sql`c."filedAt" < ${q.filedBefore}`);
  if (q.exitedAsOf) w.push(exitedAsOf(q.exitedAsOf));
  if (q.aidYear !== undefined)
    w.push(Prisma.sql`EXISTS (SELECT 1 FROM "AidDisbursement" d WHERE d."caseId" = c."id"
      AND ${payment(q.aidYear, q.aidMeasure)} GROUP BY d."caseId" ${q.atCap ? Prisma.sql`HAVING ${atCap()}` : Prisma.empty})`);
  if (q.grantedMeasure)
    w.push(Prisma.sql`EXISTS (SELECT 1 FROM "CaseMilestone" m WHERE m."caseId" = c."id"
      AND ${grantMilestone(q.grantedMeasure, q.grantYear)})`);
  if (q.leftStage)
    w.push(Prisma.sql`EXISTS (SELECT 1 FROM "CaseMilestone" m WHERE m."caseId" = c."id"
      AND ${stageLeft(q.leftStage, q.leftYear)})`);
  const rows = await db.$queryRaw<
    Array<{
      id: string;
      stage: string;
      tier: string | null;
      causes: string[];
      regionCode: string;
      fileNumber: string | null;
      openedAt: Date;
      filedAt: Date | null;
      endedAt: Date | null;
      onHold: boolean;
      lastEventAt: Date;
      total: bigint;
    }>
  >`SELECT c."id", c."stage", c."tier", c."causes", c."regionCode", c."fileNumber", c."openedAt", c."filedAt",
           c."endedAt", c."onHold", c."lastEventAt", count(*) OVER () AS total
      FROM "HouseholdCase" c WHERE ${and(w)}
     ORDER BY c."openedAt", c."id" LIMIT ${q.limit} OFFSET ${q.offset}`;
  return paged(rows);
}

/** The tasks behind an on-time figure: those the year's rate judges, on time or late. */
export const TaskDrillSchema = z.object({
  region: RegionCodeSchema.optional(),
  agency: z.string().min(1).optional(),
  type: z.string().min(1).optional(),
  onTimeYear: year.optional(),
  late: bool.optional(),
  ...page,
});

export async function drillTasks(
  db: Db,
  region: string,
  q: z.infer<typeof TaskDrillSchema>,
  now = new Date(),
) {
  const w: Prisma.Sql[] = [inRegion(Prisma.sql`t."regionCode"`, region)];
  if (q.agency) w.push(Prisma.sql`t."agency" = ${q.agency}`);
  if (q.type) w.push(Prisma.sql`t."type" = ${q.type}`);
  if (q.onTimeYear !== undefined) w.push(judgedTask(q.onTimeYear, now));
  if (q.late !== undefined) w.push(q.late ? lateTask(now) : Prisma.sql`NOT ${lateTask(now)}`);
  const rows = await db.$queryRaw<
    Array<{
      id: string;
      caseId: string;
      type: string;
      agency: string;
      status: string;
      dueAt: Date;
      completedAt: Date | null;
      completedBy: string | null;
      total: bigint;
    }>
  >`SELECT t."id", t."caseId", t."type", t."agency", t."status", t."dueAt", t."completedAt", t."completedBy",
           count(*) OVER () AS total
      FROM "CaseTask" t WHERE ${and(w)} ORDER BY t."completedAt" DESC NULLS LAST, t."id"
     LIMIT ${q.limit} OFFSET ${q.offset}`;
  return paged(rows);
}

/** The union-aid payments behind person-times and paid totals (one row a payment). */
export const PaymentDrillSchema = z.object({
  region: RegionCodeSchema.optional(),
  year,
  measure: z.string().min(1).optional(),
  ...page,
});

export async function drillPayments(db: Db, region: string, q: z.infer<typeof PaymentDrillSchema>) {
  const rows = await db.$queryRaw<
    Array<{
      paymentId: string;
      caseId: string;
      measure: string;
      amountCents: number;
      year: number;
      paidAt: Date;
      total: bigint;
    }>
  >`SELECT d."paymentId", d."caseId", d."measure", d."amountCents", d."year", d."paidAt", count(*) OVER () AS total
      FROM "AidDisbursement" d JOIN "HouseholdCase" c ON c."id" = d."caseId"
     WHERE ${payment(q.year, q.measure)} AND ${inRegion(Prisma.sql`c."regionCode"`, region)}
     ORDER BY d."paidAt", d."paymentId" LIMIT ${q.limit} OFFSET ${q.offset}`;
  return paged(rows);
}

/** The milestones behind person-times of referrals (grants) and the days per stage (departures). */
export const MilestoneDrillSchema = z
  .object({
    /** `grant`: referrals granted, by measure (`key`); `stage`: timed departures from `fromStage`. */
    kind: z.enum(['grant', 'stage']),
    region: RegionCodeSchema.optional(),
    key: z.string().min(1).optional(),
    fromStage: z.string().min(1).optional(),
    year: year.optional(),
    ...page,
  })
  .refine((q) => q.kind === 'grant' || q.key === undefined, {
    path: ['key'],
    message: 'filters grants by measure; for stage departures use fromStage',
  })
  .refine((q) => q.kind === 'stage' || q.fromStage === undefined, {
    path: ['fromStage'],
    message: 'filters stage departures; for grants use key',
  });

export async function drillMilestones(db: Db, region: string, q: z.infer<typeof MilestoneDrillSchema>) {
  const rule = q.kind === 'grant' ? grantMilestone(q.key, q.year) : stageLeft(q.fromStage, q.year);
  const rows = await db.$queryRaw<
    Array<{
      caseId: string;
      kind: string;
      key: string;
      fromStage: string | null;
      durationMs: bigint | null;
      at: Date;
      total: bigint;
    }>
  >`SELECT m."caseId", m."kind", m."key", m."fromStage", m."durationMs", m."at", count(*) OVER () AS total
      FROM "CaseMilestone" m JOIN "HouseholdCase" c ON c."id" = m."caseId"
     WHERE ${rule} AND ${inRegion(Prisma.sql`c."regionCode"`, region)}
     ORDER BY m."at", m."workflowId", m."seq" LIMIT ${q.limit} OFFSET ${q.offset}`;
  return paged(rows, ({ durationMs, ...r }) => ({
    ...r,
    durationMs: durationMs === null ? null : Number(durationMs),
  }));
}
