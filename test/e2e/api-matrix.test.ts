import { createApiKey } from '../../api/auth';
import { forms } from '../support/fixtures';
import { eventually, startStack, type Stack } from '../support/stack';
import { REGION, caseWithHousingReferral, claimsOf, referCase } from './api-helpers';

/**
 * Object-level authorization. Every task endpoint, tried by every principal of a foreign agency or
 * a foreign region (staff tokens and integrator keys), must answer 404/403, leak nothing of the case
 * and change nothing. Every case endpoint (the integrators' `GET /v1/referrals/:id` too), tried by
 * every principal, must show the whole case only to the union and coordinators in region, another
 * agency only its own part while it has open work on the case, and nothing to anyone else.
 */
let stack: Stack;
type Who = { label: string; agency: string; roles: string[]; region: string; auth: Record<string, string> };
const principals: Who[] = [];

interface Target {
  name: string;
  caseId: string;
  taskId: string;
  agency: string;
  completion: unknown;
  headName: string;
  idNumber: string;
  /** Agencies other than the union with open work on the case (they see their own part of it). */
  openWork: string[];
  /** Agencies that had work on the case, all done: the case is absent to them again. */
  doneWork: string[];
  causes: string[];
}
const targets: Target[] = [];

beforeAll(async () => {
  stack = await startStack();
  const staff = (label: string, agency: string, roles: string[], region: string) =>
    principals.push({
      label,
      agency,
      roles,
      region,
      auth: { authorization: `Bearer ${stack.token({ sub: label, agency, roles: roles as never, region })}` },
    });
  for (const agency of ['union', 'civil_affairs', 'hr', 'medical_insurance', 'housing']) {
    staff(`${agency}-staff-here`, agency, ['staff'], REGION);
    staff(`${agency}-supervisor-here`, agency, ['staff', 'supervisor'], REGION);
    staff(`${agency}-staff-qiqihar`, agency, ['staff', 'supervisor', 'chair'], 'hl/qiqihar');
    staff(`${agency}-staff-sibling`, agency, ['staff'], 'hl/harbin/nangang');
    staff(`${agency}-staff-below`, agency, ['staff'], `${REGION}/street-3`);
  }
  staff('coordinator-qiqihar', 'union', ['coordinator'], 'hl/qiqihar');
  staff('coordinator-harbin', 'union', ['coordinator'], 'hl/harbin');
  for (const [agency, region] of [
    ['civil_affairs', REGION],
    ['housing', REGION],
    ['union', 'hl/qiqihar'],
  ] as const) {
    const { key } = await createApiKey(stack.db, {
      name: `${agency} system`,
      agency,
      region,
      roles: ['staff', 'supervisor'],
    });
    principals.push({
      label: `apikey-${agency}-${region}`,
      agency,
      roles: ['staff'],
      region,
      auth: { authorization: `ApiKey ${key}` },
    });
  }

  // 1: the union's intake task.
  const a = await referCase(stack, { headName: '甲某某' });
  targets.push({
    name: 'union intake',
    caseId: a.caseId,
    taskId: a.task.id,
    agency: 'union',
    completion: { type: 'intakeReview', form: forms.intakeAccept },
    headName: '甲某某',
    idNumber: a.idNumber,
    openWork: [],
    doneWork: [],
    causes: [],
  });
  // 2: civil affairs' comparison task, on a case where HR has already done its own comparison.
  const b = await referCase(stack, { headName: '乙某某' });
  const union = stack.token(claimsOf('union-staff'));
  const done = await stack.http('POST', `/v1/tasks/${b.task.id}/complete`, {
    token: union,
    body: { type: 'intakeReview', form: forms.intakeAccept },
  });
  expect(done.status).toBe(200);
  const [civil, hr] = await eventually(async () => {
    const ts = await stack.db.caseTask.findMany({ where: { caseId: b.caseId }, orderBy: { type: 'asc' } });
    const c = ts.find((t) => t.type === 'dataComparisonCivil');
    const h = ts.find((t) => t.type === 'dataComparisonHr');
    return c && h && ([c, h] as const);
  });
  const hrDone = await stack.http('POST', `/v1/tasks/${hr.id}/complete`, {
    token: stack.token(claimsOf('hr-staff')),
    body: { type: 'dataComparisonHr', form: forms.hr },
  });
  expect(hrDone.status).toBe(200);
  targets.push({
    name: 'civil comparison',
    caseId: b.caseId,
    taskId: civil.id,
    agency: 'civil_affairs',
    completion: { type: 'dataComparisonCivil', form: forms.civil },
    headName: '乙某某',
    idNumber: b.idNumber,
    openWork: ['civil_affairs'],
    doneWork: ['hr'],
    causes: [],
  });
  // 3: housing's acceptance task on its referral's own workflow, on a filed case whose household
  // has a health-related hardship cause (civil affairs and HR compared its data long ago).
  const c = await caseWithHousingReferral(stack, '丙某某');
  targets.push({
    name: 'housing referral acceptance',
    caseId: c.caseId,
    taskId: c.acceptance.id,
    agency: 'housing',
    completion: { type: 'referralAcceptance', form: { decision: 'accept' } },
    headName: '丙某某',
    idNumber: c.idNumber,
    openWork: ['housing'],
    doneWork: ['civil_affairs', 'hr'],
    causes: ['illness'],
  });
});
afterAll(async () => {
  await stack?.stop();
});

