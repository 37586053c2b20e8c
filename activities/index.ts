import type { Db } from '../db/client';
import { createCalendarActivities } from './calendar';
import { createImportActivities } from './imports';
import { createProjectionActivities } from './projection';
import { createWebhookActivities } from './webhooks';

/** All activities, built from injected dependencies (the worker passes the real database). */
export function createActivities(deps: { db: Db }) {
  return {
    ...createProjectionActivities(deps.db),
    ...createCalendarActivities(),
    ...createWebhookActivities(deps.db),
    ...createImportActivities(deps.db),
  };
}
/** The case workflows' activities (test fakes implement exactly these). */
export type Activities = ReturnType<typeof createProjectionActivities> &
  ReturnType<typeof createCalendarActivities>;
/** Webhook delivery and bulk import, used by workflows/webhookDelivery.ts. */
export type IntegrationActivities = ReturnType<typeof createWebhookActivities> &
  ReturnType<typeof createImportActivities>;
