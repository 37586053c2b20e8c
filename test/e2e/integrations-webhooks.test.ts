import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiKey } from '../../api/auth';
import { eventId } from '../../activities/webhooks';
import { verifySignature } from '../../api/integrations/signing';
import { demoUsers } from '../../scripts/demoUsers';
import { recordHistories } from '../support/histories';
import { deliveryWorkflowId, dispatcherWorkflowId } from '../../workflows/webhookDelivery';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * Webhooks through the real stack: a receiver that fails for a while then recovers gets every event
 * of the case, in order, exactly once by event ID; the log shows each attempt; redelivery works.
 */
interface Received {
  eventId: string;
  seq: number;
  attempt: number;
  at: number;
  status: number;
  signed: boolean;
  body: any;
}

let stack: Stack;
let receiver: http.Server;
let receiverUrl: string;
let failUntil = Infinity;
const received: Received[] = [];
let secret = '';
let apiKey = '';
const user = (sub: string) => stack.token(demoUsers.find((u) => u.sub === sub)!);
const asIntegrator = (method: string, path: string, body?: unknown) =>
  stack.http(method, path, { body, headers: { authorization: `ApiKey ${apiKey}` } });

beforeAll(async () => {
  process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS = 'true';
  process.env.WEBHOOK_RETRY_SCHEDULE = '1s,2s,4s,8s,16s';
  receiver = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const status = Date.now() < failUntil ? 503 : 200;
      const body = JSON.parse(raw);
      received.push({
        eventId: String(req.headers['webhook-id']),
        seq: body.source.seq,
        attempt: Number(req.headers['webhook-attempt']),
        at: Date.now(),
        status,
        signed: verifySignature(secret, raw, String(req.headers['webhook-signature'])),
        body,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  stack = await startStack();
  apiKey = (
    await createApiKey(stack.db, { name: 'city system', agency: 'union', region: 'hl/harbin', roles: [] })
  ).key;
});
afterAll(async () => {
  await stack?.client.workflow
    .getHandle(`webhook-dispatcher:${stack.config.TEMPORAL_TASK_QUEUE}`)
    .terminate('test over')
    .catch(() => undefined);
  await stack?.stop();
  await new Promise((r) => receiver?.close(r));
  delete process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS;
  delete process.env.WEBHOOK_RETRY_SCHEDULE;
});

test('webhook targets must be public unless private targets are allowed for development', async () => {
  process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS = 'false';
  try {
    for (const url of [
      'http://127.0.0.1:9/x',
      'https://127.0.0.1/x',
      'https://10.1.2.3/x',
      'https://[::1]/x',
      'https://169.254.169.254/latest',
    ]) {
      const res = await asIntegrator('POST', '/v1/webhooks/subscriptions', { url, eventTypes: ['*'] });
      expect([url, res.status, res.body.type]).toEqual([url, 422, '/problems/invalid_webhook_target']);
    }
  } finally {
    process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS = 'true';
  }
  const outside = await asIntegrator('POST', '/v1/webhooks/subscriptions', {
    url: receiverUrl,
    eventTypes: ['*'],
    region: 'hl/qiqihar',
  });
  expect(outside.status).toBe(403);
  const bad = await asIntegrator('POST', '/v1/webhooks/subscriptions', { url: receiverUrl, eventTypes: [] });
  expect(bad.status).toBe(400);
  expect(bad.body.errors).toEqual([expect.objectContaining({ path: 'body.eventTypes' })]);
});

test('a receiver down for a while gets every event once, in order, signed; the log shows the retries', async () => {
  const sub = await asIntegrator('POST', '/v1/webhooks/subscriptions', {
    url: receiverUrl,
    eventTypes: ['case.*', 'task.*'],
  });
  expect(sub.status).toBe(201);
  expect(sub.body.secret).toMatch(/^whsec_/);
  secret = sub.body.secret;
  expect((await asIntegrator('GET', '/v1/webhooks/subscriptions')).body.items.map((s: any) => s.id)).toEqual([
    sub.body.id,
  ]);

  failUntil = Date.now() + 6000; // down for 6 s: the first event needs attempts at +0, +1, +3, (+7) s
  const referral = await stack.http('POST', '/v1/referrals', {
    token: user('union-staff'),
    body: {
      household: { idNumber: '230102198001015678', headName: '周五', regionCode: 'hl/harbin/daoli' },
      referral: { source: 'cadre', referrer: 'street cadre' },
    },
  });
  expect(referral.status).toBe(201);
  const caseId = referral.body.caseId;
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

  // The case's events once it has settled: the stage change is in and nothing new for a second
  // (a busy machine writes the comparison tasks' events a little later).
  let seen = -1;
  const events = await eventually(async () => {
    const rows = await stack.db.caseEvent.findMany({ where: { caseId }, orderBy: { seq: 'asc' } });
    const settled = rows.some((e) => e.type === 'case.stage_changed') && rows.length === seen;
    seen = rows.length;
    if (!settled) await new Promise((r) => setTimeout(r, 900));
    return settled && rows;
  }, 30_000);
  const wanted = events.filter((e) => /^(case|task)\./.test(e.type)).map((e) => eventId(e));
  expect(wanted.length).toBeGreaterThanOrEqual(7);
  const ok = await eventually(async () => {
    const acked = received.filter((r) => r.status === 200);
    return acked.length >= wanted.length && acked;
  }, 60_000);

  // Every event, exactly once by event ID, in the case's order; every request signed.
  expect(ok.map((r) => r.eventId)).toEqual(wanted);
  expect(new Set(ok.map((r) => r.eventId)).size).toBe(ok.length);
  expect(received.every((r) => r.signed)).toBe(true);
  expect(received.some((r) => r.status === 503)).toBe(true);
  // Nothing later in the case was delivered while an earlier event was still failing.
  const firstOk = ok[0]!.at;
  expect(received.filter((r) => r.at < firstOk).every((r) => r.eventId === wanted[0])).toBe(true);
  // Payloads carry no personal data.
  expect(JSON.stringify(ok.map((r) => r.body))).not.toMatch(/230102198001015678|周五/);

  // The observed retry schedule of the first event (1 s, 2 s, 4 s, ... after each failure).
  const first = received.filter((r) => r.eventId === wanted[0]);
  const gaps = first.slice(1).map((r, i) => r.at - first[i]!.at);
  console.log(
    `webhook attempts for ${wanted[0]}: ${first.map((r) => `#${r.attempt} ${r.status}`).join(', ')}; gaps ms: ${gaps.join(', ')}`,
  );
  expect(first.map((r) => r.attempt)).toEqual(first.map((_r, i) => i + 1));
  expect(first.length).toBeGreaterThanOrEqual(3);
  gaps.forEach((g, i) => expect(g).toBeGreaterThanOrEqual([1000, 2000, 4000, 8000][i]! - 50));

  // The delivery log.
  const log = await asIntegrator(
    'GET',
    `/v1/webhooks/deliveries?subscriptionId=${sub.body.id}&caseId=${caseId}`,
  );
  expect(log.status).toBe(200);
  expect(log.body.items).toHaveLength(wanted.length);
  expect(log.body.items.every((d: any) => d.status === 'delivered')).toBe(true);
  const firstDelivery = log.body.items.find((d: any) => d.eventId === wanted[0]);
  const detail = await asIntegrator('GET', `/v1/webhooks/deliveries/${firstDelivery.id}`);
  expect(detail.body.attempts.map((a: any) => a.statusCode)).toEqual([
    ...first.slice(0, -1).map(() => 503),
    200,
  ]);

  // Redelivery on request: the same event ID again; a receiver de-duplicating by ID is unaffected.
  const before = received.length;
  const again = await asIntegrator('POST', `/v1/webhooks/deliveries/${firstDelivery.id}/redeliver`);
  expect(again.status).toBe(202);
  const redelivered = await eventually(
    async () => received.length > before && received[received.length - 1]!,
  );
  expect(redelivered).toMatchObject({ eventId: wanted[0], status: 200, signed: true });
  const detail2 = await asIntegrator('GET', `/v1/webhooks/deliveries/${firstDelivery.id}`);
  expect(detail2.body.attempts.at(-1)).toMatchObject({ redelivery: true, statusCode: 200 });

  if (process.env.RECORD_HISTORIES === '1')
    await recordHistories(stack.client, 'webhooks', [
      deliveryWorkflowId(sub.body.id, caseId),
      dispatcherWorkflowId(stack.config.TEMPORAL_TASK_QUEUE),
    ]);

  // Another integrator cannot see or redeliver these.
  const otherKey = (
    await createApiKey(stack.db, { name: 'other', agency: 'union', region: 'hl/harbin', roles: [] })
  ).key;
  const other = await stack.http('POST', `/v1/webhooks/deliveries/${firstDelivery.id}/redeliver`, {
    headers: { authorization: `ApiKey ${otherKey}` },
  });
  expect(other.status).toBe(404);

  // After unsubscribing, new events are no longer sent.
  expect((await asIntegrator('DELETE', `/v1/webhooks/subscriptions/${sub.body.id}`)).status).toBe(204);
  const count = received.length;
  await stack.http('POST', `/v1/cases/${caseId}/actions`, {
    token: user('union-staff'),
    body: { action: 'comment', text: 'called the household' },
  });
  await new Promise((r) => setTimeout(r, 2000));
  expect(received.length).toBe(count);
});
