import { WorkflowNotFoundError } from '@temporalio/client';
import { Prisma } from '../../generated/prisma/client';
import { createApiKey } from '../../api/auth';
import { audit, openAuditAttempts, reconcileAuditTrail, verifyAuditChains } from '../../api/audit';
import { caseWorkflowId, householdKey } from '../../api/households';
import { deliveryWorkflowId, dispatcherWorkflowId } from '../../workflows/webhookDelivery';
import { startAuditReconciler } from '../../worker/auditReconciler';
import { forms } from '../support/fixtures';
import { eventually, startStack, type Stack } from '../support/stack';
import {
  REGION,
  agencyKey,
  caseAwaitingSignOff,
  claimsOf,
  idNumber,
  openTask,
  referCase,
  referralBody,
} from './api-helpers';

/**
 * The audit trail fails closed: sensitive data leaves, and a change is made, only once its entry is
 * written; a change whose outcome entry was lost (the API died after the workflow Update) is settled
 * later from the workflow's own events.
 */
let stack: Stack;
const as = (sub: string) => stack.token(claimsOf(sub));

beforeAll(async () => {
  stack = await startStack();
  await stack.db.$executeRawUnsafe(`
    CREATE FUNCTION test_audit_down() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit trail unavailable (test)'; END $$`);
});
afterAll(async () => {
  await stack?.stop();
});

/** Makes appends to the audit trail fail (all of them, or only matching ones) while `fn` runs. */
async function auditDown<T>(fn: () => Promise<T>, when = 'true'): Promise<T> {
  await stack.db.$executeRawUnsafe(
    `CREATE TRIGGER test_audit_down BEFORE INSERT ON "AuditEntry" FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION test_audit_down()`,
  );
  const write = process.stderr.write;
  process.stderr.write = (() => true) as never; // the error log lines are expected here
  try {
    return await fn();
  } finally {
    process.stderr.write = write;
    await stack.db.$executeRawUnsafe('DROP TRIGGER test_audit_down ON "AuditEntry"');
  }
}

const expect503 = (res: { status: number; body: any }) => {
  expect(res.status).toBe(503);
  expect(res.body).toMatchObject({ type: '/problems/audit_unavailable', status: 503 });
};

test('audit trail unavailable: sensitive reads are refused (503) and release nothing', async () => {
  const intake = await referCase(stack);
  const signOff = await caseAwaitingSignOff(stack);
  const civilKey = (
    await createApiKey(stack.db, { name: 'civil', agency: 'civil_affairs', region: REGION, roles: ['staff'] })
  ).key;
  const done = await stack.http('POST', `/v1/tasks/${intake.task.id}/complete`, {
    token: as('union-staff'),
    body: { type: 'intakeReview', form: forms.intakeAccept },
  });
  expect(done.status).toBe(200);
  const comparison = await eventually(() =>
    stack.db.caseTask.findFirst({ where: { caseId: intake.caseId, type: 'dataComparisonCivil' } }),
  );
  const entries = await stack.db.auditEntry.count();
  await auditDown(async () => {
    // The ID number for the comparison task; the hardship causes (health data) on the case; ID
    // numbers for a system pulling its comparison tasks.
    const task = await stack.http('GET', `/v1/tasks/${comparison.id}`, { token: as('civil-affairs-staff') });
    expect503(task);
    expect(JSON.stringify(task.body)).not.toContain(intake.idNumber);
    const c = await stack.http('GET', `/v1/cases/${signOff.caseId}`, { token: as('union-staff') });
    expect503(c);
    expect(JSON.stringify(c.body)).not.toContain('illness');
    const batch = await stack.http('GET', '/v1/batch/tasks?type=dataComparisonCivil', {
      headers: { authorization: `ApiKey ${civilKey}` },
    });
    expect503(batch);
    expect(JSON.stringify(batch.body)).not.toContain(intake.idNumber);
  });
  expect(await stack.db.auditEntry.count()).toBe(entries);
  // Back up: the same reads are released, each audited.
  const task = await stack.http('GET', `/v1/tasks/${comparison.id}`, { token: as('civil-affairs-staff') });
  expect(task.body.facts.idNumber).toBe(intake.idNumber);
  const c = await stack.http('GET', `/v1/cases/${signOff.caseId}`, { token: as('union-staff') });
  expect(c.body.causes).toEqual(['illness']);
  expect(
    (
      await stack.db.auditEntry.findMany({
        where: { requestId: { in: [task, c].map((r) => r.headers.get('x-request-id')!) } },
      })
    )
      .map((e) => e.action)
      .sort(),
  ).toEqual(['case.read_sensitive', 'task.read_sensitive']);
});

