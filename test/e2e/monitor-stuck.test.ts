import { createApiKey } from '../../api/auth';
import { startStack, eventually, type Stack } from '../support/stack';
import { demoUsers } from '../../scripts/demoUsers';
import { cnMainlandCalendar } from '../../domain/calendar/cn-mainland';
import { addWorkingDays, workingDaysBetween } from '../../domain/calendar/workingDays';
import { forms } from '../support/fixtures';
import { caseInThePast } from './api-helpers';

/** Coordinators: the stuck list over the real projection, and unblocking actions through the workflows. */
let stack: Stack;
const user = (sub: string) => stack.token(demoUsers.find((u) => u.sub === sub)!);
const DAY = 86_400_000;

async function refer(idNumber: string, headName: string) {
  const res = await stack.http('POST', '/v1/referrals', {
    token: user('union-staff'),
    body: {
      household: { idNumber, headName, regionCode: 'hl/harbin/daoli' },
      referral: { source: 'cadre', referrer: 'street cadre' },
    },
  });
  expect(res.status).toBe(201);
  return res.body.caseId as string;
}

async function openTask(caseId: string, type: string) {
  return eventually(() => stack.db.caseTask.findFirst({ where: { caseId, type, status: 'open' } }));
}

let caseA: string;
let caseB: string;

beforeAll(async () => {
  stack = await startStack();
  caseA = await refer('230102198001011234', '张一');
  caseB = await refer('230102198001012345', '李二');
  const intake = await openTask(caseA, 'intakeReview');
  const done = await stack.http('POST', `/v1/tasks/${intake.id}/complete`, {
    token: user('union-staff'),
    body: {
      type: 'intakeReview',
      form: { decision: 'accept', consent: { dataComparison: true, sharingWithAgencies: true } },
    },
  });
  expect(done.status).toBe(200);
  await openTask(caseA, 'dataComparisonHr');
  // Time cannot pass in a test: age the projection as the clock would have (the workflow keeps its own).
  const now = Date.now();
  await stack.db.caseTask.updateMany({
    where: { caseId: caseA, type: 'dataComparisonCivil' },
    data: { dueAt: new Date(now - 5 * DAY) },
  });
  await stack.db.caseTask.updateMany({
    where: { caseId: caseA, type: 'dataComparisonHr' },
    data: { dueAt: new Date(now - 2 * DAY) },
  });
  // A case elsewhere and one idle for 40 days, written straight into the read model.
  await stack.db.$executeRaw`
    INSERT INTO "HouseholdCase" ("id","workflowId","householdKey","regionCode","stage","causes","headName",
      "idNumberMasked","openedAt","policyVersion","lastEventAt","eventSeq","facts","summary","updatedAt")
    VALUES ('idle-1','household-idle-1','k-idle-1','hl/harbin/nangang','assisting','{}','王三','230***********0001',
            ${new Date(now - 90 * DAY)},'2026.1',${new Date(now - 40 * DAY)},12,'{}','{}',now()),
           ('far-1','household-far-1','k-far-1','hl/qiqihar','assisting','{}','赵四','230***********0002',
            ${new Date(now - 90 * DAY)},'2026.1',${new Date(now - 50 * DAY)},12,'{}','{}',now())`;
  await stack.db.$executeRaw`
    INSERT INTO "CaseTask" ("id","caseId","workflowId","type","agency","regionCode","status","createdAt","dueAt","context","updatedAt")
    VALUES ('household-idle-1.r1.t1','idle-1','household-idle-1.r1','referralAcceptance','housing','hl/harbin/nangang','open',
            ${new Date(now - 30 * DAY)},${new Date(now - 20 * DAY)},'{}',now()),
           ('household-idle-1.t7','idle-1','household-idle-1','cadreVisit','union','hl/harbin/nangang','open',
            ${new Date(now - 70 * DAY)},${new Date(now - 10 * DAY)},'{}',now()),
           ('household-far-1.t3','far-1','household-far-1','cadreVisit','union','hl/qiqihar','open',
            ${new Date(now - 70 * DAY)},${new Date(now - 10 * DAY)},'{}',now())`;
});
afterAll(async () => {
  await stack?.stop();
});

const stuck = (query = '') =>
  stack.http('GET', `/v1/monitor/stuck${query}`, { token: user('city-coordinator') });

