import { z } from 'zod';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { RegionCodeSchema } from '../../domain/agencies';
import { and, inRegion, policyValues, yearBounds } from './sql';

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const instant = z.iso.datetime({ offset: true }).transform((v) => new Date(v));
const year = z.coerce.number().int().min(2000).max(2100);

/** The cases behind a figure: the same filters the statistics use, by query parameter. */
export const CaseDrillSchema = z.object({
  region: RegionCodeSchema.optional(),
  stage: z.string().min(1).optional(),
  tier: z.string().min(1).optional(),
  cause: z.string().min(1).optional(),
  open: bool.optional(),
  filedBefore: instant.optional(),
  exitedBefore: instant.optional(),
  aidYear: year.optional(),
  aidMeasure: z.string().min(1).optional(),
  atCap: bool.optional(),
  grantedMeasure: z.string().min(1).optional(),
  grantYear: year.optional(),
  leftStage: z.string().min(1).optional(),
  leftYear: year.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export async function drillCases(db: Db, region: string, q: z.infer<typeof CaseDrillSchema>) {
  const w: Prisma.Sql[] = [inRegion(Prisma.sql`c."regionCode"`, region)];
  if (q.stage) w.push(Prisma.sql`c."stage" = ${q.stage}`);
  if (q.tier) w.push(Prisma.sql`c."tier" = ${q.tier}`);
  if (q.cause) w.push(Prisma.sql`${q.cause} = ANY(c."causes")`);
  if (q.open !== undefined)
    w.push(q.open ? Prisma.sql`c."endedAt" IS NULL` : Prisma.sql`c."endedAt" IS NOT NULL`);
  if (q.filedBefore) w.push(Prisma.sql`c."filedAt" < ${q.filedBefore}`);
  if (q.exitedBefore)
    w.push(Prisma.sql`c."stage" IN ('gradual_exit', 'closed') AND (SELECT max(m."at") FROM "CaseMilestone" m
      WHERE m."caseId" = c."id" AND m."kind" = 'stage' AND m."key" = 'gradual_exit') < ${q.exitedBefore}`);
  if (q.aidYear !== undefined) {
    const measure = q.aidMeasure ? Prisma.sql`AND d."measure" = ${q.aidMeasure}` : Prisma.empty;
    const cap = q.atCap
      ? Prisma.sql`HAVING sum(d."amountCents") >= (SELECT p.cap FROM ${policyValues((p) => p.annualAidCapCents)}
          p(version, cap) WHERE p.version = c."policyVersion")`
      : Prisma.empty;
    w.push(Prisma.sql`EXISTS (SELECT 1 FROM "AidDisbursement" d WHERE d."caseId" = c."id"
      AND d."year" = ${q.aidYear} ${measure} GROUP BY d."caseId" ${cap})`);
  }
  if (q.grantedMeasure) {
    const b = q.grantYear ? yearBounds(q.grantYear) : null;
    w.push(Prisma.sql`EXISTS (SELECT 1 FROM "CaseMilestone" m WHERE m."caseId" = c."id" AND m."kind" = 'grant'
      AND m."key" = ${q.grantedMeasure} ${b ? Prisma.sql`AND m."at" >= ${b.start} AND m."at" < ${b.end}` : Prisma.empty})`);
  }
  if (q.leftStage) {
    const b = q.leftYear ? yearBounds(q.leftYear) : null;
    w.push(Prisma.sql`EXISTS (SELECT 1 FROM "CaseMilestone" m WHERE m."caseId" = c."id" AND m."kind" = 'stage'
      AND m."fromStage" = ${q.leftStage} ${b ? Prisma.sql`AND m."at" >= ${b.start} AND m."at" < ${b.end}` : Prisma.empty})`);
  }
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
  return {
    total: rows.length ? Number(rows[0]!.total) : 0,
    items: rows.map(({ total: _t, ...r }) => ({ ...r, links: { case: `/v1/cases/${r.id}` } })),
  };
}

export const TaskDrillSchema = z.object({
  region: RegionCodeSchema.optional(),
  agency: z.string().min(1).optional(),
  type: z.string().min(1).optional(),
  completedYear: year.optional(),
  late: bool.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export async function drillTasks(db: Db, region: string, q: z.infer<typeof TaskDrillSchema>) {
  const w: Prisma.Sql[] = [inRegion(Prisma.sql`t."regionCode"`, region)];
  if (q.agency) w.push(Prisma.sql`t."agency" = ${q.agency}`);
  if (q.type) w.push(Prisma.sql`t."type" = ${q.type}`);
  if (q.completedYear !== undefined) {
    const b = yearBounds(q.completedYear);
    w.push(
      Prisma.sql`t."status" = 'completed' AND t."completedAt" >= ${b.start} AND t."completedAt" < ${b.end}`,
    );
  }
  if (q.late !== undefined)
    w.push(q.late ? Prisma.sql`t."completedAt" > t."dueAt"` : Prisma.sql`t."completedAt" <= t."dueAt"`);
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
  return {
    total: rows.length ? Number(rows[0]!.total) : 0,
    items: rows.map(({ total: _t, ...r }) => ({ ...r, links: { case: `/v1/cases/${r.caseId}` } })),
  };
}
