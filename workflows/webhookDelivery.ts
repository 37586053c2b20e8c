import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { IntegrationActivities } from '../activities';

/**
 * Integrations' durable work. Webhook fan-out needs no change to the case workflows: the dispatcher
 * turns new rows of the projection timeline into deliveries and hands them, in order, to one
 * delivery workflow per (subscription, case); that workflow retries each with the schedule it was
 * given (data), so a receiver down for a day loses nothing and sees each case's events in order.
 */

const { deliverWebhook, failWebhookDeliveries } = proxyActivities<IntegrationActivities>({
  startToCloseTimeout: '30 seconds',
  // Infrastructure errors (database) retry here; an HTTP failure is a result, paced by the schedule.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { dispatchWebhookEvents } = proxyActivities<IntegrationActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

const { runImport } = proxyActivities<IntegrationActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export const dispatcherWorkflowId = (taskQueue: string) => `webhook-dispatcher:${taskQueue}`;
export const deliveryWorkflowId = (subscriptionId: string, caseId: string) =>
  `webhook:${subscriptionId}:${caseId}`;
export const importWorkflowId = (jobId: string) => `import:${jobId}`;

/** The dispatcher: drains the outbox forever, one long-polling activity at a time. */
export async function webhookDispatcher(input: { waitMs: number; rounds?: number }): Promise<void> {
  for (let round = input.rounds ?? 0; ; round++) {
    await dispatchWebhookEvents({ waitMs: input.waitMs });
    if (round >= 200 || workflowInfo().continueAsNewSuggested)
      return continueAsNew<typeof webhookDispatcher>({ waitMs: input.waitMs, rounds: 0 });
  }
}

export interface QueuedDelivery {
  deliveryId: string;
  redelivery: boolean;
}

export interface WebhookDeliveryInput {
  subscriptionId: string;
  caseId: string;
  /** Wait after each failed attempt, in ms; attempts = retryDelaysMs.length + 1. */
  retryDelaysMs: number[];
  /** How long an idle workflow waits for more events before completing (a new one starts later). */
  idleMs: number;
  queue?: QueuedDelivery[];
}

export const enqueueDeliveries = defineSignal<[QueuedDelivery[]]>('enqueueDeliveries');
export const deliveryQueue = defineQuery<QueuedDelivery[]>('deliveryQueue');

export async function webhookDelivery(input: WebhookDeliveryInput): Promise<{ delivered: number }> {
  const queue: QueuedDelivery[] = [...(input.queue ?? [])];
  setHandler(enqueueDeliveries, (items) => {
    for (const item of items) {
      // A retried dispatch signals the same delivery again: keep one copy unless it is a redelivery.
      if (!queue.some((q) => q.deliveryId === item.deliveryId && q.redelivery === item.redelivery))
        queue.push(item);
    }
  });
  setHandler(deliveryQueue, () => queue);

  let delivered = 0;
  for (;;) {
    if (!queue.length && !(await condition(() => queue.length > 0, input.idleMs))) break;
    const item = queue[0]!;
    for (let attempt = 1; ; attempt++) {
      const delay = input.retryDelaysMs[attempt - 1];
      const r = await deliverWebhook({
        deliveryId: item.deliveryId,
        attempt,
        redelivery: item.redelivery,
        nextDelayMs: delay ?? null,
      });
      if (r.done) {
        delivered += r.delivered ? 1 : 0;
        queue.shift();
        break;
      }
      if (delay === undefined) {
        // Schedule used up: this delivery and those queued behind it (same case, so same order) fail;
        // they stay in the log and can be redelivered.
        await failWebhookDeliveries({ deliveryIds: queue.splice(0).map((q) => q.deliveryId) });
        break;
      }
      await sleep(delay);
    }
    if (workflowInfo().historyLength > 2000) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof webhookDelivery>({ ...input, queue });
    }
  }
  await condition(allHandlersFinished);
  return { delivered };
}

/** A bulk referral import: its rows are already validated and stored; the activity resumes by row. */
export async function referralImport(input: { jobId: string }): Promise<void> {
  await runImport(input);
}
