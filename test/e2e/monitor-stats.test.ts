import { demoUsers } from '../../scripts/demoUsers';
import { expectFiguresMatchDrillDowns } from '../support/monitorFigures';
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

async function openTask(id: string, caseId: string, agency: string, region: string, due: string) {
  await stack.db.caseTask.create({
    data: {
      id,
      caseId,
      workflowId: `household-${caseId}`,
      type: 'cadreVisit',
      agency,
      regionCode: region,
      status: 'open',
      createdAt: d('2026-01-01'),
      dueAt: d(due),
      context: {},
    },
  });
}
const pay = (paymentId: string, caseId: string, measure: string, amountCents: number) => ({
  paymentId,
  caseId,
  measure,
  amountCents,
  year: 2026,
  approvedBy: 'x',
});

beforeAll(async () => {
  stack = await startStack();
  await seedCase('c1', 'hl/harbin/daoli', 'assisting', 'deep', ['illness'], '2026-03-01');
  await seedCase('c2', 'hl/harbin/daoli', 'gradual_exit', 'deep', ['illness', 'unemployment'], '2026-02-01');
  await seedCase('c3', 'hl/harbin/nangang', 'closed', 'deep', ['disability'], '2026-01-10', true);
  await seedCase('c4', 'hl/harbin/nangang', 'survey', null, [], null);
  await seedCase('c5', 'hl/qiqihar', 'assisting', 'deep', ['illness'], '2026-01-10');
  // Filed at the city itself (the coordinator's own region), not in any district.
  await seedCase('c6', 'hl/harbin', 'assisting', 'deep', ['accident'], '2026-02-15');
  // Out in June, relapsed after the year ended: an exit for 2026 although assisted again now.
  await seedCase('c7', 'hl/harbin/daoli', 'assisting', 'deep', ['unemployment'], '2026-02-01');
  // Out in March, relapsed in May: not an exit at the end of 2026.
  await seedCase('c8', 'hl/harbin/daoli', 'assisting', 'deep', ['illness'], '2026-02-01');
  // A timeline without its opening (written before milestones were kept): its first stage change is untimed.
  await seedCase('c9', 'hl/harbin/daoli', 'assisting', null, [], null);
  const stage = (from: string, to: string) => ({ from, to });
  const grant = (c: string, n: number) => ({
    referralId: `household-${c}.r${n}`,
    measure: 'public_rental_housing',
  });
  await events('c1', [
    ['case.opened', '2026-01-01', {}],
    ['case.stage_changed', '2026-01-03', stage('intake', 'comparison')],
    ['case.stage_changed', '2026-01-13', stage('comparison', 'survey')],
    ['referral.granted', '2026-05-01', grant('c1', 1)],
    ['referral.granted', '2026-08-01', grant('c1', 2)], // the same measure granted again: two person-times
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
  await events('c6', [
    ['case.opened', '2026-01-01', {}],
    ['case.stage_changed', '2026-01-04', stage('intake', 'comparison')],
    ['referral.granted', '2026-07-01', grant('c6', 1)],
  ]);
  // The 2026 figures read in 2027, after this household's relapse.
  await events('c7', [
    ['case.opened', '2026-01-01', {}],
    ['case.stage_changed', '2026-06-01', stage('exit_review', 'gradual_exit')],
    ['case.stage_changed', '2027-02-01', stage('gradual_exit', 'planning')],
  ]);
  await events('c8', [
    ['case.opened', '2026-01-01', {}],
    ['case.stage_changed', '2026-03-01', stage('exit_review', 'gradual_exit')],
    ['case.stage_changed', '2026-05-01', stage('gradual_exit', 'planning')],
    ['case.stage_changed', '2026-05-10', stage('planning', 'assisting')],
  ]);
  await events('c9', [['case.stage_changed', '2026-02-01', stage('intake', 'comparison')]]);
  await stack.db.aidDisbursement.createMany({
    data: [
      pay('p1', 'c1', 'union_living_aid', 2_500_000),
      pay('p2', 'c1', 'union_medical_aid', 2_000_000),
      pay('p5', 'c1', 'union_living_aid', 500_000), // the same household paid twice for one measure
      pay('p3', 'c2', 'union_living_aid', 1_000_000),
      pay('p4', 'c5', 'union_living_aid', 5_000_000),
    ],
  });
  await task('t1', 'c1', 'union', 'hl/harbin/daoli', '2026-02-01', '2026-01-20');
  await task('t2', 'c2', 'union', 'hl/harbin/daoli', '2026-02-01', '2026-02-01');
  await task('t3', 'c3', 'union', 'hl/harbin/nangang', '2026-02-01', '2026-01-02');
  await task('t4', 'c4', 'union', 'hl/harbin/nangang', '2026-02-01', '2026-03-01');
  await task('t5', 'c4', 'civil_affairs', 'hl/harbin/nangang', '2026-02-01', '2026-02-03');
  await task('t6', 'c5', 'union', 'hl/qiqihar', '2026-02-01', '2026-03-01');
  await openTask('t7', 'c1', 'union', 'hl/harbin/daoli', '2026-03-01'); // still open, long past due: late
  await openTask('t8', 'c6', 'union', 'hl/harbin', '2099-01-10'); // open, not yet due: not judged
});
afterAll(async () => {
  await stack?.stop();
});

const keyed = (rows: any[], n = 'households') => Object.fromEntries(rows.map((r) => [r.key, r[n]]));

test('figures by stage, tier, cause and region; exits against targets per region; aid against caps; person-times; days per stage; on-time rate', async () => {
  const res = await get('/v1/monitor/stats?year=2026');
  expect(res.status).toBe(200);
  const s = res.body;
  expect(s.region).toBe('hl/harbin');
  expect(keyed(s.households.byStage)).toEqual({ assisting: 5, closed: 1, gradual_exit: 1, survey: 1 });
  expect(keyed(s.households.byTier)).toEqual({ deep: 5 });
  expect(keyed(s.households.byCause)).toEqual({ accident: 1, illness: 3, unemployment: 2 });
  expect(keyed(s.households.byRegion)).toEqual({
    'hl/harbin': 1,
    'hl/harbin/daoli': 5,
    'hl/harbin/nangang': 1,
  });
  const figure = (r: any) => [r.region, r.files, r.target, r.exits, r.met];
  expect(s.exitTargets).toHaveLength(1);
  expect(s.exitTargets[0]).toMatchObject({ targetRegion: 'hl', share: 0.3, basis: 'deep' });
  // c2 and c3 are out; c7 was out at the end of 2026 (it relapsed later); c8 relapsed within the year.
  expect(figure(s.exitTargets[0])).toEqual(['hl/harbin', 6, 2, 3, true]);
  expect(s.exitTargets[0].byRegion.map(figure)).toEqual([
    ['hl/harbin', 1, 1, 0, false],
    ['hl/harbin/daoli', 4, 2, 2, true],
    ['hl/harbin/nangang', 1, 1, 1, true],
  ]);
  expect(s.aid).toMatchObject({
    households: 2,
    paidCents: 6_000_000,
    capCents: 10_000_000,
    householdsAtCap: 1,
  });
  expect(
    s.personTimesByMeasure.map((m: any) => [m.kind, m.measure, m.personTimes, m.households, m.paidCents]),
  ).toEqual([
    ['referral', 'public_rental_housing', 3, 2, undefined],
    ['union_aid', 'union_living_aid', 3, 2, 4_000_000],
    ['union_aid', 'union_medical_aid', 1, 1, 2_000_000],
  ]);
  expect(
    Object.fromEntries(
      s.medianDaysPerStage.map((m: any) => [m.stage, [m.medianDays, m.transitions, m.households]]),
    ),
  ).toEqual({
    intake: [3.5, 4, 4], // c9's untimed departure is not counted
    comparison: [10, 1, 1],
    exit_review: [151, 4, 4],
    gradual_exit: [91.5, 2, 2],
    planning: [9, 1, 1],
  });
  expect(
    s.onTimeByAgency.map((o: any) => [
      o.agency,
      o.judged,
      o.completed,
      o.openOverdue,
      o.onTime,
      o.late,
      o.rate,
    ]),
  ).toEqual([
    ['civil_affairs', 1, 1, 0, 0, 1, 0],
    ['union', 5, 4, 1, 3, 2, 0.6],
  ]);
  // The province-level target does not apply to another year.
  expect((await get('/v1/monitor/stats?year=2025')).body.exitTargets).toEqual([]);
});

test('every count equals what its drill-down returns, and the drill-downs return the right rows', async () => {
  const s = (await get('/v1/monitor/stats?year=2026')).body;
  const all = async (href: string) => {
    const res = await get(href);
    expect([href, res.status]).toEqual([href, 200]);
    return res.body as { total: number; items: any[] };
  };
  const ids = async (href: string) => (await all(href)).items.map((c) => c.id ?? c.paymentId).sort();

  await expectFiguresMatchDrillDowns(s, all);
  const { byStage, byRegion } = s.households;

  const by = (rows: any[], key: string) =>
    rows.find((r) => r.key === key || r.stage === key || r.measure === key || r.agency === key);
  expect(await ids(by(byStage, 'closed').cases)).toEqual(['c3']);
  expect(await ids(by(byRegion, 'hl/harbin').cases)).toEqual(['c6']); // not the whole city
  expect(await ids(by(byRegion, 'hl/harbin/nangang').cases)).toEqual(['c4']);
  expect(await ids(s.exitTargets[0].cases.exits)).toEqual(['c2', 'c3', 'c7']);
  expect(await ids(s.exitTargets[0].byRegion[0].cases.files)).toEqual(['c6']);
  expect(await ids(s.aid.casesAtCap)).toEqual(['c1']);
  expect(await ids(by(s.personTimesByMeasure, 'union_living_aid').rows)).toEqual(['p1', 'p3', 'p5']);
  expect(await ids(by(s.medianDaysPerStage, 'intake').cases)).toEqual(['c1', 'c2', 'c4', 'c6']);
  expect(await ids(by(s.onTimeByAgency, 'union').lateTasks)).toEqual(['t4', 't7']);
  expect((await get('/v1/monitor/cases?region=hl/qiqihar')).status).toBe(403);
  expect((await get('/v1/monitor/milestones?kind=grant&fromStage=intake')).body.errors).toEqual([
    expect.objectContaining({ path: 'query.fromStage' }),
  ]);
});

test('the figures follow the projection as it is written: a payment, a stage change, a task done, a case moved', async () => {
  const before = (await get('/v1/monitor/stats?year=2026')).body;
  await stack.db.aidDisbursement.create({ data: pay('p6', 'c6', 'union_living_aid', 1_000_000) });
  await stack.db.caseEvent.create({
    data: {
      workflowId: 'household-c1',
      seq: 6,
      caseId: 'c1',
      type: 'case.stage_changed',
      at: d('2026-09-01'),
      data: { from: 'assisting', to: 'exit_review' },
    },
  });
  await stack.db.householdCase.update({ where: { id: 'c1' }, data: { stage: 'exit_review' } });
  await stack.db.caseTask.update({
    where: { id: 't8' },
    data: { status: 'completed', completedAt: d('2026-06-01'), completedBy: 'x' },
  });
  await stack.db.householdCase.update({ where: { id: 'c4' }, data: { regionCode: 'hl/harbin/daoli' } });

  const s = (await get('/v1/monitor/stats?year=2026')).body;
  expect(s.aid).toMatchObject({
    households: before.aid.households + 1,
    paidCents: before.aid.paidCents + 1_000_000,
  });
  expect(keyed(s.households.byStage)).toEqual({
    assisting: 4,
    closed: 1,
    exit_review: 1,
    gradual_exit: 1,
    survey: 1,
  });
  expect(keyed(s.households.byRegion)).toEqual({ 'hl/harbin': 1, 'hl/harbin/daoli': 6 });
  // c1 left assisting after 231 days (since its last timed stage change, on 13 January).
  expect(s.medianDaysPerStage.find((m: any) => m.stage === 'assisting')).toMatchObject({
    medianDays: 231,
    transitions: 1,
  });
  expect(s.onTimeByAgency.find((o: any) => o.agency === 'union')).toMatchObject({
    judged: 6,
    onTime: 4,
    late: 2,
  });
  await expectFiguresMatchDrillDowns(s, async (href) => (await get(href)).body);
});
