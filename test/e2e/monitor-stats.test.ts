import { demoUsers } from '../../scripts/demoUsers';
import { startStack, type Stack } from '../support/stack';

/** Programme figures from the projection, each opened down to the cases (or tasks) behind it. */
let stack: Stack;
const user = (sub: string) => stack.token(demoUsers.find((u) => u.sub === sub)!);
const get = (path: string) => stack.http('GET', path, { token: user('city-coordinator') });
const d = (s: string) => new Date(`${s}T04:00:00Z`);

async function seedCase(
  id: string,
  region: string,
  stage: string,
  tier: string | null,
  causes: string[],
  filedAt: string | null,
  ended = false,
) {
  await stack.db.$executeRaw`
    INSERT INTO "HouseholdCase" ("id","workflowId","householdKey","regionCode","stage","tier","causes","headName",
      "idNumberMasked","openedAt","filedAt","endedAt","policyVersion","lastEventAt","eventSeq","facts","summary","updatedAt")
    VALUES (${id}, ${`household-${id}`}, ${id}, ${region}, ${stage}, ${tier}, ${causes}, '某', '230***********0000',
            ${d('2026-01-01')}, ${filedAt ? d(filedAt) : null}, ${ended ? d('2026-10-01') : null}, '2026.1', now(), 10, '{}', '{}', now())`;
}
async function events(caseId: string, list: Array<[string, string, Record<string, unknown>]>) {
  let seq = 0;
  for (const [type, at, data] of list)
    await stack.db.caseEvent.create({
      data: { workflowId: `household-${caseId}`, seq: ++seq, caseId, type, at: d(at), data: data as object },
    });
}
async function task(id: string, caseId: string, agency: string, region: string, due: string, done: string) {
  await stack.db.caseTask.create({
    data: {
      id,
      caseId,
      workflowId: `household-${caseId}`,
      type: 'householdSurvey',
      agency,
      regionCode: region,
      status: 'completed',
      createdAt: d('2026-01-01'),
      dueAt: d(due),
      completedAt: d(done),
      completedBy: 'x',
      context: {},
    },
  });
}

beforeAll(async () => {
  stack = await startStack();
  await seedCase('c1', 'hl/harbin/daoli', 'assisting', 'deep', ['illness'], '2026-03-01');
  await seedCase('c2', 'hl/harbin/daoli', 'gradual_exit', 'deep', ['illness', 'unemployment'], '2026-02-01');
  await seedCase('c3', 'hl/harbin/nangang', 'closed', 'deep', ['disability'], '2026-01-10', true);
  await seedCase('c4', 'hl/harbin/nangang', 'survey', null, [], null);
  await seedCase('c5', 'hl/qiqihar', 'assisting', 'deep', ['illness'], '2026-01-10');
  const stage = (from: string, to: string) => ({ from, to });
  await events('c1', [
    ['case.opened', '2026-01-01', {}],
    ['case.stage_changed', '2026-01-03', stage('intake', 'comparison')],
    ['case.stage_changed', '2026-01-13', stage('comparison', 'survey')],
    ['referral.granted', '2026-05-01', { referralId: 'household-c1.r1', measure: 'public_rental_housing' }],
  ]);
  await events('c2', [
    ['case.opened', '2026-01-01', {}],
    ['case.stage_changed', '2026-01-05', stage('intake', 'comparison')],
    ['case.stage_changed', '2026-09-01', stage('exit_review', 'gradual_exit')],
  ]);
  await events('c3', [
    ['case.opened', '2026-01-01', {}],
    ['case.stage_changed', '2026-06-01', stage('exit_review', 'gradual_exit')],
    ['case.stage_changed', '2026-10-01', stage('gradual_exit', 'closed')],
  ]);
  await events('c4', [
    ['case.opened', '2026-01-01', {}],
    ['case.stage_changed', '2026-01-07', stage('intake', 'comparison')],
  ]);
  await events('c5', [
    ['case.opened', '2026-01-01', {}],
    ['case.stage_changed', '2026-03-01', stage('intake', 'comparison')],
  ]);
  await stack.db.aidDisbursement.createMany({
    data: [
      {
        paymentId: 'p1',
        caseId: 'c1',
        measure: 'union_living_aid',
        amountCents: 3_000_000,
        year: 2026,
        approvedBy: 'x',
      },
      {
        paymentId: 'p2',
        caseId: 'c1',
        measure: 'union_medical_aid',
        amountCents: 2_000_000,
        year: 2026,
        approvedBy: 'x',
      },
      {
        paymentId: 'p3',
        caseId: 'c2',
        measure: 'union_living_aid',
        amountCents: 1_000_000,
        year: 2026,
        approvedBy: 'x',
      },
      {
        paymentId: 'p4',
        caseId: 'c5',
        measure: 'union_living_aid',
        amountCents: 5_000_000,
        year: 2026,
        approvedBy: 'x',
      },
    ],
  });
  await task('t1', 'c1', 'union', 'hl/harbin/daoli', '2026-02-01', '2026-01-20');
  await task('t2', 'c2', 'union', 'hl/harbin/daoli', '2026-02-01', '2026-02-01');
  await task('t3', 'c3', 'union', 'hl/harbin/nangang', '2026-02-01', '2026-01-02');
  await task('t4', 'c4', 'union', 'hl/harbin/nangang', '2026-02-01', '2026-03-01');
  await task('t5', 'c4', 'civil_affairs', 'hl/harbin/nangang', '2026-02-01', '2026-02-03');
  await task('t6', 'c5', 'union', 'hl/qiqihar', '2026-02-01', '2026-03-01');
});
afterAll(async () => {
  await stack?.stop();
});

