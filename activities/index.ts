import type { Resolver } from '../api/integrations/targets';
import type { Db } from '../db/client';
import { createCalendarActivities } from './calendar';
import { createImportActivities, type ImportOptions } from './imports';
import { createProjectionActivities } from './projection';
import { createWebhookActivities } from './webhooks';

/**
 * All activities, built from injected dependencies (the worker passes the real database; tests may
 * pass a DNS resolver for webhook targets and slow an import down to watch its progress).
 */
export function createActivities(deps: { db: Db; resolve?: Resolver; imports?: ImportOptions }) {
  return {
    ...createProjectionActivities(deps.db),
    ...createCalendarActivities(),
    ...createWebhookActivities(deps.db, process.env, deps.resolve),
    ...createImportActivities(deps.db, deps.imports),
  };
}
/** The case workflows' activities (test fakes implement exactly these). */
export type Activities = ReturnType<typeof createProjectionActivities> &
  ReturnType<typeof createCalendarActivities>;
/** Webhook delivery and bulk import, used by workflows/webhookDelivery.ts. */
export type IntegrationActivities = ReturnType<typeof createWebhookActivities> &
  ReturnType<typeof createImportActivities>;
