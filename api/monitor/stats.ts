import { z } from 'zod';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { RegionCodeSchema, regionWithin } from '../../domain/agencies';
import { exitTargets, targetFor, type ExitTarget } from '../../domain/targets';
import { overdueIn } from './filters';
import { childRegion, currentYear, href, inSubtree, policyValues, yearBounds } from './sql';

/*
 * The figures are sums of tallies that triggers keep in the same transaction as the projection writes
 * (migration 20261123050100_monitor_tallies): a case row, milestone or payment written refreshes that
 * case's contribution to every figure (`monitor_case_tallies`, kept in MonitorCaseTally) and adds the
 * difference to per-region sums (MonitorTally); a task's completion counts per region and agency
 * (MonitorTaskTally); each timed stage departure is kept once per enclosing region in duration order
 * (MonitorStageTime), so a median is read at an offset. Open tasks past due are the one figure counted
 * live, from the open-task index: the clock, not a write, makes them late. `monitor_rebuild_tallies()`
 * recounts everything (after a bulk load made with the triggers disabled; TRUNCATE does not fire them).
 */
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

/** MonitorTally rows `s` of `figure` (one, or any of several) in the region's subtree. */
const tally = (figure: string | string[], region: string) =>
  Prisma.sql`s."figure" IN (${Prisma.join([figure].flat())}) AND ${inSubtree(Prisma.sql`s."regionCode"`, region)}`;
/** Tally keys are never NULL: a NULL stage or cause is kept as ''. */
const keyOut = Prisma.sql`NULLIF(s."key", '')`;