const keyed = (rows: any[], n = 'households') => Object.fromEntries(rows.map((r) => [r.key, r[n]]));

test('figures by stage, tier, cause and region; exits against target; aid against caps; person-times; days per stage; on-time rate', async () => {
  const res = await get('/v1/monitor/stats?year=2026');
  expect(res.status).toBe(200);
  const s = res.body;
  expect(s.region).toBe('hl/harbin');
  expect(keyed(s.households.byStage)).toEqual({ assisting: 1, closed: 1, gradual_exit: 1, survey: 1 });
  expect(keyed(s.households.byTier)).toEqual({ deep: 2 });
  expect(keyed(s.households.byCause)).toEqual({ illness: 2, unemployment: 1 });
  expect(keyed(s.households.byRegion)).toEqual({ 'hl/harbin/daoli': 2, 'hl/harbin/nangang': 1 });
  expect(s.exitTargets).toEqual([
    expect.objectContaining({
      region: 'hl/harbin',
      targetRegion: 'hl',
      share: 0.3,
      files: 3,
      target: 1,
      exits: 2,
      met: true,
    }),
  ]);
  expect(s.aid).toMatchObject({
    households: 2,
    paidCents: 6_000_000,
    capCents: 10_000_000,
    householdsAtCap: 1,
  });
  expect(s.personTimesByMeasure.map((m: any) => [m.kind, m.measure, m.personTimes])).toEqual([
    ['referral', 'public_rental_housing', 1],
    ['union_aid', 'union_living_aid', 2],
    ['union_aid', 'union_medical_aid', 1],
  ]);
  expect(
    Object.fromEntries(s.medianDaysPerStage.map((m: any) => [m.stage, [m.medianDays, m.transitions]])),
  ).toEqual({
    intake: [4, 3],
    comparison: [10, 1],
    exit_review: [
      expect.any(Number), // from the opening of c2/c3 to exit (no earlier stage event in this seed)
      2,
    ],
    gradual_exit: [122, 1],
  });
  expect(s.onTimeByAgency.map((o: any) => [o.agency, o.completed, o.onTime, o.rate])).toEqual([
    ['civil_affairs', 1, 0, 0],
    ['union', 4, 3, 0.75],
  ]);
  // The province-level target does not apply to another year.
  expect((await get('/v1/monitor/stats?year=2025')).body.exitTargets).toEqual([]);
});

test('every figure opens down to the cases or tasks behind it', async () => {
  const s = (await get('/v1/monitor/stats?year=2026')).body;
  const ids = async (href: string) => ((await get(href)).body.items as any[]).map((c) => c.id).sort();
  const by = (rows: any[], key: string) =>
    rows.find((r) => r.key === key || r.stage === key || r.measure === key || r.agency === key);
  expect(await ids(by(s.households.byStage, 'closed').cases)).toEqual(['c3']);
  expect(await ids(by(s.households.byTier, 'deep').cases)).toEqual(['c1', 'c2']);
  expect(await ids(by(s.households.byCause, 'unemployment').cases)).toEqual(['c2']);
  expect(await ids(by(s.households.byRegion, 'hl/harbin/nangang').cases)).toEqual(['c4']);
  expect(await ids(s.exitTargets[0].cases.files)).toEqual(['c1', 'c2', 'c3']);
  expect(await ids(s.exitTargets[0].cases.exits)).toEqual(['c2', 'c3']);
  expect(await ids(s.aid.cases)).toEqual(['c1', 'c2']);
  expect(await ids(s.aid.casesAtCap)).toEqual(['c1']);
  expect(await ids(by(s.personTimesByMeasure, 'public_rental_housing').cases)).toEqual(['c1']);
  expect(await ids(by(s.personTimesByMeasure, 'union_medical_aid').cases)).toEqual(['c1']);
  expect(await ids(by(s.medianDaysPerStage, 'intake').cases)).toEqual(['c1', 'c2', 'c4']);
  expect(await ids(by(s.onTimeByAgency, 'union').lateTasks)).toEqual(['t4']);
  expect(await ids(by(s.onTimeByAgency, 'union').tasks)).toEqual(['t1', 't2', 't3', 't4']);
  // Each count equals the number of cases its link returns.
  for (const row of s.households.byStage) expect((await get(row.cases)).body.total).toBe(row.households);
  expect((await get('/v1/monitor/cases?region=hl/qiqihar')).status).toBe(403);
});
