import { NativeConnection } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import { Prisma } from '../../generated/prisma/client';
import { createWorker } from '../../worker/worker';
import { forms } from '../support/fixtures';
import { caseInThePast } from './api-helpers';
import { createApiKey } from '../../api/auth';
import { demoUsers } from '../../scripts/demoUsers';
import { eventually, startStack, type Stack } from '../support/stack';

/** Integrators: one-call referral (idempotent, deduplicated), status, feed, and batch task work. */
let stack: Stack;
const keys: Record<string, string> = {};
const user = (sub: string) => stack.token(demoUsers.find((u) => u.sub === sub)!);
const as = (
  agency: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) => stack.http(method, path, { body, headers: { authorization: `ApiKey ${keys[agency]}`, ...headers } });
const household = (idNumber: string, headName: string) => ({
  idNumber,
  headName,
  regionCode: 'hl/harbin/daoli',
});

beforeAll(async () => {
  // A batch item waits at most 3 s for its workflow before it is reported pending.
  stack = await startStack({}, { batchItemWaitMs: 3000 });
  for (const agency of ['hr', 'civil_affairs', 'medical_insurance', 'housing'])
    keys[agency] = (
      await createApiKey(stack.db, { name: `${agency} system`, agency, region: 'hl/harbin', roles: [] })
    ).key;
});
afterAll(async () => {
  await stack?.stop();
});

let caseId: string;

test('POST /v1/referrals with an API key: same key and body → same case and response; other body → 422; same household joins', async () => {
  const body = {
    household: household('230102198002021111', '孙六'),
    referral: { source: 'agency', referrer: 'HR employment system', externalRef: 'HR-2026-0001' },
  };
  const first = await as('hr', 'POST', '/v1/referrals', body, { 'idempotency-key': 'hr-0001' });
  expect(first.status).toBe(201);
  caseId = first.body.caseId;
  const replay = await as('hr', 'POST', '/v1/referrals', body, { 'idempotency-key': 'hr-0001' });
  expect(replay.status).toBe(201);
  expect(replay.body).toEqual(first.body);
  const changed = await as(
    'hr',
    'POST',
    '/v1/referrals',
    { ...body, referral: { ...body.referral, note: 'changed' } },
    { 'idempotency-key': 'hr-0001' },
  );
  expect(changed.status).toBe(422);
  const joined = await as(
    'hr',
    'POST',
    '/v1/referrals',
    { ...body, referral: { ...body.referral, externalRef: 'HR-2026-0002' } },
    { 'idempotency-key': 'hr-0002' },
  );
  expect(joined.status).toBe(200);
  expect(joined.body).toMatchObject({ caseId, joined: true });
  expect(await stack.db.householdCase.count()).toBe(1);
});

test('GET /v1/referrals/:id: the sight of GET /v1/cases/:id, without personal data; the referrer follows its referral; absent to an uninvolved agency', async () => {
  const res = await eventually(async () => {
    const r = await stack.http('GET', `/v1/referrals/${caseId}`, { token: user('union-staff') });
    return r.status === 200 && r.body.referralsReceived === 2 && r;
  });
  expect(res.body).toMatchObject({
    caseId,
    stage: 'intake',
    openTasks: [{ type: 'intakeReview', agency: 'union' }],
  });
  expect(JSON.stringify(res.body)).not.toMatch(/230102198002021111|孙六/);
  // HR referred the household and has nothing to do on its case (yet): it follows its referral,
  // the case's status and its own part only (no union task, no personal data).
  const referrer = await as('hr', 'GET', `/v1/referrals/${caseId}`);
  expect(referrer.status).toBe(200);
  expect(referrer.body).toMatchObject({ caseId, stage: 'intake', referralsReceived: 2, openTasks: [] });
  expect(JSON.stringify(referrer.body)).not.toMatch(/230102198002021111|孙六/);
  // Medical insurance has no part in it: absent.
  expect((await as('medical_insurance', 'GET', `/v1/referrals/${caseId}`)).body).toMatchObject({
    status: 404,
    type: '/problems/referral_not_found',
  });
  expect(
    (await stack.http('GET', '/v1/referrals/nope', { headers: { authorization: 'ApiKey hrp_wrong' } }))
      .status,
  ).toBe(401);
});

