import { startStack, eventually, type Stack } from '../support/stack';
import { demoUsers } from '../../scripts/demoUsers';
import { cnMainlandCalendar } from '../../domain/calendar/cn-mainland';
import { addWorkingDays, workingDaysBetween } from '../../domain/calendar/workingDays';

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
    ['case_idle', null, 'idle-1'],
    ['referral_not_accepted', 'referralAcceptance', 'idle-1'],
    ['cadre_visit_missed', 'cadreVisit', 'idle-1'],
    ['task_overdue', 'dataComparisonCivil', caseA],
    ['task_overdue', 'dataComparisonHr', caseA],
  ]);
  expect(res.body.total).toBe(5);
  // Why, since when, with whom.
  expect(rows[0]).toMatchObject({
    daysLate: 40,
    heldBy: { agencies: ['housing', 'union'] },
    stage: 'assisting',
  });
  expect(rows[1]).toMatchObject({ daysLate: 20, heldBy: { agencies: ['housing'], assignee: null } });
  expect(rows[3]).toMatchObject({
    daysLate: 5,
    stage: 'comparison',
    heldBy: { agencies: ['civil_affairs'] },
  });
  expect(rows.some((r) => r.caseId === 'far-1' || r.caseId === caseB)).toBe(false);
});

test('filters by region subtree, agency, stage, task type, reason and age', async () => {
  const ids = async (q: string) =>
    ((await stuck(q)).body.items as any[]).map((r) => r.task?.type ?? r.reason);
  expect(await ids('?region=hl/harbin/daoli')).toEqual(['dataComparisonCivil', 'dataComparisonHr']);
  expect(await ids('?agency=hr')).toEqual(['dataComparisonHr']);
  expect(await ids('?agency=housing')).toEqual(['case_idle', 'referralAcceptance']);
  expect(await ids('?stage=comparison')).toEqual(['dataComparisonCivil', 'dataComparisonHr']);
  expect(await ids('?taskType=cadreVisit')).toEqual(['cadreVisit']);
  expect(await ids('?reason=case_idle')).toEqual(['case_idle']);
  expect(await ids('?minDays=15')).toEqual(['case_idle', 'referralAcceptance']);
  expect(await ids('?limit=2&offset=1')).toEqual(['referralAcceptance', 'cadreVisit']);
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
  const open = (await stuck('?reason=escalation_open')).body.items as any[];
  expect(open.map((r) => r.task?.id)).toEqual([hr.id]);
  expect(open[0].heldBy).toMatchObject({
    assignee: 'hr-staff-2',
    escalatedTo: { agency: 'hr', role: 'supervisor' },
  });

  const audit = await stack.db.auditEntry.findMany({ where: { caseId: caseA }, orderBy: { seq: 'asc' } });
  expect(audit.filter((a) => a.action.startsWith('monitor.')).map((a) => [a.action, a.actor])).toEqual([
    ['monitor.extendDeadline', 'city-coordinator'],
    ['monitor.reassign', 'city-coordinator'],
    ['monitor.remind', 'city-coordinator'],
    ['monitor.escalate', 'city-coordinator'],
  ]);
  // Another region's task is not found; staff cannot act through the monitor.
  expect((await action('household-far-1.t3', { action: 'remind' })).status).toBe(404);
  const staff = await stack.http('POST', `/v1/monitor/tasks/${hr.id}/actions`, {
    token: user('union-supervisor'),
    body: { action: 'remind' },
  });
  expect(staff.status).toBe(403);
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
  expect(((await stuck('?held=only')).body.items as any[]).map((r) => r.caseId)).toEqual([caseB]);

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
  const audit = await stack.db.auditEntry.findMany({ where: { caseId: caseB }, orderBy: { seq: 'asc' } });
  expect(audit.map((a) => a.action).filter((a) => a.startsWith('monitor.'))).toEqual([
    'monitor.hold',
    'monitor.resume',
  ]);
});