test('lists overdue tasks, late referral acceptances, missed visits and idle cases in the region, latest first', async () => {
  const res = await stuck();
  expect(res.status).toBe(200);
  const rows = res.body.items as any[];
  expect(rows.map((r) => [r.reason, r.task?.type ?? null, r.caseId])).toEqual([
    ['referral_not_accepted', 'referralAcceptance', 'idle-1'],
    ['case_idle', null, 'idle-1'],
    ['cadre_visit_missed', 'cadreVisit', 'idle-1'],
    ['task_overdue', 'dataComparisonCivil', caseA],
    ['task_overdue', 'dataComparisonHr', caseA],
  ]);
  expect(res.body.total).toBe(5);
  // Why, since when, with whom.
  // Idle for 40 days under a 30-day policy: stuck for the last 10, like a task 10 days past due.
  expect(rows[1]).toMatchObject({
    daysLate: 10,
    heldBy: { agencies: ['housing', 'union'] },
    stage: 'assisting',
  });
  expect(rows[0]).toMatchObject({ daysLate: 20, heldBy: { agencies: ['housing'], assignee: null } });
  expect(rows[3]).toMatchObject({
    daysLate: 5,
    stage: 'comparison',
    heldBy: { agencies: ['civil_affairs'] },
  });
  expect(rows.some((r) => r.caseId === 'far-1' || r.caseId === caseB)).toBe(false);
});

test('filters by region subtree, agency, stage, task type, reason and age', async () => {
  // The total is counted apart from the page: it must count exactly what the filters list.
  const ids = async (q: string) => {
    const { items, total } = (await stuck(q)).body as { items: any[]; total: number };
    if (!q.includes('limit')) expect([q, total]).toEqual([q, items.length]);
    return items.map((r) => r.task?.type ?? r.reason);
  };
  expect(await ids('?region=hl/harbin/daoli')).toEqual(['dataComparisonCivil', 'dataComparisonHr']);
  expect(await ids('?agency=hr')).toEqual(['dataComparisonHr']);
  expect(await ids('?agency=housing')).toEqual(['referralAcceptance', 'case_idle']);
  expect(await ids('?stage=comparison')).toEqual(['dataComparisonCivil', 'dataComparisonHr']);
  expect(await ids('?taskType=cadreVisit')).toEqual(['cadreVisit']);
  expect(await ids('?reason=case_idle')).toEqual(['case_idle']);
  expect(await ids('?minDays=15')).toEqual(['referralAcceptance']);
  expect(await ids('?minDays=10')).toEqual(['referralAcceptance', 'case_idle', 'cadreVisit']);
  expect(await ids('?limit=2&offset=1')).toEqual(['case_idle', 'cadreVisit']);
  expect((await stuck('?limit=2&offset=1')).body.total).toBe(5);
  // Each kind yields its first offset + limit items: a page deep into one kind still merges right.
  expect(await ids('?limit=1&offset=3')).toEqual(['dataComparisonCivil']);
  expect(await ids('?held=include&stage=assisting')).toEqual([
    'referralAcceptance',
    'case_idle',
    'cadreVisit',
  ]);
  expect(await ids('?reason=cadre_visit_missed')).toEqual(['cadreVisit']);
  expect(await ids('?reason=task_overdue&minDays=3')).toEqual(['dataComparisonCivil']);
  expect((await stuck('?region=hl')).status).toBe(403);
  expect((await stuck('?reason=bogus')).status).toBe(400);
  const staff = await stack.http('GET', '/v1/monitor/stuck', { token: user('union-supervisor') });
  expect(staff.status).toBe(403);
});