test('the feed returns changed cases after a cursor, and each change once', async () => {
  const page = await eventually(async () => {
    const r = await as('hr', 'GET', '/v1/referrals?limit=50');
    return r.body.items?.length === 1 && r;
  });
  expect(page.body.items[0]).toMatchObject({ caseId, stage: 'intake' });
  const cursor = page.body.nextCursor;
  expect((await as('hr', 'GET', `/v1/referrals?updatedSince=${cursor}`)).body.items).toEqual([]);
  expect((await as('medical_insurance', 'GET', '/v1/referrals')).body.items).toEqual([]);

  const intake = await eventually(() =>
    stack.db.caseTask.findFirst({ where: { caseId, type: 'intakeReview' } }),
  );
  const done = await stack.http('POST', `/v1/tasks/${intake.id}/complete`, {
    token: user('union-staff'),
    body: {
      type: 'intakeReview',
      form: { decision: 'accept', consent: { dataComparison: true, sharingWithAgencies: true } },
    },
  });
  expect(done.status).toBe(200);
  const next = await eventually(async () => {
    const r = await as('hr', 'GET', `/v1/referrals?updatedSince=${cursor}`);
    return r.body.items.length === 1 && r.body.items[0].stage === 'comparison' && r;
  });
  // HR sees its own task, not civil affairs' (as on GET /v1/cases/:id), in the feed and the status.
  expect(next.body.items[0].openTasks.map((t: any) => t.type)).toEqual(['dataComparisonHr']);
  const status = await as('hr', 'GET', `/v1/referrals/${caseId}`);
  expect(status.body).toMatchObject({ stage: 'comparison', openTasks: [{ type: 'dataComparisonHr' }] });
  expect(status.body.openTasks).toHaveLength(1);
  expect((await as('hr', 'GET', `/v1/referrals?updatedSince=${next.body.nextCursor}`)).body.items).toEqual(
    [],
  );
  expect((await as('hr', 'GET', '/v1/referrals?updatedSince=garbage')).status).toBe(400);
});

test('a write that commits late is still served: the feed never moves past an open transaction', async () => {
  // Two cases the HR system referred, both in the feed.
  const refer = async (id: string, name: string, ref: string) => {
    const res = await as(
      'hr',
      'POST',
      '/v1/referrals',
      {
        household: household(id, name),
        referral: { source: 'agency', referrer: 'HR employment system', externalRef: ref },
      },
      { 'idempotency-key': `late-${ref}` },
    );
    expect(res.status).toBe(201);
    return res.body.caseId as string;
  };
  const slow = await refer('230102198005051111', '郑九', 'HR-LATE-1');
  const quick = await refer('230102198006061111', '冯十', 'HR-LATE-2');
  let cursor = '';
  await eventually(async () => {
    for (;;) {
      const r = await as('hr', 'GET', `/v1/referrals?limit=50${cursor && `&updatedSince=${cursor}`}`);
      cursor = r.body.nextCursor;
      if (!r.body.hasMore) break;
    }
    // Settled: both cases served and no projection write still pending.
    const [{ pending }] = await stack.db.$queryRaw<[{ pending: bigint }]>`
      SELECT count(*) AS pending FROM "HouseholdCase" WHERE "id" IN (${slow}, ${quick})
         AND "writeXid" >= (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)`;
    return (
      pending === 0n &&
      (await as('hr', 'GET', `/v1/referrals?updatedSince=${cursor}`)).body.items.length === 0
    );
  }, 30_000);

  // A worker's write to the first case stamps its time, then its commit is delayed (a slow
  // transaction, a stalled host); meanwhile the second case changes and commits.
  const late = new PgClient({ connectionString: stack.databaseUrl });
  const other = new PgClient({ connectionString: stack.databaseUrl });
  await late.connect();
  await other.connect();
  try {
    await late.query('BEGIN');
    await late.query(
      `UPDATE "HouseholdCase" SET "updatedAt" = clock_timestamp(), "onHold" = true WHERE "id" = $1`,
      [slow],
    );
    await new Promise((r) => setTimeout(r, 2500)); // longer than any settling window by the clock
    await other.query(
      `UPDATE "HouseholdCase" SET "updatedAt" = clock_timestamp(), "onHold" = true WHERE "id" = $1`,
      [quick],
    );
    await new Promise((r) => setTimeout(r, 2500));
    const during = await as('hr', 'GET', `/v1/referrals?updatedSince=${cursor}`);
    expect(during.status).toBe(200);
    // The committed change is held back while an earlier transaction is open: serving it would
    // move the cursor past the write still to commit.
    expect(during.body.items.map((i: any) => i.caseId)).toEqual([]);
    cursor = during.body.nextCursor;
    await late.query('COMMIT');
  } finally {
    await late.end();
    await other.end();
  }
  const seen = await eventually(async () => {
    const r = await as('hr', 'GET', `/v1/referrals?updatedSince=${cursor}`);
    return r.body.items.length === 2 && r.body.items;
  }, 30_000);
  expect(seen.map((i: any) => [i.caseId, i.onHold])).toEqual([
    [slow, true],
    [quick, true],
  ]);
});