/** Exit-target rows: the entry's own region, then each child region (and the region's own cases). */
async function exitTargetRows(db: Db, region: string, year: number) {
  const { end } = yearBounds(year);
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
      // Files by the end of the year (by tier), and the change in "filed and out at the end of
      // the year" summed up to it (exitedAsOf in filters.ts).
      const basis = t.basis === 'deep' ? Prisma.sql`AND s."key" = 'deep'` : Prisma.empty;
      const rows = await db.$queryRaw<Array<{ key: string; files: number; exits: number }>>`
        SELECT ${childRegion(Prisma.sql`s."regionCode"`, at)} AS key,
               (sum(s."n") FILTER (WHERE s."figure" = 'filed'))::int AS files,
               COALESCE(sum(s."n") FILTER (WHERE s."figure" = 'exit'), 0)::int AS exits
          FROM "MonitorTally" s WHERE ${tally(['filed', 'exit'], at)} AND s."year" <= ${year} ${basis}
         GROUP BY 1 HAVING sum(s."n") FILTER (WHERE s."figure" = 'filed') > 0 ORDER BY 1`;
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
 * The programme's figures for a region. Every count carries the link to exactly the cases, tasks,
 * payments or milestones it counts (filters.ts holds each rule). They are sums of the tallies the
 * projection's triggers keep per region (migration 20261123050100_monitor_tallies), except the
 * open tasks already late, which the clock makes late: those are counted from the index on open
 * tasks. Medians are read at an offset in the stage times of the region (MonitorStageTime).
 */
export async function programStats(db: Db, region: string, year = currentYear(), now = new Date()) {
  const caps = policyValues((p) => p.annualAidCapCents);
  const inYear = Prisma.sql`AND s."year" = ${year}`;

  const [households, aid, aidByMeasure, grants, stageDays, onTime, exits] = await Promise.all([
    db.$queryRaw<Array<Row & { figure: string }>>`
      SELECT s."figure", CASE WHEN s."figure" = 'open' THEN ${childRegion(Prisma.sql`s."regionCode"`, region)}
                              ELSE ${keyOut} END AS key, sum(s."n")::int AS n
        FROM "MonitorTally" s WHERE ${tally(['stage', 'tier', 'cause', 'open'], region)} AND s."year" = 0
       GROUP BY 1, 2 HAVING sum(s."n") > 0 ORDER BY 1, 2`,
    db.$queryRaw<Array<{ households: number; paid: bigint | null; capTotal: bigint | null; atCap: number }>>`
      SELECT COALESCE(sum(s."households"), 0)::int AS households, sum(s."cents")::bigint AS paid,
             sum(s."households" * p.cap)::bigint AS "capTotal",
             (SELECT count(*)::int FROM "MonitorCaseTally" t JOIN ${caps} q(version, cap) ON q.version = t."key"
               WHERE t."figure" = 'aid' AND t."year" = ${year} AND t."cents" >= q.cap
                 AND ${inSubtree(Prisma.sql`t."regionCode"`, region)}) AS "atCap"
        FROM "MonitorTally" s LEFT JOIN ${caps} p(version, cap) ON p.version = s."key"
       WHERE ${tally('aid', region)} ${inYear}`,
    db.$queryRaw<Array<Row & { households: number; cents: bigint }>>`
      SELECT s."key", sum(s."n")::int AS n, sum(s."households")::int AS households, sum(s."cents")::bigint AS cents
        FROM "MonitorTally" s WHERE ${tally('aid_measure', region)} ${inYear} GROUP BY 1 HAVING sum(s."n") > 0 ORDER BY 1`,
    db.$queryRaw<Array<Row & { households: number }>>`
      SELECT s."key", sum(s."n")::int AS n, sum(s."households")::int AS households
        FROM "MonitorTally" s WHERE ${tally('grant', region)} ${inYear} GROUP BY 1 HAVING sum(s."n") > 0 ORDER BY 1`,
    // percentile_cont(0.5): the value at (n - 1) / 2, or halfway between it and the next one.
    db.$queryRaw<Array<{ key: string; n: number; households: number; medianMs: number }>>`
      WITH k AS (
        SELECT ${keyOut} AS key, s."key" AS "fromStage", sum(s."n")::int AS n, sum(s."households")::int AS households
          FROM "MonitorTally" s WHERE ${tally('departure', region)} ${inYear} GROUP BY 1, 2 HAVING sum(s."n") > 0)
      SELECT k.key, k.n, k.households, mid.lo + 0.5 * (mid.hi - mid.lo) AS "medianMs"
        FROM k CROSS JOIN LATERAL (
          SELECT min(x.ms) AS lo, max(x.ms) AS hi
            FROM (SELECT m."durationMs"::float8 AS ms FROM "MonitorStageTime" m
                   WHERE m."scope" = ${region} AND m."year" = ${year} AND m."fromStage" = k."fromStage"
                   ORDER BY m."durationMs" OFFSET (k.n - 1) / 2 LIMIT 2 - k.n % 2) x) mid
       ORDER BY 1`,
    // Completed tasks from the tally; open ones past due (all late) from the index on open tasks.
    db.$queryRaw<Array<{ key: string; n: number; completed: number; late: number }>>`
      WITH done AS (
        SELECT s."agency", sum(s."completed") AS completed, sum(s."late") AS late
          FROM "MonitorTaskTally" s
         WHERE s."year" = ${year} AND ${inSubtree(Prisma.sql`s."regionCode"`, region)} GROUP BY 1),
      overdue AS (
        SELECT t."agency", count(*) AS n FROM "CaseTask" t
         WHERE ${overdueIn(year, now)} AND ${inSubtree(Prisma.sql`t."regionCode"`, region)} GROUP BY 1)
      SELECT COALESCE(d."agency", o."agency") AS key,
             (COALESCE(d.completed, 0) + COALESCE(o.n, 0))::int AS n, COALESCE(d.completed, 0)::int AS completed,
             (COALESCE(d.late, 0) + COALESCE(o.n, 0))::int AS late
        FROM done d FULL JOIN overdue o ON o."agency" = d."agency"
       WHERE COALESCE(d.completed, 0) + COALESCE(o.n, 0) > 0
       ORDER BY 1`,
    exitTargetRows(db, region, year),
  ]);
  const figure = (name: string): Row[] =>
    households.filter((r) => r.figure === name).map(({ key, n }) => ({ key, n }));
  const [byStage, byTier, byCause, byRegion] = ['stage', 'tier', 'cause', 'open'].map(figure);

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
      byStage: counted(byStage!, 'stage'),
      byTier: counted(byTier!, 'tier', { open: true }),
      byCause: counted(byCause!, 'cause', { open: true }),
      byRegion: counted(byRegion!, 'region', { open: true }),
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