const within = (r: string, anc: string) => r === anc || r.startsWith(`${anc}/`);
/** Foreign to a task: another agency, or a region that does not cover the task's region. */
const foreign = (p: Who, t: Target) => p.agency !== t.agency || !within(REGION, p.region);
/** How much of a target's case a principal may see: all of it, its own agency's part, or nothing. */
const caseSight = (p: Who, t: Target): 'whole' | 'own' | 'none' => {
  if (!within(REGION, p.region)) return 'none';
  if (p.agency === 'union' || p.roles.includes('coordinator')) return 'whole';
  return t.openWork.includes(p.agency) ? 'own' : 'none';
};

type Endpoint = {
  name: string;
  call: (t: Target) => { method: string; path: string; body?: unknown };
  expect: (p: Who) => number[];
};
const e404 = () => [404];
const taskEndpoints: Endpoint[] = [
  { name: 'GET task', call: (t) => ({ method: 'GET', path: `/v1/tasks/${t.taskId}` }), expect: e404 },
  {
    name: 'complete',
    call: (t) => ({ method: 'POST', path: `/v1/tasks/${t.taskId}/complete`, body: t.completion }),
    expect: e404,
  },
  { name: 'claim', call: (t) => ({ method: 'POST', path: `/v1/tasks/${t.taskId}/claim` }), expect: e404 },
  { name: 'release', call: (t) => ({ method: 'POST', path: `/v1/tasks/${t.taskId}/release` }), expect: e404 },
  {
    name: 'return',
    call: (t) => ({ method: 'POST', path: `/v1/tasks/${t.taskId}/return`, body: { reason: 'x' } }),
    expect: e404,
  },
  {
    name: 'correction-received',
    call: (t) => ({ method: 'POST', path: `/v1/tasks/${t.taskId}/correction-received` }),
    expect: e404,
  },
  {
    name: 'comment',
    call: (t) => ({ method: 'POST', path: `/v1/tasks/${t.taskId}/comment`, body: { text: 'x' } }),
    expect: e404,
  },
  {
    name: 'reassign',
    call: (t) => ({ method: 'POST', path: `/v1/tasks/${t.taskId}/reassign`, body: { assignee: 'me' } }),
    expect: e404,
  },
  {
    name: 'case action naming the task',
    call: (t) => ({
      method: 'POST',
      path: `/v1/cases/${t.caseId}/actions`,
      body: { action: 'claim', taskId: t.taskId },
    }),
    expect: e404,
  },
  {
    name: 'inbox filtered to the case',
    call: (t) => ({ method: 'GET', path: `/v1/tasks?caseId=${t.caseId}&status=open` }),
    expect: () => [200],
  },
  {
    name: "inbox filtered to the task's region",
    call: () => ({ method: 'GET', path: `/v1/tasks?region=${REGION}` }),
    expect: (p) => (within(REGION, p.region) ? [200] : [403]),
  },
  {
    // Minting a key of the task's agency would let a foreign principal act as that agency.
    name: "mint an API key of the task's agency",
    call: (t) => ({
      method: 'POST',
      path: '/v1/api-keys',
      body: { name: 'impostor', agency: t.agency, region: REGION, roles: ['staff', 'supervisor'] },
    }),
    expect: () => [403],
  },
];