const civilForm = {
  monthlyIncomeCents: 120000,
  realEstateCount: 0,
  vehicleCount: 0,
  depositsCents: 5000,
  currentAllowances: [],
};

test('an agency system pulls its comparison tasks and posts results in a batch; errors per item; a retried batch changes nothing twice', async () => {
  // Two more households in comparison.
  for (const [id, name] of [
    ['230102198003031111', '钱七'],
    ['230102198004041111', '吴八'],
  ] as const) {
    const ref = await stack.http('POST', '/v1/referrals', {
      token: user('union-staff'),
      body: { household: household(id, name), referral: { source: 'cadre', referrer: 'cadre' } },
    });
    const t = await eventually(() =>
      stack.db.caseTask.findFirst({ where: { caseId: ref.body.caseId, type: 'intakeReview' } }),
    );
    await stack.http('POST', `/v1/tasks/${t.id}/complete`, {
      token: user('union-staff'),
      body: {
        type: 'intakeReview',
        form: { decision: 'accept', consent: { dataComparison: true, sharingWithAgencies: true } },
      },
    });
  }
  const pulled = await eventually(async () => {
    const r = await as('civil_affairs', 'GET', '/v1/batch/tasks?limit=2');
    return r.body.items?.length === 2 && r;
  });
  expect(
    pulled.body.items.every(
      (i: any) => i.type === 'dataComparisonCivil' && /^\d{17}[\dX]$/.test(i.household.idNumber),
    ),
  ).toBe(true);
  const rest = await as('civil_affairs', 'GET', `/v1/batch/tasks?after=${pulled.body.nextAfter}`);
  expect(rest.body.items).toHaveLength(1);
  // Every ID number released is audited: one entry per task, on its case's chain, none lost.
  for (const res of [pulled, rest]) {
    const reads = await stack.db.auditEntry.findMany({
      where: { requestId: res.headers.get('x-request-id')!, action: 'task.read_sensitive' },
    });
    expect(reads.map((e) => `${e.chain} ${e.target} ${JSON.stringify(e.data)}`).sort()).toEqual(
      res.body.items.map((i: any) => `${i.caseId} ${i.taskId} {"via":"batch"}`).sort(),
    );
  }
  const [a, b] = pulled.body.items;
  const c = rest.body.items[0];
  const hrTask = (await as('hr', 'GET', '/v1/batch/tasks')).body.items[0];
  expect(hrTask.type).toBe('dataComparisonHr');

  const batch = {
    items: [
      { taskId: a.taskId, completion: { type: 'dataComparisonCivil', form: civilForm } },
      {
        taskId: b.taskId,
        completion: { type: 'dataComparisonCivil', form: { ...civilForm, vehicleCount: -1 } },
      },
      { taskId: 'no-such-task', completion: { type: 'dataComparisonCivil', form: civilForm } },
      {
        taskId: hrTask.taskId,
        completion: {
          type: 'dataComparisonHr',
          form: {
            employedMembers: 0,
            unemployedMembers: 2,
            socialInsurance: { pension: false, medical: true, unemployment: false },
          },
        },
      },
      {
        taskId: c.taskId,
        completion: { type: 'dataComparisonCivil', form: { ...civilForm, vehicleCount: 1 } },
      },
    ],
  };
  const res = await as('civil_affairs', 'POST', '/v1/batch/tasks/results', batch);
  expect(res.status).toBe(200);
  expect(res.body.results.map((r: any) => [r.ok, r.error?.status ?? null, r.error?.code ?? null])).toEqual([
    [true, null, null],
    [false, 400, 'invalid_input'],
    [false, 404, 'task_not_found'],
    [false, 404, 'task_not_found'],
    [true, null, null],
  ]);
  expect(res.body.results[1].error.errors[0].path).toBe('body.items.1.completion.form.vehicleCount');
  expect(res.body).toMatchObject({ succeeded: 2, failed: 3 });
  await eventually(
    async () => (await stack.db.caseTask.findUnique({ where: { id: c.taskId } }))?.status === 'completed',
  );

  const retry = await as('civil_affairs', 'POST', '/v1/batch/tasks/results', batch);
  expect(retry.body.results.map((r: any) => r.ok)).toEqual([true, false, false, false, true]);
  expect(retry.body.results[0]).toMatchObject({ alreadyApplied: true });
  const completions = await stack.db.caseEvent.count({
    where: { type: 'task.completed', taskId: { in: [a.taskId, c.taskId] } },
  });
  expect(completions).toBe(2);
  // Another answer to a task already completed is a conflict, not silently taken.
  const other = await as('civil_affairs', 'POST', '/v1/batch/tasks/results', {
    items: [
      {
        taskId: a.taskId,
        completion: { type: 'dataComparisonCivil', form: { ...civilForm, vehicleCount: 3 } },
      },
    ],
  });
  expect(other.body.results[0].error).toMatchObject({ status: 409, code: 'task_not_open' });
  const row = await stack.db.caseTask.findUnique({ where: { id: a.taskId } });
  expect(row).toMatchObject({ completedBy: expect.stringMatching(/^apikey:/), result: civilForm });
  // Each completion audited once: one attempt, one outcome.
  for (const t of [a, c]) expect(await audits(t.taskId)).toEqual(['attempt', 'applied']);
});