test('audit trail unavailable: changes are refused (503) before they are made', async () => {
  const { caseId, task } = await referCase(stack);
  const events = await stack.db.caseEvent.count({ where: { caseId } });
  const existing = await createApiKey(stack.db, {
    name: 'old',
    agency: 'union',
    region: REGION,
    roles: ['staff'],
  });
  const keys = await stack.db.apiKey.count();
  const referral = referralBody();
  const household = householdKey(referral.household.idNumber, stack.config.HOUSEHOLD_KEY_SECRET);
  await auditDown(async () => {
    expect503(await stack.http('POST', '/v1/referrals', { token: as('union-staff'), body: referral }));
    expect503(await stack.http('POST', `/v1/tasks/${task.id}/claim`, { token: as('union-staff') }));
    expect503(
      await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
        token: as('union-staff'),
        body: { type: 'intakeReview', form: forms.intakeAccept },
      }),
    );
    expect503(
      await stack.http('POST', `/v1/cases/${caseId}/actions`, {
        token: as('union-staff'),
        body: { action: 'comment', text: 'called' },
      }),
    );
    expect503(
      await stack.http('POST', '/v1/api-keys', {
        token: as('union-supervisor'),
        body: { name: 'new system', region: REGION },
      }),
    );
    expect503(await stack.http('DELETE', `/v1/api-keys/${existing.id}`, { token: as('union-supervisor') }));
  });
  const after = await stack.db.caseTask.findUniqueOrThrow({ where: { id: task.id } });
  expect({ status: after.status, assignee: after.assignee }).toEqual({ status: 'open', assignee: null });
  expect(await stack.db.caseEvent.count({ where: { caseId } })).toBe(events);
  expect(await stack.db.apiKey.count()).toBe(keys);
  expect((await stack.db.apiKey.findUniqueOrThrow({ where: { id: existing.id } })).revokedAt).toBeNull();
  // The refused referral started no case.
  await expect(stack.client.workflow.getHandle(caseWorkflowId(household)).describe()).rejects.toThrow(
    WorkflowNotFoundError,
  );
  expect(await stack.db.householdCase.count({ where: { householdKey: household } })).toBe(0);
  // A 503 is not stored against an Idempotency-Key: the client's retry goes through once the trail is back.
  const retry = await stack.http('POST', `/v1/tasks/${task.id}/claim`, { token: as('union-staff') });
  expect(retry.status).toBe(200);
});

/** A new case's intake task claimed, the claim's outcome entry lost: what a crash right after the Update leaves. */
async function claimLosingOutcome() {
  const { caseId, task } = await referCase(stack);
  const claim = await auditDown(
    () => stack.http('POST', `/v1/tasks/${task.id}/claim`, { token: as('union-staff') }),
    `NEW."data"->>'phase' = 'applied'`,
  );
  expect(claim.status).toBe(200);
  return { caseId, task, claim };
}