/** A leak check on a response: the target's task, facts or identity where none may appear. */
function leaks(t: Target, res: { status: number; body: any }, identityAllowed: boolean): string[] {
  const text = JSON.stringify(res.body);
  // Those who may see the case see the head's name and the masked ID number, never the full one.
  const identity = identityAllowed ? [] : [t.headName, t.idNumber.slice(-4) + '"'];
  const out = [t.idNumber, ...identity].filter((s) => text.includes(s));
  const items =
    res.status === 200 && Array.isArray(res.body.items) ? (res.body.items as Array<{ id: string }>) : [];
  if (items.some((i) => i.id === t.taskId)) out.push('the task in a list');
  if (res.body.task) out.push('the task');
  if (res.body.facts) out.push('facts');
  return out;
}

async function snapshot() {
  return Promise.all(
    targets.map(async (t) => ({
      task: await stack.db.caseTask.findUniqueOrThrow({
        where: { id: t.taskId },
        select: { status: true, assignee: true, updatedAt: true },
      }),
      events: await stack.db.caseEvent.count({ where: { caseId: t.caseId } }),
    })),
  );
}

test('every task endpoint × every foreign principal → 404/403, nothing leaked, nothing changed', async () => {
  const keysBefore = await stack.db.apiKey.count();
  const before = await snapshot();
  const failures: string[] = [];
  let tried = 0;
  for (const t of targets)
    for (const p of principals.filter((x) => foreign(x, t)))
      for (const e of taskEndpoints) {
        const { method, path, body } = e.call(t);
        const res = await stack.http(method, path, { headers: p.auth, body });
        tried++;
        const leaked = leaks(t, res, false);
        if (!e.expect(p).includes(res.status) || leaked.length)
          failures.push(
            `${t.name} / ${e.name} / ${p.label}: ${res.status} ${leaked.join(', ')} ${JSON.stringify(res.body).slice(0, 200)}`,
          );
      }
  expect(failures).toEqual([]);
  // 12 endpoints × 27 principals foreign to each target (30 less its agency's 2 staff here and the
  // Harbin coordinator or the agency's key).
  expect(tried).toBe(12 * 27 * 3);
  expect(await snapshot()).toEqual(before);
  expect(await stack.db.apiKey.count()).toBe(keysBefore);
  const foreignAudit = await stack.db.auditEntry.count({
    where: { actor: { in: principals.map((p) => p.label) } },
  });
  expect(foreignAudit).toBe(0);
});

