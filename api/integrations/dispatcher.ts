import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { dispatcherWorkflowId, webhookDispatcher } from '../../workflows/webhookDelivery';

/**
 * The webhook dispatcher (one per task queue) moves new case events from the outbox to the
 * per-case delivery workflows. Started at platform start-up and again whenever a subscription is
 * created, so it cannot stay down; starting it twice is a no-op.
 */
export async function ensureWebhookDispatcher(client: Client, taskQueue: string): Promise<void> {
  try {
    await client.workflow.start(webhookDispatcher, {
      workflowId: dispatcherWorkflowId(taskQueue),
      taskQueue,
      args: [{ waitMs: 60_000 }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