test('the API dies between the Update and its outcome entry: the open attempt is settled from the workflow events', async () => {
  const { caseId, task, claim } = await claimLosingOutcome();
  expect(claim.body.task.assignee).toBe('union-staff');
  const trail = await stack.db.auditEntry.findMany({ where: { chain: caseId }, orderBy: { seq: 'asc' } });
  expect(trail.map((e) => [e.action, (e.data as any).phase])).toEqual([
    ['referral.add', undefined],
    ['task.claim', 'attempt'],
  ]);
  // The attempt names the event by which the workflow records the change.
  expect(trail[1]!.data).toMatchObject({ recordedAs: ['task.claimed'] });
  // An attempt that never reached the workflow (the process died before its Update).
  const last = await stack.db.caseEvent.aggregate({ where: { caseId }, _max: { seq: true } });
  const workflowId = task.workflowId;
  await audit(stack.db, {
    caseId,
    principal: { sub: 'union-staff', kind: 'staff', agency: 'union' },
    action: 'task.release',
    target: task.id,
    requestId: 'died-before-update',
    data: { phase: 'attempt', workflowId, afterSeq: last._max.seq },
  });
  expect(await openAuditAttempts(stack.db, { olderThanMs: 0, chains: [caseId] })).toHaveLength(2);

  const settled = await reconcileAuditTrail(stack.db, { olderThanMs: 0, chains: [caseId] });
  expect(settled).toEqual([
    { chain: caseId, attemptSeq: 2, phase: 'applied' },
    { chain: caseId, attemptSeq: 3, phase: 'not_applied' },
  ]);
  const outcomes = await stack.db.auditEntry.findMany({
    where: { chain: caseId, seq: { gt: 3 } },
    orderBy: { seq: 'asc' },
  });
  expect(outcomes.map((e) => e.data)).toEqual([
    {
      phase: 'applied',
      attemptSeq: 2,
      reconciled: true,
      events: [expect.objectContaining({ workflowId, type: 'task.claimed' })],
    },
    { phase: 'not_applied', attemptSeq: 3, reconciled: true, events: [] },
  ]);
  expect(await reconcileAuditTrail(stack.db, { olderThanMs: 0, chains: [caseId] })).toEqual([]);
  expect((await verifyAuditChains(stack.db, [caseId])).problems).toEqual([]);
});