test('a coordinator extends, reassigns, reminds and escalates through the workflow, audited', async () => {
  const coordinator = user('city-coordinator');
  const civil = await openTask(caseA, 'dataComparisonCivil');
  const action = (taskId: string, body: unknown) =>
    stack.http('POST', `/v1/monitor/tasks/${taskId}/actions`, { token: coordinator, body });

  const noReason = await action(civil.id, { action: 'extendDeadline', by: { workingDays: 5 } });
  expect(noReason.status).toBe(400);
  expect(noReason.body.errors).toEqual([expect.objectContaining({ path: 'body.reason' })]);
  const ext = await action(civil.id, {
    action: 'extendDeadline',
    by: { workingDays: 5 },
    reason: 'records office closed for relocation',
  });
  expect(ext.status).toBe(200);
  // The workflow's own snapshot replaces the aged row: the task is no longer overdue.
  const extended = await eventually(async () => {
    const t = await stack.db.caseTask.findUnique({ where: { id: civil.id } });
    return t && t.dueAt.getTime() > Date.now() + 5 * DAY && t;
  });
  expect(extended.status).toBe('open');
  expect(((await stuck('?agency=civil_affairs')).body.items as any[]).length).toBe(0);
  const event = await eventually(() =>
    stack.db.caseEvent.findFirst({ where: { caseId: caseA, type: 'task.deadline_extended' } }),
  );
  expect(event).toMatchObject({ actor: 'city-coordinator', taskId: civil.id });
  expect((event.data as any).reason).toBe('records office closed for relocation');

  const hr = await openTask(caseA, 'dataComparisonHr');
  expect((await action(hr.id, { action: 'reassign', assignee: 'hr-staff-2' })).status).toBe(200);
  await eventually(
    async () => (await stack.db.caseTask.findUnique({ where: { id: hr.id } }))?.assignee === 'hr-staff-2',
  );
  expect((await action(hr.id, { action: 'remind' })).status).toBe(200);
  const esc = await action(hr.id, { action: 'escalate', reason: 'no answer in two weeks' });
  expect(esc.status).toBe(200);
  const row = await eventually(async () => {
    const t = await stack.db.caseTask.findUnique({ where: { id: hr.id } });
    return t?.escalatedAt && t;
  });
  expect(row.escalatedTo).toEqual({ agency: 'hr', role: 'supervisor' });
  const types = (await stack.db.caseEvent.findMany({ where: { caseId: caseA, taskId: hr.id } })).map(
    (e) => e.type,
  );
  expect(types).toEqual(expect.arrayContaining(['task.reassigned', 'task.reminded', 'task.escalated']));
  // Escalations still open are listed (the aged due date was replaced by the workflow's too).
  const escalations = (await stuck('?reason=escalation_open')).body;
  const open = escalations.items as any[];
  expect([open.map((r) => r.task?.id), escalations.total]).toEqual([[hr.id], 1]);
  expect(open[0].heldBy).toMatchObject({
    assignee: 'hr-staff-2',
    escalatedTo: { agency: 'hr', role: 'supervisor' },
  });

  // Each through the workflow, audited as an attempt before its Update and the outcome after.
  const audit = await stack.db.auditEntry.findMany({
    where: { caseId: caseA, action: { startsWith: 'monitor.' } },
    orderBy: { seq: 'asc' },
  });
  expect(audit.map((a) => [a.action, a.actor, (a.data as any).phase])).toEqual([
    ['monitor.extendDeadline', 'city-coordinator', 'attempt'],
    ['monitor.extendDeadline', 'city-coordinator', 'applied'],
    ['monitor.reassign', 'city-coordinator', 'attempt'],
    ['monitor.reassign', 'city-coordinator', 'applied'],
    ['monitor.remind', 'city-coordinator', 'attempt'],
    ['monitor.remind', 'city-coordinator', 'applied'],
    ['monitor.escalate', 'city-coordinator', 'attempt'],
    ['monitor.escalate', 'city-coordinator', 'applied'],
  ]);
  // Another region's task is not found; staff cannot act through the monitor.
  expect((await action('household-far-1.t3', { action: 'remind' })).status).toBe(404);
  const staff = await stack.http('POST', `/v1/monitor/tasks/${hr.id}/actions`, {
    token: user('union-supervisor'),
    body: { action: 'remind' },
  });
  expect(staff.status).toBe(403);
});