/** The phases of a task's completion entries in the audit trail, in order. */
const audits = async (taskId: string) =>
  (
    await stack.db.auditEntry.findMany({
      where: { action: 'task.complete', target: taskId },
      orderBy: { seq: 'asc' },
    })
  ).map((e) => (e.data as { phase?: string }).phase);

/** A case in information comparison (intake done 4 days ago), run by a worker on `taskQueue`. */
async function inComparison(name: string, taskQueue?: string) {
  const past = caseInThePast(stack, name, 5);
  past.done('intakeReview', forms.intakeAccept, 'union-staff', 4);
  await past.resume(taskQueue);
  const civil = await eventually(() =>
    stack.db.caseTask.findFirst({
      where: { caseId: past.s.caseId, type: 'dataComparisonCivil', status: 'open' },
    }),
  );
  return { caseId: past.s.caseId, civil };
}
const civilItem = (taskId: string) => ({
  taskId,
  completion: { type: 'dataComparisonCivil', form: civilForm },
});

test('a batch retried while the projection lags runs the Update again but audits it once', async () => {
  const { civil } = await inComparison('郑一');
  const batch = { items: [civilItem(civil.id)] };
  const first = await as('civil_affairs', 'POST', '/v1/batch/tasks/results', batch);
  expect(first.body.results[0]).toMatchObject({ ok: true, status: 200, stage: 'comparison' });
  await eventually(
    async () => (await stack.db.caseTask.findUnique({ where: { id: civil.id } }))?.status === 'completed',
  );
  // The system retries before the projection has caught up: its row still says open.
  await stack.db.caseTask.update({
    where: { id: civil.id },
    data: { status: 'open', completedAt: null, completedBy: null, result: Prisma.DbNull },
  });
  const retries = await Promise.all(
    [1, 2].map(() => as('civil_affairs', 'POST', '/v1/batch/tasks/results', batch)),
  );
  for (const r of retries) expect(r.body.results[0]).toMatchObject({ ok: true, status: 200 });
  expect(await audits(civil.id)).toEqual(['attempt', 'applied']);
  expect(await stack.db.caseEvent.count({ where: { type: 'task.completed', taskId: civil.id } })).toBe(1);
});

