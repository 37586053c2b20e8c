import { z } from 'zod';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { RegionCodeSchema, regionWithin } from '../../domain/agencies';
import { exitTargets, targetFor, type ExitTarget } from '../../domain/targets';
import { atCap, exitedAsOf, grantMilestone, judgedTask, lateTask, payment, stageLeft } from './filters';
import { and, childRegion, currentYear, href, inRegion, policyValues, yearBounds } from './sql';

export const StatsQuerySchema = z.object({
  region: RegionCodeSchema.optional(),
  year: z.coerce.number().int().min(2000).max(2100).optional(),
});

const CASES = '/v1/monitor/cases';
const TASKS = '/v1/monitor/tasks';
const PAYMENTS = '/v1/monitor/payments';
const MILESTONES = '/v1/monitor/milestones';
type Row = { key: string | null; n: number };

/** Link parameters for the cases of a per-region row: the parent itself holds only its own cases. */
const regionLink = (key: string, parent: string) =>
  key === parent ? { region: key, exactRegion: true } : { region: key };

/** Exit-target rows: the entry's own region, then each child region (and the region's own cases). */
async function exitTargetRows(db: Db, region: string, year: number) {
  const { end } = yearBounds(year);
  const c = Prisma.raw('c."regionCode"');
  const entries: Array<{ at: string; target: ExitTarget }> = [];
  for (const basis of ['deep', 'all'] as const) {
    const own = targetFor(region, year, basis);
    if (own) entries.push({ at: region, target: own });
    for (const t of exitTargets)
      if (t.year === year && t.basis === basis && t.region !== region && regionWithin(t.region, region))
        entries.push({ at: t.region, target: t });
  }
  return Promise.all(
    entries.map(async ({ at, target: t }) => {
      const basis = t.basis === 'deep' ? Prisma.sql`AND c."tier" = 'deep'` : Prisma.empty;
      const rows = await db.$queryRaw<Array<{ key: string; files: number; exits: number }>>`
        SELECT ${childRegion(c, at)} AS key, count(*)::int AS files,
               (count(*) FILTER (WHERE ${exitedAsOf(end)}))::int AS exits
          FROM "HouseholdCase" c
         WHERE ${inRegion(c, at)} AND c."filedAt" < ${end} ${basis}
         GROUP BY 1 ORDER BY 1`;
      const figure = (
        r: string,
        share: number,
        files: number,
        exits: number,
        extra: Record<string, string | boolean> = {},
      ) => {
        const target = Math.ceil(files * share);
        const filter = {
          region: r,
          ...extra,
          tier: t.basis === 'deep' ? 'deep' : undefined,
          filedBefore: end.toISOString(),
        };
        return {
          region: r,
          share,
          files,
          target,
          exits,
          progress: target ? Math.round((exits / target) * 1000) / 1000 : null,
          met: exits >= target,
          cases: {
            files: href(CASES, filter),
            exits: href(CASES, { ...filter, exitedAsOf: end.toISOString() }),
          },
        };
      };
      const sum = (k: 'files' | 'exits') => rows.reduce((a, r) => a + r[k], 0);
      return {
        ...figure(at, t.share, sum('files'), sum('exits')),
        targetRegion: t.region,
        year,
        basis: t.basis,
        byRegion: rows.map((r) => ({
          ...figure(
            r.key,
            targetFor(r.key, year, t.basis)?.share ?? t.share,
            r.files,
            r.exits,
            r.key === at ? { exactRegion: true } : {},
          ),
          exactRegion: r.key === at,
        })),
      };
    }),
  );
}

/**
 * The programme's figures for a region, from the database projection. Every count carries the
 * link to exactly the cases, tasks, payments or milestones it counts (filters.ts holds each rule).
 */
