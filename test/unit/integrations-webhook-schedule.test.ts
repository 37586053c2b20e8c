import { Context } from '@temporalio/activity';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { resolveTool } from '../../scripts/tools';
import { quietLogger, quietTemporalRuntime } from '../support/quietRuntime';
import { DEFAULT_RETRY_DELAYS, parseDuration, retryDelaysMs } from '../../api/integrations/webhookPolicy';
import { webhookDelivery } from '../../workflows/webhookDelivery';
import { recordHistories } from '../support/histories';

/** The default 24 h+ retry schedule, on the time-skipping test server. */
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;
let seq = 0;

beforeAll(async () => {
  quietTemporalRuntime();
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTool('temporal-test-server') } },
  });
  bundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: quietLogger,
  });
});
afterAll(async () => {
  await env?.teardown();
});

async function run(succeedAtAttempt: (deliveryId: string) => number) {
  const taskQueue = `webhooks-${++seq}`;
  const attempts: Array<{ deliveryId: string; attempt: number; at: number }> = [];
  const failed: string[][] = [];
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: {
      async deliverWebhook(input: { deliveryId: string; attempt: number }) {
        // Server (skipped) time of this attempt.
        attempts.push({ ...input, at: Context.current().info.currentAttemptScheduledTimestampMs });
        const ok = input.attempt >= succeedAtAttempt(input.deliveryId);
        return { done: ok, delivered: ok, statusCode: ok ? 200 : 503 };
      },
      async failWebhookDeliveries(input: { deliveryIds: string[] }) {
        failed.push(input.deliveryIds);
      },
    },
  });
  const workflowId = `webhook:sub:${taskQueue}`;
  await worker.runUntil(
    env.client.workflow.execute(webhookDelivery, {
      workflowId,
      taskQueue,
      args: [
        {
          subscriptionId: 'sub',
          caseId: 'case',
          retryDelaysMs: retryDelaysMs({}),
          idleMs: 1000,
          queue: [
            { deliveryId: 'e1', redelivery: false },
            { deliveryId: 'e2', redelivery: false },
          ],
        },
      ],
    }),
  );
  if (process.env.RECORD_HISTORIES === '1')
    await recordHistories(env.client, expect.getState().currentTestName ?? taskQueue, [workflowId]);
  return { attempts, failed };
}

test('the default schedule keeps trying for more than 24 hours, then fails the case’s queue', async () => {
  const { attempts, failed } = await run(() => Infinity);
  const e1 = attempts.filter((a) => a.deliveryId === 'e1');
  const gaps = e1.slice(1).map((a, i) => a.at - e1[i]!.at);
  // Each wait is the scheduled one (plus the few real milliseconds an attempt takes).
  const scheduled = DEFAULT_RETRY_DELAYS.map(parseDuration);
  expect(gaps.length).toBe(scheduled.length);
  gaps.forEach((g, i) => expect([i, g >= scheduled[i]! && g < scheduled[i]! + 1000]).toEqual([i, true]));
  console.log(
    `default schedule, gaps after each failure (s): ${gaps.map((g) => (g / 1000).toFixed(1)).join(', ')}; last attempt at +${((e1.at(-1)!.at - e1[0]!.at) / 3600_000).toFixed(2)} h`,
  );
  expect(e1.length).toBe(11);
  expect(e1.at(-1)!.at - e1[0]!.at).toBeGreaterThan(24 * 3600_000);
  // e2 (queued behind e1 on the same case) was never sent ahead of it: both are failed together.
  expect(attempts.some((a) => a.deliveryId === 'e2')).toBe(false);
  expect(failed).toEqual([['e1', 'e2']]);
});

test('a receiver back after 9 hours gets the event, then the next one in order', async () => {
  const { attempts, failed } = await run((id) => (id === 'e1' ? 8 : 1));
  expect(attempts.map((a) => `${a.deliveryId}#${a.attempt}`)).toEqual([
    ...Array.from({ length: 8 }, (_x, i) => `e1#${i + 1}`),
    'e2#1',
  ]);
  const hours = (attempts[7]!.at - attempts[0]!.at) / 3600_000;
  expect(Math.abs(hours - (7 + 42.5 / 60))).toBeLessThan(0.01); // 30s+2m+10m+30m+1h+2h+4h
  expect(failed).toEqual([]);
});
