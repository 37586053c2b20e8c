import { createProjectionActivities, type CaseRow, type ProjectionInput } from '../../activities/projection';
import type { Db } from '../../db/client';
import type { JournalEvent, Task } from '../../domain/journey/taskBook';
import { programStats } from '../../api/monitor/stats';
import { currentYear } from '../../api/monitor/sql';
import { expectFiguresMatchDrillDowns } from '../support/monitorFigures';
import * as drill from '../../api/monitor/drill';
import { openTaskRow } from '../support/fixtures';
import { useTestDatabase } from '../support/stack';

/**
 * The coordinators' tallies are kept by triggers as the projection writes: after a mixed workload
 * (cases projected and re-projected, concurrently, events before their case row, payments, stage
 * changes across year ends, relapses, task completions and reopenings, a case moved to another
 * region, rows deleted) they must equal a recount from the projection, and every figure built
 * from them must equal what its drill-down lists.
 */
let db: Db;
useTestDatabase(8, (d) => (db = d));

const REGIONS = ['hl/a/x', 'hl/a/y', 'hl/a', 'hl/b', 'hl', 'hl/a-b'];
const MEASURES = ['public_rental_housing', 'medical_assistance', 'job_placement'];
const DAY = 86_400_000;
// Around the end of 2025 in local (UTC+8) time: 2025-12-31T16:00:00Z is the first instant of 2026.
const T0 = Date.parse('2025-11-20T03:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
/** When the figures are read: open tasks due before it are late. */
const NOW = new Date(T0 + 500 * DAY);

function caseRow(i: number, patch: Partial<CaseRow> = {}): CaseRow {
  return {
    id: `case-${i}`,
    workflowId: `household-${i}`,
    householdKey: `k${i}`,
    regionCode: REGIONS[i % REGIONS.length]!,
    stage: 'intake',
    tier: null,
    causes: [],
    headName: '某',
    idNumberMasked: '230***********0000',
    fileNumber: null,
    openedAt: iso(T0),
    filedAt: null,
    endedAt: null,
    onHold: false,
    policyVersion: '2026.1',
    lastEventAt: iso(T0),
    eventSeq: 0,
    facts: {},
    summary: {},
    ...patch,
  };
}

function task(i: number, n: number, patch: Partial<Task>): Task {
  return {
    ...openTaskRow({
      id: `case-${i}.t${n}`,
      type: 'householdSurvey',
      agency: ['union', 'civil_affairs', 'hr'][n % 3]!,
      regionCode: REGIONS[i % REGIONS.length]!,
      workflowId: `household-${i}`,
      createdAt: iso(T0),
      dueAt: iso(T0 + (5 + n * 9) * DAY),
      remindAt: iso(T0 + (4 + n * 9) * DAY),
    }),
    ...patch,
  };
}

/** A timeline for case `i`: stage changes through `stages`, `every` days apart, and grants. */
function timeline(i: number, from: number, stages: string[], every: number, grants = 0): JournalEvent[] {
  const events: JournalEvent[] = [];
  let at = T0 + (i % 9) * DAY + from * DAY;
  const ev = (type: string, data: Record<string, unknown>) =>
    events.push({ seq: 0, type, at: iso(at), actor: null, agency: null, taskId: null, data });
  if (from === 0) ev('case.opened', {});
  for (let s = 1; s < stages.length; s++) {
    at += every * DAY + (i % 5) * 3_600_000;
    ev('case.stage_changed', { from: stages[s - 1], to: stages[s] });
  }
  for (let g = 0; g < grants; g++) {
    at += DAY;
    ev('referral.granted', { referralId: `case-${i}.r${g}`, measure: MEASURES[(i + g) % 3] });
  }
  return events;
}

const JOURNEY = ['intake', 'comparison', 'survey', 'deliberation', 'public_notice', 'sign_off', 'planning'];
const tier = (i: number) => ['deep', 'relative', 'accident'][(i >> 1) % 3]!;

/** The tallies as kept (rows that went back to zero aside: a recount has none). */
async function tallies() {
  return {
    cases: await db.$queryRaw<object[]>`SELECT * FROM "MonitorCaseTally" ORDER BY 1, 2, 3, 4`,
    regions: await db.$queryRaw<object[]>`SELECT * FROM "MonitorTally"
      WHERE "households" <> 0 OR "n" <> 0 OR "cents" <> 0 ORDER BY 1, 2, 3, 4`,
    stageTimes: await db.$queryRaw<object[]>`SELECT * FROM "MonitorStageTime" ORDER BY 5, 6, 7, 1`,
    tasks: await db.$queryRaw<object[]>`SELECT * FROM "MonitorTaskTally"
      WHERE "completed" <> 0 OR "late" <> 0 ORDER BY 1, 2, 3`,
  };
}

/** The drill-down behind a figure's link, called as the route calls it. */
async function drillTotal(href: string): Promise<{ total: number; items: any[] }> {
  const u = new URL(href, 'http://monitor');
  const query = { ...Object.fromEntries(u.searchParams), limit: '500' };
  const region = u.searchParams.get('region')!;
  const parse = <S extends { parse: (q: object) => any }>(schema: S): ReturnType<S['parse']> =>
    schema.parse(query);
  if (u.pathname === '/v1/monitor/cases') return drill.drillCases(db, region, parse(drill.CaseDrillSchema));
  if (u.pathname === '/v1/monitor/tasks')
    return drill.drillTasks(db, region, parse(drill.TaskDrillSchema), NOW);
  if (u.pathname === '/v1/monitor/payments')
    return drill.drillPayments(db, region, parse(drill.PaymentDrillSchema));
  return drill.drillMilestones(db, region, parse(drill.MilestoneDrillSchema));
}

test('the local year the tallies count in is the one the figures ask for', async () => {
  for (const at of ['2025-12-31T15:59:59.999Z', '2025-12-31T16:00:00.000Z', '2026-06-30T20:00:00.000Z']) {
    const [row] = await db.$queryRaw<Array<{ y: number }>>`SELECT monitor_year(${at}::timestamp(3)) AS y`;
    expect([at, row!.y]).toEqual([at, currentYear(new Date(at))]);
  }
});

test('after a mixed, concurrent workload the tallies equal a recount, and each figure its drill-down', async () => {
  const { projectCase, disburseAid } = createProjectionActivities(db);
  const N = 36;
  const flush = async (i: number, c: CaseRow | null, tasks: Task[], events: JournalEvent[], seq0: number) => {
    const input: ProjectionInput = {
      caseId: `case-${i}`,
      workflowId: `household-${i}`,
      case: c,
      tasks,
      events: events.map((e, k) => ({ ...e, seq: seq0 + k + 1 })),
    };
    await projectCase(input);
    await projectCase(input); // a retried activity writes nothing twice
  };

  // Opened and compared: events and the first case row in one transaction (events first), all cases at once.
  const first = Array.from({ length: N }, (_, i) => timeline(i, 0, JOURNEY.slice(0, 2), 3));
  await Promise.all(
    first.map((events, i) =>
      // Every fifth case's timeline is written before its row exists (another flush).
      i % 5 === 4
        ? flush(i, null, [], events, 0).then(() => flush(i, caseRow(i, { stage: 'comparison' }), [], [], 2))
        : flush(
            i,
            caseRow(i, { stage: 'comparison', causes: ['illness', i % 2 ? 'unemployment' : 'illness'] }),
            [task(i, 1, {}), task(i, 2, {})],
            events,
            0,
          ),
    ),
  );

  // Filed and assisted over the year end, with grants, payments and tasks done (some late).
  await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const events = timeline(i, 6 + (i % 4) * 8, [...JOURNEY.slice(1), 'assisting'], 4, i % 3);
      const filedAt = events.find((e) => (e.data as { to?: string }).to === 'planning')!.at;
      await flush(
        i,
        caseRow(i, { stage: 'assisting', tier: tier(i), causes: ['illness'], filedAt }),
        [
          task(i, 1, { status: 'completed', completedAt: iso(T0 + (i % 2 ? 3 : 8) * DAY), completedBy: 'u' }),
          task(i, 2, { status: 'completed', completedAt: iso(T0 + (30 + i) * DAY), completedBy: 'u' }),
          task(i, 3, {}),
        ],
        events,
        2,
      );
      // A household's payments at once: each refresh of its tallies must see the one before it.
      await Promise.all(
        Array.from({ length: i % 4 }, (_, p) =>
          disburseAid({
            paymentId: `case-${i}.p${p}`,
            caseId: `case-${i}`,
            measure: p === 1 ? 'union_medical_aid' : 'union_living_aid',
            amountCents: 1_500_000 * (1 + (i % 3)),
            year: 2025 + (p % 2),
            approvedBy: 'u-sup',
          }),
        ),
      );
    }),
  );

  // Exits, a relapse the next year, a file closed after the gradual exit.
  await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      if (i % 3 === 0) return;
      const path =
        i % 3 === 1
          ? ['assisting', 'exit_review', 'gradual_exit', 'closed']
          : ['assisting', 'exit_review', 'gradual_exit', 'planning'];
      const events = timeline(i, 70 + (i % 7) * 20, path, 30 + (i % 4) * 60);
      const seq0 = 2 + 7 + (i % 3);
      const closed = path.at(-1) === 'closed';
      await flush(
        i,
        caseRow(i, {
          stage: path.at(-1)!,
          tier: tier(i),
          causes: ['illness'],
          filedAt: iso(T0 + 40 * DAY),
          endedAt: closed ? events.at(-1)!.at : null,
        }),
        [task(i, 3, { status: 'completed', completedAt: iso(T0 + 400 * DAY), completedBy: 'u' })],
        events,
        seq0,
      );
    }),
  );

  // Written straight to the tables, one counted column at a time: a case moved to another region,
  // another policy, causes, tier, filing year, ended; a case's row deleted, a milestone and a
  // payment deleted, a task reopened, one handed to another agency, one due later.
  await db.$executeRaw`UPDATE "HouseholdCase" SET "causes" = ARRAY['disability', 'illness'] WHERE "id" = 'case-14'`;
  await db.$executeRaw`UPDATE "HouseholdCase" SET "tier" = 'deep' WHERE "id" = 'case-15'`;
  await db.$executeRaw`UPDATE "HouseholdCase" SET "filedAt" = "filedAt" + interval '400 days' WHERE "id" = 'case-16'`;
  await db.$executeRaw`UPDATE "HouseholdCase" SET "endedAt" = "lastEventAt" WHERE "id" = 'case-18'`;
  await db.$executeRaw`UPDATE "CaseTask" SET "dueAt" = "dueAt" + interval '60 days' WHERE "id" = 'case-19.t2'`;
  await db.$executeRaw`UPDATE "HouseholdCase" SET "regionCode" = 'hl/b' WHERE "id" = 'case-7'`;
  await db.$executeRaw`UPDATE "HouseholdCase" SET "policyVersion" = 'unknown' WHERE "id" = 'case-10'`;
  await db.$executeRaw`DELETE FROM "HouseholdCase" WHERE "id" = 'case-8'`;
  await db.$executeRaw`DELETE FROM "CaseMilestone" WHERE "caseId" = 'case-13' AND "kind" = 'stage' AND "key" = 'gradual_exit'`;
  await db.$executeRaw`DELETE FROM "AidDisbursement" WHERE "paymentId" = 'case-3.p1'`;
  await db.$executeRaw`UPDATE "CaseTask" SET "status" = 'open', "completedAt" = NULL WHERE "id" = 'case-11.t2'`;
  await db.$executeRaw`UPDATE "CaseTask" SET "agency" = 'housing' WHERE "id" = 'case-12.t1'`;

  const kept = await tallies();
  expect(kept.cases.length).toBeGreaterThan(N * 5);
  expect(kept.stageTimes.length).toBeGreaterThan(N * 3);
  await db.$executeRaw`SELECT monitor_rebuild_tallies()`; // the recount
  expect(kept).toEqual(await tallies());

  // The figures built from the tallies: each equals what its drill-down lists.
  for (const region of ['hl', 'hl/a', 'hl/a/x', 'hl/b'])
    for (const year of [2025, 2026, 2027]) {
      const s = await programStats(db, region, year, NOW);
      await expectFiguresMatchDrillDowns(s, drillTotal, [region, year]);
    }
});
