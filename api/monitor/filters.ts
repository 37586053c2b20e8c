import { Prisma } from '../../generated/prisma/client';
import { policyValues, yearBounds } from './sql';

/**
 * The rule behind each figure, written once: the statistics count with these predicates and the
 * drill-downs list with them, so a figure and the rows behind it cannot drift apart. Aliases: `c`
 * HouseholdCase, `m` CaseMilestone, `d` AidDisbursement, `t` CaseTask. The statistics read most
 * figures from tallies that triggers keep (migration 20261123050100_monitor_tallies): each rule
 * there mirrors one here, and test/e2e/monitor-stats.test.ts checks every figure against its
 * drill-down.
 */

const inYear = (col: Prisma.Sql, year: number) => {
  const { start, end } = yearBounds(year);
  return Prisma.sql`${col} >= ${start} AND ${col} < ${end}`;
};

/**
 * The case had exited as of `at`: its last stage change before `at` entered the gradual-exit
 * period, or closed the file after it. A household that relapsed later still counts for the years
 * it was out; one that relapsed before `at` does not.
 */
export const exitedAsOf = (at: Date) => Prisma.sql`COALESCE((
    SELECT m."key" = 'gradual_exit' OR (m."key" = 'closed' AND m."fromStage" = 'gradual_exit')
      FROM "CaseMilestone" m
     WHERE m."caseId" = c."id" AND m."kind" = 'stage' AND m."at" < ${at}
     ORDER BY m."at" DESC, m."seq" DESC LIMIT 1), false)`;

/** A referral granted for `measure` (any measure when absent) during `year` (any year when absent). */
export const grantMilestone = (measure?: string, year?: number) => Prisma.sql`m."kind" = 'grant'
  ${measure ? Prisma.sql`AND m."key" = ${measure}` : Prisma.empty}
  ${year !== undefined ? Prisma.sql`AND ${inYear(Prisma.sql`m."at"`, year)}` : Prisma.empty}`;

/** A timed departure from `stage` (any) during `year`: the median days per stage are taken over these. */
export const stageLeft = (stage?: string, year?: number) => Prisma.sql`m."kind" = 'stage'
  AND m."durationMs" IS NOT NULL ${stage ? Prisma.sql`AND m."fromStage" = ${stage}` : Prisma.empty}
  ${year !== undefined ? Prisma.sql`AND ${inYear(Prisma.sql`m."at"`, year)}` : Prisma.empty}`;

/** Union aid paid for `year`'s cap, of `measure` when given. */
export const payment = (year: number, measure?: string) =>
  Prisma.sql`d."year" = ${year} ${measure ? Prisma.sql`AND d."measure" = ${measure}` : Prisma.empty}`;

/** The case's aid of `year` reached its policy's annual cap (inside a GROUP BY d."caseId"). */
export const atCap = () => Prisma.sql`sum(d."amountCents") >= (SELECT p.cap
  FROM ${policyValues((p) => p.annualAidCapCents)} p(version, cap) WHERE p.version = c."policyVersion")`;

/** Completed in `year` (counted per region and agency by the MonitorTaskTally trigger). */
const completedIn = (year: number) =>
  Prisma.sql`(t."status" = 'completed' AND ${inYear(Prisma.sql`t."completedAt"`, year)})`;

/** Still open and past a due time in `year`: late already, whatever happens next. */
export const overdueIn = (year: number, now: Date) =>
  Prisma.sql`(t."status" = 'open' AND t."dueAt" < ${now} AND ${inYear(Prisma.sql`t."dueAt"`, year)})`;

/** The tasks an agency's on-time rate for `year` judges: those completed in the year, and those overdue in it. */
export const judgedTask = (year: number, now: Date) =>
  Prisma.sql`(${completedIn(year)} OR ${overdueIn(year, now)})`;

/** A judged task is late when it was (or still is not) done by its due time. */
export const lateTask = (now: Date) => Prisma.sql`COALESCE(t."completedAt", ${now}) > t."dueAt"`;