test('a coordinator reassigns a task only within its agency: a known principal of another agency is refused (422), nothing changed', async () => {
  const hr = await openTask(caseA, 'dataComparisonHr');
  // Known principals: an integrator key (its row), a staff member who has acted (the audit trail).
  const key = await createApiKey(stack.db, {
    name: 'civil system',
    agency: 'civil_affairs',
    region: 'hl/harbin',
    roles: ['staff'],
  });
  const audited = await stack.db.auditEntry.count({ where: { caseId: caseA } });
  for (const assignee of ['union-staff', `apikey:${key.id}`]) {
    const res = await stack.http('POST', `/v1/monitor/tasks/${hr.id}/actions`, {
      token: user('city-coordinator'),
      body: { action: 'reassign', assignee },
    });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({
      type: '/problems/assignee_not_in_agency',
      errors: [expect.objectContaining({ path: 'body.assignee', code: 'assignee_not_in_agency' })],
    });
  }
  expect((await stack.db.caseTask.findUniqueOrThrow({ where: { id: hr.id } })).assignee).toBe(hr.assignee);
  expect(await stack.db.auditEntry.count({ where: { caseId: caseA } })).toBe(audited);
  expect(
    await stack.db.caseEvent.count({
      where: { caseId: caseA, taskId: hr.id, type: 'task.reassigned', actor: 'city-coordinator' },
    }),
  ).toBe(1);
});

test('hold stops a case’s clocks and hides it; resume gives each deadline back the working days it had left', async () => {
  const coordinator = user('city-coordinator');
  const intake = await openTask(caseB, 'intakeReview');
  const caseAction = (body: unknown) =>
    stack.http('POST', `/v1/monitor/cases/${caseB}/actions`, { token: coordinator, body });
  const view: any = await stack.client.workflow.getHandle(intake.workflowId).query('caseState');
  const workflowDue = Date.parse(view.openTasks.find((t: any) => t.id === intake.id).dueAt);
  await stack.db.caseTask.update({ where: { id: intake.id }, data: { dueAt: new Date(Date.now() - DAY) } });
  expect(
    ((await stuck('?region=hl/harbin/daoli&agency=union')).body.items as any[]).map((r) => r.caseId),
  ).toEqual([caseB]);

  const held = await caseAction({ action: 'hold', reason: 'household in hospital' });
  expect(held.status).toBe(200);
  expect(held.body.onHold).toBe(true);
  const before = await eventually(async () => {
    const c = await stack.db.householdCase.findUnique({ where: { id: caseB } });
    return c?.onHold && (await stack.db.caseTask.findUnique({ where: { id: intake.id } }));
  });
  expect((await caseAction({ action: 'hold', reason: 'again' })).status).toBe(409);
  expect(((await stuck('?region=hl/harbin/daoli&agency=union')).body.items as any[]).length).toBe(0);
  const onlyHeld = await stuck('?held=only');
  expect([onlyHeld.body.items.map((r: any) => r.caseId), onlyHeld.body.total]).toEqual([[caseB], 1]);

  await new Promise((r) => setTimeout(r, 3000));
  const resumed = await caseAction({ action: 'resume' });
  expect(resumed.status).toBe(200);
  expect(resumed.body.onHold).toBe(false);
  const after = await eventually(async () => {
    const t = await stack.db.caseTask.findUnique({ where: { id: intake.id } });
    return t && t.dueAt.getTime() !== before.dueAt.getTime() && t;
  });
  const resumedEvent = await eventually(() =>
    stack.db.caseEvent.findFirst({ where: { caseId: caseB, type: 'case.resumed' } }),
  );
  const heldMs = (resumedEvent.data as any).heldMs as number;
  expect(heldMs).toBeGreaterThanOrEqual(3000);
  // The workflow's own due time (5 working days after the referral) keeps its working days left
  // when held, counted again from the resume (a hold within one day leaves it where it was).
  const heldAt = new Date(resumedEvent.at.getTime() - heldMs).toISOString();
  const left = workingDaysBetween(heldAt, new Date(workflowDue).toISOString(), cnMainlandCalendar);
  expect(after.dueAt.toISOString()).toBe(
    addWorkingDays(resumedEvent.at.toISOString(), left, cnMainlandCalendar),
  );
  const audit = await stack.db.auditEntry.findMany({
    where: { caseId: caseB, action: { startsWith: 'monitor.' } },
    orderBy: { seq: 'asc' },
  });
  expect(audit.map((a) => `${a.action}:${(a.data as any).phase}`)).toEqual([
    'monitor.hold:attempt',
    'monitor.hold:applied',
    'monitor.hold:attempt',
    'monitor.hold:refused',
    'monitor.resume:attempt',
    'monitor.resume:applied',
  ]);
});

