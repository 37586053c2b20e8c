import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createApiKey } from '../../api/auth';
import type { Resolver } from '../../api/integrations/targets';
import { dispatcherWorkflowId } from '../../workflows/webhookDelivery';
import { referCase } from './api-helpers';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * SSRF through the real stack, private targets not allowed: IPv6 forms of internal addresses are
 * refused at subscription, and a name whose DNS answer turns internal after the subscription was
 * checked (rebinding) is refused at delivery, before any connection.
 */
let stack: Stack;
let apiKey = '';
let internal: net.Server;
let internalPort = 0;
let connections = 0;
const sockets = new Set<net.Socket>();
/** hooks.example.test answers a public address until the test flips it to loopback. */
let answer = ['93.184.216.34'];
const resolve: Resolver = async (host) => {
  if (host !== 'hooks.example.test') throw new Error(`ENOTFOUND ${host}`);
  return answer;
};
const asIntegrator = (method: string, path: string, body?: unknown) =>
  stack.http(method, path, { body, headers: { authorization: `ApiKey ${apiKey}` } });

beforeAll(async () => {
  process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS = 'false';
  process.env.WEBHOOK_RETRY_SCHEDULE = '1s';
  internal = net.createServer((s) => {
    connections += 1;
    sockets.add(s);
    s.destroy();
  });
  await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
  internalPort = (internal.address() as AddressInfo).port;
  stack = await startStack({}, { resolve });
  apiKey = (
    await createApiKey(stack.db, { name: 'city system', agency: 'union', region: 'hl/harbin', roles: [] })
  ).key;
});
afterAll(async () => {
  await stack?.client.workflow
    .getHandle(dispatcherWorkflowId(stack.config.TEMPORAL_TASK_QUEUE))
    .terminate('test over')
    .catch(() => undefined);
  await stack?.stop();
  for (const s of sockets) s.destroy();
  await new Promise((r) => internal?.close(r));
  delete process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS;
  delete process.env.WEBHOOK_RETRY_SCHEDULE;
});

// Which addresses are non-public is the unit test's (test/unit/integrations-targets.test.ts); here one
// literal checks that the route answers such a target with 422 and stores nothing.
test('a non-public address literal (IPv4-embedding IPv6) is refused with 422', async () => {
  const res = await asIntegrator('POST', '/v1/webhooks/subscriptions', {
    url: 'https://[::ffff:127.0.0.1]/hook',
    eventTypes: ['*'],
  });
  expect(res.status).toBe(422);
  expect(res.body).toMatchObject({
    type: '/problems/invalid_webhook_target',
    detail: expect.stringContaining('non-public address'),
  });
  expect(await stack.db.webhookSubscription.count()).toBe(0);
});

test('a host that turns internal after the subscription was checked is refused at delivery, unconnected', async () => {
  const url = `https://hooks.example.test:${internalPort}/hook`;
  const sub = await asIntegrator('POST', '/v1/webhooks/subscriptions', { url, eventTypes: ['case.opened'] });
  expect(sub.status).toBe(201);
  answer = ['127.0.0.1']; // DNS rebinding: the same name now points into the platform's host
  const { caseId } = await referCase(stack);
  const delivery = await eventually(
    () =>
      stack.db.webhookDelivery.findFirst({
        where: { subscriptionId: sub.body.id, caseId, status: 'failed' },
      }),
    30_000,
  );
  const attempts = await stack.db.webhookAttempt.findMany({ where: { deliveryId: delivery.id } });
  expect(attempts).toHaveLength(2);
  for (const a of attempts) {
    expect(a.statusCode).toBeNull();
    expect(a.error).toBe(
      'TargetError: the webhook host hooks.example.test resolves to a non-public address (127.0.0.1)',
    );
  }
  expect(connections).toBe(0);
  const log = await asIntegrator('GET', `/v1/webhooks/deliveries/${delivery.id}`);
  expect(log.body).toMatchObject({ status: 'failed', lastError: expect.stringContaining('127.0.0.1') });
});