test('every case endpoint × every principal: the whole case, your own part of it while you have open work, or 404', async () => {
  const before = await snapshot();
  const failures: string[] = [];
  const fail = (t: Target, p: Who, what: string, res: { status: number; body: unknown }) =>
    failures.push(`${t.name} / ${p.label}: ${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  const seen = { whole: 0, own: 0, none: 0 };
  for (const t of targets) {
    const tasks = await stack.db.caseTask.findMany({ where: { caseId: t.caseId } });
    for (const p of principals) {
      const sight = caseSight(p, t);
      seen[sight]++;
      const res = await stack.http('GET', `/v1/cases/${t.caseId}`, { headers: p.auth });
      // A case action that reaches the workflow (visibility passed) is refused there: objections are
      // the union's, during a public notice only. Either way nothing changes.
      const act = await stack.http('POST', `/v1/cases/${t.caseId}/actions`, {
        headers: p.auth,
        body: { action: 'raiseObjection', text: 'x' },
      });
      // The integrators' status of the same case: the same sight.
      const status = await stack.http('GET', `/v1/referrals/${t.caseId}`, { headers: p.auth });
      if (sight === 'none') {
        if (res.status !== 404 || leaks(t, res, false).length) fail(t, p, 'GET case', res);
        if (act.status !== 404 || leaks(t, act, false).length) fail(t, p, 'case action', act);
        if (status.status !== 404 || leaks(t, status, false).length) fail(t, p, 'GET referral', status);
        continue;
      }
      const statusBody = status.body as {
        openTasks?: Array<{ type: string; agency: string }>;
        agencyReferrals?: Array<{ agency: string }>;
      };
      const open = tasks.filter((x) => ['open', 'awaiting_correction'].includes(x.status));
      const shown = (statusBody.openTasks ?? []).map((o) => `${o.agency}:${o.type}`).sort();
      const expected = open
        .filter((x) => sight === 'whole' || x.agency === p.agency)
        .map((x) => `${x.agency}:${x.type}`)
        .sort();
      if (status.status !== 200 || JSON.stringify(shown) !== JSON.stringify(expected))
        fail(t, p, `GET referral: open tasks ${shown.join(',')}, expected ${expected.join(',')}`, status);
      if (sight === 'own') {
        if (leaks(t, status, true).length)
          fail(t, p, `GET referral leaked ${leaks(t, status, true)}`, status);
        if (statusBody.agencyReferrals?.some((r) => r.agency !== p.agency))
          fail(t, p, "GET referral: another agency's referral", status);
      }
      if (res.status !== 200) {
        fail(t, p, 'GET case', res);
        continue;
      }
      if (![403, 409].includes(act.status)) fail(t, p, 'case action', act);
      const body = res.body as {
        causes?: string[];
        openTasks: Array<{ id: string; agency: string }>;
        timeline: Array<{ type: string; agency: string | null; taskId: string | null }>;
      };
      const otherAgencies = tasks.filter((x) => x.agency !== p.agency && x.status === 'open');
      if (sight === 'whole') {
        if (JSON.stringify(body.causes) !== JSON.stringify(t.causes)) fail(t, p, 'causes missing', res);
        for (const x of otherAgencies)
          if (!body.openTasks.some((o) => o.id === x.id)) fail(t, p, `open task ${x.id} missing`, res);
        continue;
      }
      // Own part only: no causes, no other agency's tasks or timeline entries.
      const own = new Set(tasks.filter((x) => x.agency === p.agency).map((x) => x.id));
      if ('causes' in body) fail(t, p, 'causes shown', res);
      if (leaks(t, res, true).length) fail(t, p, `leaked ${leaks(t, res, true).join(', ')}`, res);
      if (body.openTasks.some((o) => o.agency !== p.agency)) fail(t, p, "another agency's task", res);
      if (!body.openTasks.some((o) => o.id === t.taskId)) fail(t, p, 'its own task missing', res);
      const foreignEntry = body.timeline.find(
        (e) =>
          (e.agency !== null && e.agency !== p.agency) ||
          (e.taskId !== null && !own.has(e.taskId)) ||
          !/^(task|referral)\.|^case\.comment$/.test(e.type),
      );
      if (foreignEntry) fail(t, p, `timeline entry ${JSON.stringify(foreignEntry)}`, res);
      if (!body.timeline.some((e) => e.taskId === t.taskId)) fail(t, p, 'its own timeline missing', res);
    }
  }
  expect(failures).toEqual([]);
  // The matrix covers each kind of sight: the union and coordinators (2 union staff, the Harbin
  // coordinator) on 3 cases; civil affairs (2 staff, 1 key) on case 2; housing (2 staff, 1 key) on 3.
  expect(seen).toEqual({ whole: 9, own: 6, none: 3 * principals.length - 15 });
  expect(await snapshot()).toEqual(before);

  // Reads of the whole case carrying health data (causes) are audited; nobody else's reads leave
  // entries, and those who may not see a case leave none at all.
  const reads = await stack.db.auditEntry.findMany({
    where: { caseId: targets[2]!.caseId, action: 'case.read_sensitive' },
  });
  expect(reads.map((r) => r.actor).sort()).toEqual(
    principals
      .filter((p) => caseSight(p, targets[2]!) === 'whole')
      .map((p) => p.label)
      .sort(),
  );
  expect(reads.every((r) => JSON.stringify(r.data) === '{"fields":["causes"]}')).toBe(true);
  for (const t of targets) {
    const blind = principals.filter((p) => caseSight(p, t) === 'none').map((p) => p.label);
    expect(await stack.db.auditEntry.count({ where: { caseId: t.caseId, actor: { in: blind } } })).toBe(0);
  }
});

test('the referral feed lists a case to exactly those who see it on GET /v1/cases/:id (the referrer aside)', async () => {
  const ids = new Set(targets.map((t) => t.caseId));
  const failures: string[] = [];
  for (const p of principals) {
    const expected = targets.filter((t) => caseSight(p, t) !== 'none').map((t) => t.caseId);
    // Eventually: a page holds only cases whose writing transactions have all ended.
    const listed = await eventually(async () => {
      const res = await stack.http('GET', '/v1/referrals?limit=500', { headers: p.auth });
      const got = (res.body.items as Array<{ caseId: string }>)
        .map((i) => i.caseId)
        .filter((id) => ids.has(id));
      return JSON.stringify(got.sort()) === JSON.stringify([...expected].sort()) ? got : undefined;
    }, 2_000).catch(() => 'differs');
    if (listed === 'differs') failures.push(`${p.label}: expected ${expected.join(',') || 'none'}`);
  }
  expect(failures).toEqual([]);
});

test('an agency whose work on a case is done no longer sees it', async () => {
  for (const t of targets)
    for (const agency of t.doneWork) {
      const p = principals.find((x) => x.label === `${agency}-staff-here`)!;
      expect((await stack.http('GET', `/v1/cases/${t.caseId}`, { headers: p.auth })).status).toBe(404);
    }
  // HR really did have a task on case 2 (done), and still has none open.
  const hr = await stack.db.caseTask.findMany({ where: { caseId: targets[1]!.caseId, agency: 'hr' } });
  expect(hr.map((x) => x.status)).toEqual(['completed']);
});

test("a closed task shows its own record (what was submitted, by whom), not the case's current sensitive facts", async () => {
  const t = targets[1]!;
  const hr = principals.find((p) => p.label === 'hr-staff-here')!;
  const done = await stack.db.caseTask.findFirstOrThrow({ where: { caseId: t.caseId, agency: 'hr' } });
  const before = await stack.db.auditEntry.count({ where: { caseId: t.caseId, actor: hr.label } });
  const res = await stack.http('GET', `/v1/tasks/${done.id}`, { headers: hr.auth });
  expect(res.status).toBe(200);
  expect(res.body.status).toBe('completed');
  expect(res.body.facts).toEqual({});
  expect(res.body.record).toEqual({
    completedBy: 'hr-staff',
    completedAt: done.completedAt!.toISOString(),
    result: forms.hr,
  });
  expect(JSON.stringify(res.body)).not.toContain(t.idNumber);
  // Reading the record back is audited like any release of personal data.
  const reads = await stack.db.auditEntry.findMany({
    where: { caseId: t.caseId, actor: hr.label },
    orderBy: { seq: 'asc' },
  });
  expect(reads.length).toBe(before + 1);
  expect(reads.at(-1)).toMatchObject({ action: 'task.read_sensitive', data: { fields: ['result'] } });
  // The agency whose task is still active gets the ID number its work needs, and no record yet.
  const civil = principals.find((p) => p.label === 'civil_affairs-staff-here')!;
  const open = await stack.http('GET', `/v1/tasks/${t.taskId}`, { headers: civil.auth });
  expect(open.body.facts.idNumber).toBe(t.idNumber);
  expect(open.body.record).toBeNull();
});

test('an owner in the same place does get through (the matrix is not vacuous)', async () => {
  const t = targets[0]!;
  const owner = principals.find((p) => p.label === 'union-staff-here')!;
  const res = await stack.http('GET', `/v1/tasks/${t.taskId}`, { headers: owner.auth });
  expect(res.status).toBe(200);
  expect(res.body.case.headName).toBe(t.headName);
  const parent = principals.find((p) => p.label === 'coordinator-qiqihar')!;
  expect((await stack.http('GET', `/v1/cases/${t.caseId}`, { headers: parent.auth })).status).toBe(404);
  const key = principals.find((p) => p.label === `apikey-civil_affairs-${REGION}`)!;
  const civil = targets[1]!;
  expect((await stack.http('GET', `/v1/tasks/${civil.taskId}`, { headers: key.auth })).status).toBe(200);
  const housing = principals.find((p) => p.label === 'housing-staff-here')!;
  const referral = targets[2]!;
  expect((await stack.http('GET', `/v1/tasks/${referral.taskId}`, { headers: housing.auth })).status).toBe(
    200,
  );
});
