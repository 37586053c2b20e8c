import { Prisma } from '../../generated/prisma/client';
import { cnMainlandCalendar } from '../../domain/calendar/cn-mainland';
import { policies, currentPolicyVersion } from '../../domain/policy';

/**
 * `col` is the region or below it. Region codes are [a-z0-9-/] only, so the LIKE has no wildcard but
 * its end. It is an index range under any database collation only on a `text_pattern_ops` index:
 * each column filtered this way has one (CaseTask, HouseholdCase, ApiKey; migrations
 * 20261123010000 and 20261123040000, checked in an ICU database by test/db/region-index.test.ts).
 */
export const inRegion = (col: Prisma.Sql, region: string) =>
  Prisma.sql`(${col} = ${region} OR ${col} LIKE ${`${region}/%`})`;

/** The child of `region` that `col` lies under (or `region` itself), for per-region breakdowns. */
export const childRegion = (col: Prisma.Sql, region: string) =>
  Prisma.sql`CASE WHEN ${col} = ${region} THEN ${region}
     ELSE ${`${region}/`} || split_part(substr(${col}, ${region.length + 2}), '/', 1) END`;

export const and = (conds: Prisma.Sql[]) => (conds.length ? Prisma.join(conds, ' AND ') : Prisma.sql`TRUE`);

/** The policy in force for each case's version, as a VALUES table (policy is data, not SQL). */
export function policyValues(pick: (p: (typeof policies)[string]) => number): Prisma.Sql {
  return Prisma.sql`(VALUES ${Prisma.join(
    Object.values(policies).map((p) => Prisma.sql`(${p.version}::text, ${pick(p)}::bigint)`),
  )})`;
}
export const currentPolicy = () => policies[currentPolicyVersion]!;
export const allPolicies = () => Object.values(policies);

/** Local (China) calendar year boundaries as instants. */
export function yearBounds(year: number): { start: Date; end: Date } {
  const off = cnMainlandCalendar.timeZoneOffsetMinutes * 60_000;
  return { start: new Date(Date.UTC(year, 0, 1) - off), end: new Date(Date.UTC(year + 1, 0, 1) - off) };
}
export function currentYear(now = new Date()): number {
  return new Date(now.getTime() + cnMainlandCalendar.timeZoneOffsetMinutes * 60_000).getUTCFullYear();
}

export function href(path: string, params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  return `${path}?${q.toString()}`;
}

/**
 * `inRegion` plus the byte range the subtree lies in (`region` ≤ col < `region0`: '/' is followed
 * by '0'), which a btree with text_pattern_ops can seek; the OR alone leaves an index-only scan
 * nothing to seek, so it reads every region's rows.
 */
export const inSubtree = (col: Prisma.Sql, region: string) =>
  Prisma.sql`(${col} ~>=~ ${region} AND ${col} ~<~ ${`${region}0`} AND ${inRegion(col, region)})`;

/** A policy parameter of each case's version, as a CASE over the versions (`fallback` for others). */
export function policyCase(
  version: Prisma.Sql,
  pick: (p: (typeof policies)[string]) => number,
  fallback: number,
): Prisma.Sql {
  const whens = Object.values(policies).map((p) => Prisma.sql`WHEN ${p.version}::text THEN ${pick(p)}::int`);
  return Prisma.sql`(CASE ${version} ${Prisma.join(whens, ' ')} ELSE ${fallback}::int END)`;
}