test('an item whose workflow does not answer in time is pending; the rest of the batch is answered', async () => {
  // One case on a worker that has since stopped (a stuck worker), one on the running worker.
  const queue = `${stack.config.TEMPORAL_TASK_QUEUE}-stalled`;
  const connection = await NativeConnection.connect({ address: stack.config.TEMPORAL_ADDRESS });
  const stalledWorker = await createWorker({
    connection,
    namespace: stack.config.TEMPORAL_NAMESPACE,
    taskQueue: queue,
    db: stack.db,
  });
  const stuck = await stalledWorker.runUntil(() => inComparison('钱二', queue));
  await connection.close();
  const live = await inComparison('孙三');

  const batch = { items: [civilItem(stuck.civil.id), civilItem(live.civil.id)] };
  const res = await as('civil_affairs', 'POST', '/v1/batch/tasks/results', batch);
  expect(res.status).toBe(200);
  expect(res.body.results).toEqual([
    {
      taskId: stuck.civil.id,
      ok: false,
      status: 202,
      pending: true,
      detail:
        'the case did not answer within 3 s; send the same item again to learn its outcome (it is applied at most once)',
    },
    { taskId: live.civil.id, ok: true, status: 200, stage: 'comparison' },
  ]);
  expect(res.body).toMatchObject({ succeeded: 1, pending: 1, failed: 0 });
  // The pending item's attempt stays open: its next try (or the reconciler) settles it.
  expect(await audits(stuck.civil.id)).toEqual(['attempt']);
  expect(await audits(live.civil.id)).toEqual(['attempt', 'applied']);
});

test('a referral task is completed through the referral workflow’s own Update', async () => {
  const past = caseInThePast(stack, '李四', 70);
  past.toSignOff(60, 52);
  past.assist(['public_rental_housing'], 50);
  await past.resume();
  const task = await eventually(async () => {
    const r = await as('housing', 'GET', '/v1/batch/tasks?type=referralAcceptance');
    return (r.body.items as any[] | undefined)?.find((i) => i.caseId === past.s.caseId);
  });
  const row = await stack.db.caseTask.findUniqueOrThrow({ where: { id: task.taskId } });
  const res = await as('housing', 'POST', '/v1/batch/tasks/results', {
    items: [
      { taskId: task.taskId, completion: { type: 'referralAcceptance', form: { decision: 'accept' } } },
    ],
  });
  expect(res.body.results).toEqual([
    {
      taskId: task.taskId,
      ok: true,
      status: 200,
      referral: { referralId: row.workflowId, status: 'accepted' },
    },
  ]);
});

test('an unexpected error is a generic 500 for its item (the detail is logged); bodies are named body.*', async () => {
  // A corrupt projection row: its workflow ID is empty, which the server refuses outright.
  await stack.db.$executeRaw`
    INSERT INTO "HouseholdCase" ("id","workflowId","householdKey","regionCode","stage","causes","headName",
      "idNumberMasked","openedAt","policyVersion","lastEventAt","eventSeq","facts","summary","updatedAt")
    VALUES ('broken-1','household-broken-1','k-broken-1','hl/harbin/daoli','comparison','{}','某',
            '230***********0009',now(),'2026.1',now(),3,'{}','{}',now())`;
  await stack.db.caseTask.create({
    data: {
      id: 'broken-1.t1',
      caseId: 'broken-1',
      workflowId: '',
      type: 'dataComparisonCivil',
      agency: 'civil_affairs',
      regionCode: 'hl/harbin/daoli',
      status: 'open',
      createdAt: new Date(),
      dueAt: new Date(Date.now() + 86_400_000),
      context: {},
    },
  });
  const res = await as('civil_affairs', 'POST', '/v1/batch/tasks/results', {
    items: [civilItem('broken-1.t1')],
  });
  expect(res.body.results).toEqual([
    {
      taskId: 'broken-1.t1',
      ok: false,
      status: 500,
      error: { status: 500, code: 'internal', detail: 'an unexpected error occurred; quote the request ID' },
    },
  ]);
  const empty = await as('civil_affairs', 'POST', '/v1/batch/tasks/results', { items: [] });
  expect(empty.status).toBe(400);
  expect(empty.body.errors).toEqual([expect.objectContaining({ path: 'body.items' })]);
});