test("a referral whose outcome entry was lost is settled on the household's chain and recorded on the case it reached, a later case too", async () => {
  const first = await referCase(stack);
  const workflowId = first.task.workflowId;
  const withdrawn = await stack.http('POST', `/v1/cases/${first.caseId}/actions`, {
    token: as('union-staff'),
    body: { action: 'withdraw', reason: 'moved away' },
  });
  expect(withdrawn.status).toBe(200);
  await eventually(
    async () => (await stack.client.workflow.getHandle(workflowId).describe()).status.name === 'COMPLETED',
  );
  // Referred again: a new case under the same workflow ID, its events numbered from 1 again. The
  // outcome entries are lost (a crash right after each Update), for the referral and for a claim.
  const lost = `NEW."data"->>'phase' = 'applied'`;
  const again = await auditDown(
    () => stack.http('POST', '/v1/referrals', { token: as('union-staff'), body: first.body }),
    lost,
  );
  expect(again.status).toBe(201);
  const second = again.body.caseId as string;
  const intake = await eventually(() =>
    stack.db.caseTask.findFirst({ where: { caseId: second, type: 'intakeReview', status: 'open' } }),
  );
  const claim = await auditDown(
    () => stack.http('POST', `/v1/tasks/${intake.id}/claim`, { token: as('union-staff') }),
    lost,
  );
  expect(claim.status).toBe(200);
  const trail = (chain: string) =>
    stack.db.auditEntry.findMany({ where: { chain }, orderBy: { seq: 'asc' } });
  // The household's chain holds each referral's attempt (the first one settled at once).
  expect((await trail(workflowId)).map((e) => [e.action, e.caseId, (e.data as any).phase])).toEqual([
    ['referral.add', null, 'attempt'],
    ['referral.add', null, 'applied'],
    ['referral.add', null, 'attempt'],
  ]);
  expect((await trail(workflowId))[1]!.data).toEqual({
    phase: 'applied',
    attemptSeq: 1,
    caseId: first.caseId,
  });
  expect((await trail(second)).map((e) => [e.action, (e.data as any).phase])).toEqual([
    ['task.claim', 'attempt'],
  ]);

  const settled = await reconcileAuditTrail(stack.db, { olderThanMs: 0, chains: [workflowId, second] });
  expect(settled).toHaveLength(2);
  expect(settled).toEqual(
    expect.arrayContaining([
      { chain: workflowId, attemptSeq: 3, phase: 'applied' },
      { chain: second, attemptSeq: 1, phase: 'applied' },
    ]),
  );
  // Only the new case's event is cited (the first case's referral, by the same person, came before
  // the attempt), and the referral is recorded on the case it reached.
  const [received] = await stack.db.caseEvent.findMany({
    where: { caseId: second, type: 'case.referral_received' },
  });
  const cited = [{ workflowId, seq: received!.seq, type: 'case.referral_received' }];
  expect((await trail(workflowId))[3]!.data).toEqual({
    phase: 'applied',
    attemptSeq: 3,
    reconciled: true,
    events: cited,
    caseId: second,
  });
  const onCase = await trail(second);
  expect(onCase.find((e) => e.action === 'referral.add')).toMatchObject({
    actor: 'union-staff',
    target: second,
    data: {
      source: first.body.referral.source,
      referrer: first.body.referral.referrer,
      externalRef: null,
      reconciled: true,
      events: cited,
      attempt: { chain: workflowId, seq: 3 },
    },
  });
  expect(onCase.find((e) => e.action === 'task.claim' && (e.data as any).phase === 'applied')!.data).toEqual({
    phase: 'applied',
    attemptSeq: 1,
    reconciled: true,
    events: [expect.objectContaining({ type: 'task.claimed' })],
  });
  expect(await reconcileAuditTrail(stack.db, { olderThanMs: 0, chains: [workflowId, second] })).toEqual([]);
  expect((await verifyAuditChains(stack.db, [workflowId, first.caseId, second])).problems).toEqual([]);
});