export async function programStats(db: Db, region: string, year = currentYear(), now = new Date()) {
  const c = (col: string) => Prisma.raw(`c."${col}"`);
  const scope = inRegion(c('regionCode'), region);
  const open = and([scope, Prisma.sql`c."endedAt" IS NULL`]);
  const caps = policyValues((p) => p.annualAidCapCents);

  const [byStage, byTier, byCause, byRegion, aid, aidByMeasure, grants, stageDays, onTime, exits] =
    await Promise.all([
      db.$queryRaw<Row[]>`SELECT c."stage" AS key, count(*)::int AS n FROM "HouseholdCase" c
                        WHERE ${scope} GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<Row[]>`SELECT c."tier" AS key, count(*)::int AS n FROM "HouseholdCase" c
                        WHERE ${open} AND c."tier" IS NOT NULL GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<Row[]>`SELECT unnest(c."causes") AS key, count(*)::int AS n FROM "HouseholdCase" c
                        WHERE ${open} GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<Row[]>`SELECT ${childRegion(c('regionCode'), region)} AS key, count(*)::int AS n
                        FROM "HouseholdCase" c WHERE ${open} GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<
        Array<{ households: number; paid: bigint | null; capTotal: bigint | null; atCap: number }>
      >`
      WITH h AS (
        SELECT d."caseId", sum(d."amountCents") AS paid, max(p.cap) AS cap, ${atCap()} AS "atCap"
          FROM "AidDisbursement" d JOIN "HouseholdCase" c ON c."id" = d."caseId"
          LEFT JOIN ${caps} p(version, cap) ON p.version = c."policyVersion"
         WHERE ${payment(year)} AND ${scope} GROUP BY d."caseId", c."policyVersion")
      SELECT count(*)::int AS households, sum(paid)::bigint AS paid, sum(cap)::bigint AS "capTotal",
             (count(*) FILTER (WHERE "atCap"))::int AS "atCap" FROM h`,
      db.$queryRaw<Array<Row & { households: number; cents: bigint }>>`
        SELECT d."measure" AS key, count(*)::int AS n, count(DISTINCT d."caseId")::int AS households,
               sum(d."amountCents")::bigint AS cents
          FROM "AidDisbursement" d JOIN "HouseholdCase" c ON c."id" = d."caseId"
         WHERE ${payment(year)} AND ${scope} GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<Array<Row & { households: number }>>`
        SELECT m."key" AS key, count(*)::int AS n, count(DISTINCT m."caseId")::int AS households
          FROM "CaseMilestone" m JOIN "HouseholdCase" c ON c."id" = m."caseId"
         WHERE ${grantMilestone(undefined, year)} AND ${scope}
         GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<Array<{ key: string; n: number; households: number; medianMs: number }>>`
        SELECT m."fromStage" AS key, count(*)::int AS n, count(DISTINCT m."caseId")::int AS households,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY m."durationMs") AS "medianMs"
          FROM "CaseMilestone" m JOIN "HouseholdCase" c ON c."id" = m."caseId"
         WHERE ${stageLeft(undefined, year)} AND ${scope}
         GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<Array<{ key: string; n: number; completed: number; late: number }>>`
        SELECT t."agency" AS key, count(*)::int AS n,
               (count(*) FILTER (WHERE t."status" = 'completed'))::int AS completed,
               (count(*) FILTER (WHERE ${lateTask(now)}))::int AS late
          FROM "CaseTask" t
         WHERE ${judgedTask(year, now)} AND ${inRegion(Prisma.sql`t."regionCode"`, region)}
         GROUP BY 1 ORDER BY 1`,
      exitTargetRows(db, region, year),
    ]);

  const counted = (rows: Row[], param: string, extra: Record<string, string | boolean> = {}) =>
    rows.map((r) => ({
      key: r.key,
      households: r.n,
      cases: href(CASES, {
        region,
        ...extra,
        ...(param === 'region' ? regionLink(r.key!, region) : { [param]: r.key! }),
      }),
    }));
  const a = aid[0]!;
  return {
    region,
    year,
    households: {
      byStage: counted(byStage, 'stage'),
      byTier: counted(byTier, 'tier', { open: true }),
      byCause: counted(byCause, 'cause', { open: true }),
      byRegion: counted(byRegion, 'region', { open: true }),
    },
    exitTargets: exits,
    aid: {
      households: a.households,
      paidCents: Number(a.paid ?? 0),
      capCents: Number(a.capTotal ?? 0),
      householdsAtCap: a.atCap,
      cases: href(CASES, { region, aidYear: year }),
      casesAtCap: href(CASES, { region, aidYear: year, atCap: true }),
      payments: href(PAYMENTS, { region, year }),
    },
    /** 人次: one per grant or payment (`rows`); `households` counts each household once (`cases`). */
    personTimesByMeasure: [
      ...grants.map((g) => ({
        measure: g.key,
        kind: 'referral',
        personTimes: g.n,
        households: g.households,
        rows: href(MILESTONES, { region, kind: 'grant', key: g.key!, year }),
        cases: href(CASES, { region, grantedMeasure: g.key!, grantYear: year }),
      })),
      ...aidByMeasure.map((m) => ({
        measure: m.key,
        kind: 'union_aid',
        personTimes: m.n,
        households: m.households,
        paidCents: Number(m.cents),
        rows: href(PAYMENTS, { region, year, measure: m.key! }),
        cases: href(CASES, { region, aidYear: year, aidMeasure: m.key! }),
      })),
    ],
    medianDaysPerStage: stageDays.map((s) => ({
      stage: s.key,
      medianDays: Math.round((Number(s.medianMs) / 86_400_000) * 10) / 10,
      transitions: s.n,
      households: s.households,
      rows: href(MILESTONES, { region, kind: 'stage', fromStage: s.key, year }),
      cases: href(CASES, { region, leftStage: s.key, leftYear: year }),
    })),
    /** Tasks completed in the year, and open ones already past a due time in the year (late). */
    onTimeByAgency: onTime.map((o) => ({
      agency: o.key,
      judged: o.n,
      completed: o.completed,
      openOverdue: o.n - o.completed,
      onTime: o.n - o.late,
      late: o.late,
      rate: o.n ? Math.round(((o.n - o.late) / o.n) * 1000) / 1000 : null,
      tasks: href(TASKS, { region, agency: o.key, onTimeYear: year }),
      onTimeTasks: href(TASKS, { region, agency: o.key, onTimeYear: year, late: false }),
      lateTasks: href(TASKS, { region, agency: o.key, onTimeYear: year, late: true }),
    })),
  };
}
