import { z } from 'zod';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { RegionCodeSchema, regionWithin } from '../../domain/agencies';
import { exitTargets } from '../../domain/targets';
import { and, childRegion, currentYear, href, inRegion, policyValues, yearBounds } from './sql';

export const StatsQuerySchema = z.object({
  region: RegionCodeSchema.optional(),
  year: z.coerce.number().int().min(2000).max(2100).optional(),
});

const CASES = '/v1/monitor/cases';
type Row = { key: string | null; n: number };

/**
 * The programme's figures for a region, from the database projection. Every figure carries the
 * link to the cases (or tasks) behind it.
 */
export async function programStats(db: Db, region: string, year = currentYear()) {
  const { start, end } = yearBounds(year);
  const c = (col: string) => Prisma.raw(`c."${col}"`);
  const scope = inRegion(c('regionCode'), region);
  const open = and([scope, Prisma.sql`c."endedAt" IS NULL`]);
  const caps = policyValues((p) => p.annualAidCapCents);
  const targets = exitTargets.filter(
    (t) => t.year === year && (regionWithin(t.region, region) || regionWithin(region, t.region)),
  );

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
        SELECT d."caseId", sum(d."amountCents") AS paid, max(p.cap) AS cap
          FROM "AidDisbursement" d JOIN "HouseholdCase" c ON c."id" = d."caseId"
          LEFT JOIN ${caps} p(version, cap) ON p.version = c."policyVersion"
         WHERE d."year" = ${year} AND ${scope} GROUP BY d."caseId")
      SELECT count(*)::int AS households, sum(paid)::bigint AS paid, sum(cap)::bigint AS "capTotal",
             (count(*) FILTER (WHERE paid >= cap))::int AS "atCap" FROM h`,
      db.$queryRaw<Array<Row & { cents: bigint }>>`
        SELECT d."measure" AS key, count(*)::int AS n, sum(d."amountCents")::bigint AS cents
          FROM "AidDisbursement" d JOIN "HouseholdCase" c ON c."id" = d."caseId"
         WHERE d."year" = ${year} AND ${scope} GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<Row[]>`
        SELECT m."key" AS key, count(*)::int AS n
          FROM "CaseMilestone" m JOIN "HouseholdCase" c ON c."id" = m."caseId"
         WHERE m."kind" = 'grant' AND m."at" >= ${start} AND m."at" < ${end} AND ${scope}
         GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<Array<{ key: string; n: number; medianMs: number }>>`
        SELECT m."fromStage" AS key, count(*)::int AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY m."durationMs") AS "medianMs"
          FROM "CaseMilestone" m JOIN "HouseholdCase" c ON c."id" = m."caseId"
         WHERE m."kind" = 'stage' AND m."durationMs" IS NOT NULL AND m."at" >= ${start} AND m."at" < ${end}
           AND ${scope}
         GROUP BY 1 ORDER BY 1`,
      db.$queryRaw<Array<{ key: string; n: number; onTime: number }>>`
        SELECT t."agency" AS key, count(*)::int AS n,
               (count(*) FILTER (WHERE t."completedAt" <= t."dueAt"))::int AS "onTime"
          FROM "CaseTask" t
         WHERE t."status" = 'completed' AND t."completedAt" >= ${start} AND t."completedAt" < ${end}
           AND ${inRegion(Prisma.sql`t."regionCode"`, region)}
         GROUP BY 1 ORDER BY 1`,
      Promise.all(
        targets.map(async (t) => {
          const at = regionWithin(region, t.region) ? region : t.region;
          const basis = t.basis === 'deep' ? Prisma.sql`AND c."tier" = 'deep'` : Prisma.empty;
          const [r] = await db.$queryRaw<Array<{ files: number; exits: number }>>`
            SELECT count(*)::int AS files,
                   (count(*) FILTER (WHERE c."stage" IN ('gradual_exit', 'closed') AND
                      (SELECT max(m."at") FROM "CaseMilestone" m WHERE m."caseId" = c."id"
                          AND m."kind" = 'stage' AND m."key" = 'gradual_exit') < ${end}))::int AS exits
              FROM "HouseholdCase" c
             WHERE ${inRegion(c('regionCode'), at)} AND c."filedAt" < ${end} ${basis}`;
          const target = Math.ceil(r!.files * t.share);
          const filter = {
            region: at,
            tier: t.basis === 'deep' ? 'deep' : undefined,
            filedBefore: end.toISOString(),
          };
          return {
            region: at,
            targetRegion: t.region,
            year,
            basis: t.basis,
            share: t.share,
            files: r!.files,
            target,
            exits: r!.exits,
            progress: target ? Math.round((r!.exits / target) * 1000) / 1000 : null,
            met: r!.exits >= target,
            cases: {
              files: href(CASES, filter),
              exits: href(CASES, { ...filter, exitedBefore: end.toISOString() }),
            },
          };
        }),
      ),
    ]);

  const counted = (rows: Row[], param: string, extra: Record<string, string | boolean> = {}) =>
    rows.map((r) => ({
      key: r.key,
      households: r.n,
      cases: href(CASES, { region: param === 'region' ? r.key! : region, ...extra, [param]: r.key! }),
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
    },
    personTimesByMeasure: [
      ...grants.map((g) => ({
        measure: g.key,
        kind: 'referral',
        personTimes: g.n,
        cases: href(CASES, { region, grantedMeasure: g.key!, grantYear: year }),
      })),
      ...aidByMeasure.map((m) => ({
        measure: m.key,
        kind: 'union_aid',
        personTimes: m.n,
        paidCents: Number(m.cents),
        cases: href(CASES, { region, aidYear: year, aidMeasure: m.key! }),
      })),
    ],
    medianDaysPerStage: stageDays.map((s) => ({
      stage: s.key,
      medianDays: Math.round((Number(s.medianMs) / 86_400_000) * 10) / 10,
      transitions: s.n,
      cases: href(CASES, { region, leftStage: s.key, leftYear: year }),
    })),
    onTimeByAgency: onTime.map((o) => ({
      agency: o.key,
      completed: o.n,
      onTime: o.onTime,
      rate: o.n ? Math.round((o.onTime / o.n) * 1000) / 1000 : null,
      tasks: href('/v1/monitor/tasks', { region, agency: o.key, completedYear: year }),
      lateTasks: href('/v1/monitor/tasks', { region, agency: o.key, completedYear: year, late: true }),
    })),
  };
}
