import { createApiKey } from '../../api/auth';
import { audit, openAuditAttempts, reconcileAuditTrail, verifyAuditChains } from '../../api/audit';
import { forms } from '../support/fixtures';
import { eventually, startStack, type Stack } from '../support/stack';
import { REGION, caseAwaitingSignOff, claimsOf, referCase } from './api-helpers';

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
  await eventually(() =>
    stack.db.caseTask.findFirst({ where: { caseId: intake.caseId, type: 'dataComparisonCivil' } }),
  );
  const entries = await stack.db.auditEntry.count();
  await auditDown(async () => {
    // The ID number for the intake task; the hardship causes (health data) on the case; ID numbers
    // for a system pulling its comparison tasks.
    const task = await stack.http('GET', `/v1/tasks/${intake.task.id}`, { token: as('union-staff') });
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
  const task = await stack.http('GET', `/v1/tasks/${intake.task.id}`, { token: as('union-staff') });
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
  await auditDown(async () => {
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
  // A 503 is not stored against an Idempotency-Key: the client's retry goes through once the trail is back.
  const retry = await stack.http('POST', `/v1/tasks/${task.id}/claim`, { token: as('union-staff') });
  expect(retry.status).toBe(200);
});

test('the API dies between the Update and its outcome entry: the open attempt is settled from the workflow events', async () => {
  const { caseId, task } = await referCase(stack);
  // Every outcome entry is lost: exactly what a crash right after the Update leaves behind.
  const claim = await auditDown(
    () => stack.http('POST', `/v1/tasks/${task.id}/claim`, { token: as('union-staff') }),
    `NEW."data"->>'phase' = 'applied'`,
  );
  expect(claim.status).toBe(200);
  expect(claim.body.task.assignee).toBe('union-staff');
  const trail = await stack.db.auditEntry.findMany({ where: { chain: caseId }, orderBy: { seq: 'asc' } });
  expect(trail.map((e) => [e.action, (e.data as any).phase])).toEqual([
    ['referral.create', undefined],
    ['task.claim', 'attempt'],
  ]);
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