/**
 * The same reasons produced by the real workflows and their projection, not by hand: each case is
 * run by the state machine at past times and handed to a workflow (`caseInThePast`), which resumes
 * it now. A referral's acceptance task is opened by the referral workflow at its own start, so its
 * due time can only be aged in the projection (as the beforeAll does for comparison tasks); the dev
 * server cannot skip time and policy deadlines are whole days.
 */
test('a missed follow-up, an idle case and an unaccepted referral, from real workflows', async () => {
  /** Filed, assisted (with `measures`), and for an exit approved at `exitDaysAgo`. */
  const assisted = (name: string, startedDaysAgo: number, measures: string[], exitDaysAgo?: number) => {
    const past = caseInThePast(stack, name, startedDaysAgo);
    const d = startedDaysAgo - 10;
    past.toSignOff(d, d - 8);
    past.assist(measures, d - 10);
    if (exitDaysAgo !== undefined) {
      past.act({ action: 'proposeExit', note: 'employed again' }, 'union-staff', exitDaysAgo + 1);
      past.done(
        'exitApproval',
        { decision: 'approve', checklist: forms.checklistAll },
        'union-chair',
        exitDaysAgo,
      );
    }
    return past;
  };
  // Out since 180 days ago; the 3-month return visit opened 80 days ago (due 30 days later) and was never done.
  const missed = assisted('孙三', 200, ['union_living_aid'], 180);
  missed.tick(80);
  // Out since 48 days ago, nothing due before the 3-month visit: no event for 48 days.
  const idle = assisted('周四', 70, ['union_living_aid'], 48);
  // Referred to housing for public rental housing 50 days ago, still not accepted.
  const referred = assisted('吴五', 70, ['public_rental_housing']);
  for (const c of [missed, idle, referred]) await c.resume();

  const acceptance = await openTask(referred.s.caseId, 'referralAcceptance');
  await stack.db.caseTask.update({
    where: { id: acceptance.id },
    data: { dueAt: new Date(Date.now() - 3 * DAY) },
  });
  const expected: Array<[{ s: { caseId: string } }, string]> = [
    [missed, 'follow_up_missed'],
    [idle, 'case_idle'],
    [referred, 'referral_not_accepted'],
  ];
  let rows: any[] = [];
  const of = (c: { s: { caseId: string } }, reason: string) =>
    rows.find((r) => r.caseId === c.s.caseId && r.reason === reason);
  await eventually(async () => {
    rows = (await stuck('?limit=500')).body.items as any[];
    return expected.every(([c, reason]) => of(c, reason));
  });

  const followUp = of(missed, 'follow_up_missed');
  expect(followUp).toMatchObject({
    stage: 'gradual_exit',
    task: { type: 'followUpVisit' },
    heldBy: { agencies: ['union'] },
  });
  // Late since its due time, 30 calendar days after it opened 80 days ago.
  expect(followUp.since).toBe(new Date(followUp.task.dueAt).toISOString());
  expect(followUp.daysLate).toBeGreaterThan(48);
  expect(followUp.daysLate).toBeLessThan(51);

  // Stuck since the 30-day quiet period ran out (18 days ago), not since its last event.
  const quiet = of(idle, 'case_idle');
  expect(quiet).toMatchObject({ stage: 'gradual_exit', task: null, heldBy: { agencies: [] } });
  expect(quiet.daysLate).toBeCloseTo(18, 0);
  const lastEventAt = (await stack.db.householdCase.findUnique({ where: { id: idle.s.caseId } }))!
    .lastEventAt;
  expect(Date.parse(quiet.since) - lastEventAt.getTime()).toBe(30 * DAY);
  const byAge = async (q: string) =>
    ((await stuck(`?reason=case_idle&limit=500${q}`)).body.items as any[]).map((r) => r.caseId);
  expect(await byAge('&minDays=15')).toContain(idle.s.caseId);
  expect(await byAge('&minDays=20')).not.toContain(idle.s.caseId);

  expect(of(referred, 'referral_not_accepted')).toMatchObject({
    stage: 'assisting',
    task: { id: acceptance.id, type: 'referralAcceptance', workflowId: acceptance.workflowId },
    heldBy: { agencies: ['housing'] },
  });
  expect(acceptance.workflowId).not.toBe(referred.workflowId); // the referral's own workflow wrote it
});