test('batch results and monitor actions are audited like any change: refused while the trail is down, and a lost outcome is settled', async () => {
  const { caseId, task } = await referCase(stack);
  const accepted = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
    token: as('union-staff'),
    body: { type: 'intakeReview', form: forms.intakeAccept },
  });
  expect(accepted.status).toBe(200);
  const civil = await openTask(stack, caseId, 'dataComparisonCivil');
  const key = await agencyKey(stack, 'civil_affairs');
  const batch = () =>
    stack.http('POST', '/v1/batch/tasks/results', {
      headers: { authorization: `ApiKey ${key}` },
      body: { items: [{ taskId: civil.id, completion: { type: 'dataComparisonCivil', form: forms.civil } }] },
    });
  const coordinator = as('city-coordinator');
  const remind = () =>
    stack.http('POST', `/v1/monitor/tasks/${civil.id}/actions`, {
      token: coordinator,
      body: { action: 'remind' },
    });
  const hold = () =>
    stack.http('POST', `/v1/monitor/cases/${caseId}/actions`, {
      token: coordinator,
      body: { action: 'hold', reason: 'household in hospital' },
    });
  const events = await stack.db.caseEvent.count({ where: { caseId } });
  const entries = await stack.db.auditEntry.count({ where: { chain: caseId } });
  await auditDown(async () => {
    const refused = await batch();
    expect(refused.status).toBe(200);
    expect(refused.body.results).toEqual([
      {
        taskId: civil.id,
        ok: false,
        status: 503,
        error: expect.objectContaining({ status: 503, code: 'audit_unavailable' }),
      },
    ]);
    expect503(await remind());
    expect503(await hold());
  });
  expect(await stack.db.caseEvent.count({ where: { caseId } })).toBe(events);
  expect(await stack.db.auditEntry.count({ where: { chain: caseId } })).toBe(entries);
  expect(await stack.db.caseTask.findUniqueOrThrow({ where: { id: civil.id } })).toMatchObject({
    status: 'open',
  });

  // The outcome entries are lost (a crash right after each Update).
  await auditDown(async () => {
    expect((await batch()).body.results[0]).toMatchObject({ ok: true, status: 200 });
    expect((await hold()).status).toBe(200);
  }, `NEW."data"->>'phase' = 'applied'`);
  const phases = async (action: string, target: string) =>
    (
      await stack.db.auditEntry.findMany({
        where: { chain: caseId, action, target },
        orderBy: { seq: 'asc' },
      })
    ).map((e) => (e.data as { phase: string }).phase);
  expect(await phases('task.complete', civil.id)).toEqual(['attempt']);
  expect(await phases('monitor.hold', caseId)).toEqual(['attempt']);
  // The system retries before the projection has caught up: the same Update ID settles the attempt
  // it left open, instead of opening another.
  await eventually(
    async () => (await stack.db.caseTask.findUnique({ where: { id: civil.id } }))?.status === 'completed',
  );
  await stack.db.caseTask.update({
    where: { id: civil.id },
    data: { status: 'open', completedAt: null, completedBy: null, result: Prisma.DbNull },
  });
  expect((await batch()).body.results[0]).toMatchObject({ ok: true, status: 200 });
  expect(await phases('task.complete', civil.id)).toEqual(['attempt', 'applied']);
  // The hold is settled from the workflow's own event.
  expect(await reconcileAuditTrail(stack.db, { olderThanMs: 0, chains: [caseId] })).toEqual([
    { chain: caseId, attemptSeq: expect.any(Number), phase: 'applied' },
  ]);
  expect(await phases('monitor.hold', caseId)).toEqual(['attempt', 'applied']);
  expect(
    await stack.db.caseEvent.count({ where: { caseId, type: 'task.completed', taskId: civil.id } }),
  ).toBe(1);
  expect((await verifyAuditChains(stack.db, [caseId])).problems).toEqual([]);
});

test('webhook subscriptions, redeliveries and imports commit with their audit entry, or not at all', async () => {
  process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS = 'true';
  const { key, id: keyId } = await createApiKey(stack.db, {
    name: 'city system',
    agency: 'union',
    region: REGION,
    roles: ['staff'],
  });
  const asKey = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    stack.http(method, path, { body, headers: { authorization: `ApiKey ${key}`, ...headers } });
  const upload = () =>
    asKey('POST', '/v1/imports', `idNumber,headName,regionCode\n${idNumber()},赵某,${REGION}\n`, {
      'content-type': 'text/csv',
    });
  // A target nothing listens on, for an event type that never occurs: nothing is delivered.
  const subscription = { url: 'http://127.0.0.1:9/hook', eventTypes: ['test.never'] };
  const entries = () =>
    stack.db.auditEntry.findMany({ where: { actor: `apikey:${keyId}` }, orderBy: { seq: 'asc' } });
  try {
    await auditDown(async () => {
      expect503(await asKey('POST', '/v1/webhooks/subscriptions', subscription));
      expect503(await upload());
    });
    expect(await stack.db.webhookSubscription.count({ where: { owner: `apikey:${keyId}` } })).toBe(0);
    expect(await stack.db.importJob.count({ where: { owner: `apikey:${keyId}` } })).toBe(0);
    expect(await entries()).toEqual([]);

    const made = await asKey('POST', '/v1/webhooks/subscriptions', subscription);
    expect(made.status).toBe(201);
    const delivery = await stack.db.webhookDelivery.create({
      data: {
        id: 'whd-audit-1',
        subscriptionId: made.body.id,
        eventId: 'case-x/w#1',
        caseId: 'case-x',
        eventType: 'test.never',
        eventAt: new Date(),
        payload: {},
        status: 'failed',
      },
    });
    await auditDown(async () => {
      expect503(await asKey('POST', `/v1/webhooks/deliveries/${delivery.id}/redeliver`));
      expect503(await asKey('DELETE', `/v1/webhooks/subscriptions/${made.body.id}`));
    });
    expect(await stack.db.webhookDelivery.findUniqueOrThrow({ where: { id: delivery.id } })).toMatchObject({
      status: 'failed',
    });
    await expect(
      stack.client.workflow.getHandle(deliveryWorkflowId(made.body.id, 'case-x')).describe(),
    ).rejects.toThrow(WorkflowNotFoundError);
    expect(
      await stack.db.webhookSubscription.findUniqueOrThrow({ where: { id: made.body.id } }),
    ).toMatchObject({ active: true });

    expect((await asKey('DELETE', `/v1/webhooks/subscriptions/${made.body.id}`)).status).toBe(204);
    const job = await upload();
    expect(job.status).toBe(202);
    expect((await entries()).map((e) => [e.action, e.target])).toEqual([
      ['webhook.subscribe', made.body.id],
      ['webhook.unsubscribe', made.body.id],
      ['import.upload', job.body.id],
    ]);
  } finally {
    delete process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS;
    await stack.client.workflow
      .getHandle(dispatcherWorkflowId(stack.config.TEMPORAL_TASK_QUEUE))
      .terminate('test over')
      .catch(() => undefined);
  }
});

