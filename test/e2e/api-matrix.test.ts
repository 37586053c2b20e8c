import { createApiKey } from '../../api/auth';
import { forms } from '../support/fixtures';
import { eventually, startStack, type Stack } from '../support/stack';
import { REGION, claimsOf, referCase } from './api-helpers';

/**
 * Object-level authorization: every task and case endpoint, tried by every principal of a foreign
 * agency or a foreign region (staff tokens and integrator keys), must answer 404/403, leak nothing
 * of the case, and change nothing.
 */
let stack: Stack;
type Who = { label: string; agency: string; roles: string[]; region: string; auth: Record<string, string> };
const principals: Who[] = [];

interface Target {
  name: string;
  caseId: string;
  taskId: string;
  agency: string;
  headName: string;
  idNumber: string;
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

  // Target 1: the union's intake task. Target 2: civil affairs' comparison task on a case that has
  // moved on (so HR is involved in the case, but the task is still not theirs).
  const a = await referCase(stack, { headName: '甲某某' });
  targets.push({
    name: 'union intake',
    caseId: a.caseId,
    taskId: a.task.id,
    agency: 'union',
    headName: '甲某某',
    idNumber: a.idNumber,
  });
  const b = await referCase(stack, { headName: '乙某某' });
  const done = await stack.http('POST', `/v1/tasks/${b.task.id}/complete`, {
    token: stack.token(claimsOf('union-staff')),
    body: { type: 'intakeReview', form: forms.intakeAccept },
  });
  expect(done.status).toBe(200);
  const civil = await eventually(() =>
    stack.db.caseTask.findFirst({ where: { caseId: b.caseId, type: 'dataComparisonCivil' } }),
  );
  targets.push({
    name: 'civil comparison',
    caseId: b.caseId,
    taskId: civil.id,
    agency: 'civil_affairs',
    headName: '乙某某',
    idNumber: b.idNumber,
  });
});
afterAll(async () => {
  await stack?.stop();
});

const within = (r: string, anc: string) => r === anc || r.startsWith(`${anc}/`);
/** Foreign to a task: another agency, or a region that does not cover the task's region. */
const foreign = (p: Who, t: Target) => p.agency !== t.agency || !within(REGION, p.region);

type Endpoint = {
  name: string;
  /** Case-level endpoints apply only to principals who may not see the case at all. */
  caseLevel?: boolean;
  call: (t: Target) => { method: string; path: string; body?: unknown };
  expect: (p: Who) => number[];
};
const e404 = () => [404];
const endpoints: Endpoint[] = [
  { name: 'GET task', call: (t) => ({ method: 'GET', path: `/v1/tasks/${t.taskId}` }), expect: e404 },
  {
    name: 'complete',
    call: (t) => ({
      method: 'POST',
      path: `/v1/tasks/${t.taskId}/complete`,
      body:
        t.agency === 'union'
          ? { type: 'intakeReview', form: forms.intakeAccept }
          : { type: 'dataComparisonCivil', form: forms.civil },
    }),
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
  {
    name: 'GET case',
    caseLevel: true,
    call: (t) => ({ method: 'GET', path: `/v1/cases/${t.caseId}` }),
    expect: e404,
  },
  {
    name: 'case action',
    caseLevel: true,
    call: (t) => ({
      method: 'POST',
      path: `/v1/cases/${t.caseId}/actions`,
      body: { action: 'comment', text: 'x' },
    }),
    expect: e404,
  },
];

test('every endpoint × every foreign principal → 404/403, nothing leaked, nothing changed', async () => {
  const keysBefore = await stack.db.apiKey.count();
  const before = await Promise.all(
    targets.map(async (t) => ({
      task: await stack.db.caseTask.findUniqueOrThrow({ where: { id: t.taskId } }),
      events: await stack.db.caseEvent.count({ where: { caseId: t.caseId } }),
    })),
  );
  const failures: string[] = [];
  let tried = 0;
  for (const t of targets) {
    const involved = new Set(
      (await stack.db.caseTask.findMany({ where: { caseId: t.caseId } })).map((x) => x.agency),
    );
    for (const p of principals.filter((x) => foreign(x, t))) {
      const seesCase =
        within(REGION, p.region) &&
        (p.agency === 'union' || p.roles.includes('coordinator') || involved.has(p.agency));
      for (const e of endpoints) {
        if (e.caseLevel && seesCase) continue;
        const { method, path, body } = e.call(t);
        const res = await stack.http(method, path, { headers: p.auth, body });
        tried++;
        const text = JSON.stringify(res.body);
        const leaked = [t.headName, t.idNumber, t.idNumber.slice(-4) + '"'].filter((s) => text.includes(s));
        const items = res.status === 200 ? (res.body.items as Array<{ id: string }>) : [];
        if (
          !e.expect(p).includes(res.status) ||
          leaked.length ||
          items.some((i) => i.id === t.taskId) ||
          res.body.task ||
          res.body.facts
        )
          failures.push(`${t.name} / ${e.name} / ${p.label}: ${res.status} ${text.slice(0, 200)}`);
      }
    }
  }
  expect(failures).toEqual([]);
  // 14 endpoints × 27 principals foreign to the union task and 26 to the civil-affairs one, less the
  // case-level endpoints for principals entitled to see that case.
  expect(tried).toBe(734);
  expect(await stack.db.apiKey.count()).toBe(keysBefore);

  for (const [i, t] of targets.entries()) {
    const task = await stack.db.caseTask.findUniqueOrThrow({ where: { id: t.taskId } });
    expect({ status: task.status, assignee: task.assignee, updatedAt: task.updatedAt }).toEqual({
      status: before[i]!.task.status,
      assignee: before[i]!.task.assignee,
      updatedAt: before[i]!.task.updatedAt,
    });
    expect(await stack.db.caseEvent.count({ where: { caseId: t.caseId } })).toBe(before[i]!.events);
  }
  const foreignAudit = await stack.db.auditEntry.count({
    where: { actor: { in: principals.map((p) => p.label) } },
  });
  expect(foreignAudit).toBe(0);
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
});
