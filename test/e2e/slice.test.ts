import { createApp } from '../../api/app';
import { listen } from '../../api/server';
import { createDb } from '../../db/client';
import { startStack, type Stack } from '../support/stack';
import { demoUsers } from '../../scripts/demoUsers';

/** Issue 2's vertical slice, through HTTP → Temporal dev server → PostgreSQL and back. */
let stack: Stack;
const user = (sub: string) => stack.token(demoUsers.find((u) => u.sub === sub)!);

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

test('a referral starts a case whose first task is completed over HTTP, advancing the case', async () => {
  const union = user('union-staff');
  const referral = await stack.http('POST', '/v1/referrals', {
    token: union,
    body: {
      household: { idNumber: '23010219800101123X', headName: '李秀芳', regionCode: 'hl/harbin/daoli' },
      referral: { source: 'enterprise_union', referrer: 'Harbin Bearing Works union' },
    },
  });
  expect(referral.status).toBe(201);
  expect(referral.body).toMatchObject({ joined: false, stage: 'intake' });
  const caseId = referral.body.caseId as string;

  const inbox = await stack.http('GET', '/v1/tasks', { token: union });
  expect(inbox.status).toBe(200);
  const task = inbox.body.items.find((t: { caseId: string }) => t.caseId === caseId);
  expect(task).toMatchObject({ type: 'intakeReview', agency: 'union', status: 'open' });

  const done = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
    token: union,
    body: {
      type: 'intakeReview',
      form: { decision: 'accept', consent: { dataComparison: true, sharingWithAgencies: true } },
    },
  });
  expect(done.status).toBe(200);
  expect(done.body.stage).toBe('comparison');

  const read = await stack.http('GET', `/v1/cases/${caseId}`, { token: union });
  expect(read.status).toBe(200);
  expect(read.body.stage).toBe('comparison');
  expect(read.body.idNumberMasked).toBe('230***********123X');
  expect(JSON.stringify(read.body)).not.toContain('23010219800101123X');
  expect(read.body.openTasks.map((t: { type: string }) => t.type).sort()).toEqual([
    'dataComparisonCivil',
    'dataComparisonHr',
  ]);
  expect(read.body.timeline.map((e: { type: string }) => e.type)).toEqual(
    expect.arrayContaining(['case.opened', 'case.referral_received', 'task.completed', 'case.stage_changed']),
  );

  // The civil-affairs inbox now holds its comparison task; the union's first task is gone from it.
  const civil = await stack.http('GET', '/v1/tasks', { token: user('civil-affairs-staff') });
  expect(civil.body.items.map((t: { type: string }) => t.type)).toContain('dataComparisonCivil');
  const again = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
    token: union,
    body: {
      type: 'intakeReview',
      form: { decision: 'accept', consent: { dataComparison: true, sharingWithAgencies: true } },
    },
  });
  expect(again.status).toBe(409);
  expect(again.body).toMatchObject({ type: '/problems/task_not_open', status: 409 });
});

test('health and readiness report Temporal and the database', async () => {
  expect((await stack.http('GET', '/healthz')).body).toEqual({ status: 'ok' });
  expect((await stack.http('GET', '/readyz')).body).toEqual({
    status: 'ready',
    temporal: 'ok',
    database: 'ok',
  });
});

test('readiness is 503 naming the database when it is unreachable', async () => {
  const broken = await startStack();
  try {
    await broken.db.$disconnect();
    const badDb = createDb('postgresql://postgres@127.0.0.1:1/none', 1);
    const server = await listen(
      createApp({ config: broken.config, db: badDb, client: broken.client }),
      0,
      '127.0.0.1',
    );
    const res = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    const body = (await res.json()) as { temporal: string; database: string };
    expect(res.status).toBe(503);
    expect(body.temporal).toBe('ok');
    expect(body.database).toMatch(/^unreachable/);
    await server.close();
    await badDb.$disconnect();
  } finally {
    await broken.stop();
  }
});