test("an open attempt is settled as applied only by the change's own event, not by another action of the same person after it", async () => {
  const { caseId } = await referCase(stack);
  // An objection outside a public notice is refused by the workflow; its outcome entry is lost.
  const objection = await auditDown(
    () =>
      stack.http('POST', `/v1/cases/${caseId}/actions`, {
        token: as('union-staff'),
        body: { action: 'raiseObjection', text: 'a neighbour objects' },
      }),
    `NEW."data"->>'phase' = 'refused'`,
  );
  expect(objection.status).toBe(409);
  // Then the same person comments on the case: a change of its own, by the same actor, after the mark.
  const comment = await stack.http('POST', `/v1/cases/${caseId}/actions`, {
    token: as('union-staff'),
    body: { action: 'comment', text: 'called the household' },
  });
  expect(comment.status).toBe(200);
  const [attempt] = await openAuditAttempts(stack.db, { olderThanMs: 0, chains: [caseId] });
  expect(attempt).toMatchObject({
    action: 'case.raiseObjection',
    data: { recordedAs: ['notice.objection'] },
  });
  expect(await reconcileAuditTrail(stack.db, { olderThanMs: 0, chains: [caseId] })).toEqual([
    { chain: caseId, attemptSeq: attempt!.seq, phase: 'not_applied' },
  ]);
});

test('the worker settles open attempts on its own, on a timer', async () => {
  const { caseId } = await claimLosingOutcome();
  const [open] = await openAuditAttempts(stack.db, { olderThanMs: 0, chains: [caseId] });
  expect(open).toMatchObject({ action: 'task.claim' });
  const reconciler = startAuditReconciler(stack.db, { everyMs: 100, olderThanMs: 0 });
  try {
    const outcome = await eventually(() =>
      stack.db.auditEntry.findFirst({
        where: { chain: caseId, data: { path: ['attemptSeq'], equals: open!.seq } },
      }),
    );
    expect(outcome.data).toMatchObject({ phase: 'applied', reconciled: true });
  } finally {
    await reconciler.stop();
  }
  expect(await openAuditAttempts(stack.db, { olderThanMs: 0, chains: [caseId] })).toEqual([]);
  expect((await verifyAuditChains(stack.db, [caseId])).problems).toEqual([]);
});
