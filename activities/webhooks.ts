import { Context } from '@temporalio/activity';
import type { Db } from '../db/client';
import type { Prisma } from '../generated/prisma/client';
import { regionWithin } from '../domain/agencies';
import { sha256 } from '../api/hash';
import { signatureHeader } from '../api/integrations/signing';
import { allowPrivateTargets, postWebhook, type Resolver } from '../api/integrations/targets';
import { eventTypeMatches, retryDelaysMs } from '../api/integrations/webhookPolicy';
import { deliveryWorkflowId, enqueueDeliveries, webhookDelivery } from '../workflows/webhookDelivery';

/** Keys of CaseEvent data that may leave the platform; forms, incomes and free text never do. */
const SHAREABLE_DATA = [
  'from',
  'to',
  'type',
  'agency',
  'dueAt',
  'referralId',
  'measure',
  'status',
  'tier',
  'joined',
  'source',
  'fileNumber',
  'waitlistPosition',
] as const;

export function webhookPayload(e: {
  workflowId: string;
  seq: number;
  caseId: string;
  type: string;
  at: Date;
  taskId: string | null;
  agency: string | null;
  data: unknown;
}) {
  const data = (e.data ?? {}) as Record<string, unknown>;
  const shared = Object.fromEntries(SHAREABLE_DATA.filter((k) => k in data).map((k) => [k, data[k]]));
  return {
    id: eventId(e),
    type: e.type,
    caseId: e.caseId,
    at: e.at.toISOString(),
    source: { workflowId: e.workflowId, seq: e.seq },
    taskId: e.taskId,
    agency: e.agency,
    data: shared,
  };
}

/** An event's ID for receivers: per case, since a household's later case reuses the workflow ID. */
export const eventId = (e: { caseId: string; workflowId: string; seq: number }) =>
  `${e.caseId}/${e.workflowId}#${e.seq}`;
export const deliveryIdOf = (subscriptionId: string, event: string) =>
  `dlv_${sha256(`${subscriptionId}|${event}`).slice(0, 32)}`;

interface OutboxRow {
  id: bigint;
  workflowId: string;
  seq: number;
  caseId: string;
  type: string;
  at: Date;
  taskId: string | null;
  agency: string | null;
  data: unknown;
  regionCode: string | null;
  outboxAt: Date;
}

const sleepMs = (ms: number) => Context.current().sleep(ms);

export function createWebhookActivities(
  db: Db,
  env: Record<string, string | undefined> = process.env,
  resolve?: Resolver,
) {
  const delays = () => retryDelaysMs(env);
  const idleMs = 10 * 60_000;

  /** One pass over the outbox: deliveries written, their workflows signalled in order, rows removed. */
  async function dispatchOnce(taskQueue: string): Promise<number> {
    const rows = await db.$queryRaw<OutboxRow[]>`
      SELECT o."id", o."createdAt" AS "outboxAt", e."workflowId", e."seq", e."caseId", e."type", e."at",
             e."taskId", e."agency", e."data", c."regionCode"
        FROM "WebhookOutbox" o
        JOIN "CaseEvent" e ON e."caseId" = o."caseId" AND e."workflowId" = o."workflowId" AND e."seq" = o."seq"
        LEFT JOIN "HouseholdCase" c ON c."id" = e."caseId"
       ORDER BY o."id" LIMIT 500`;
    if (!rows.length) return 0;
    const subs = await db.webhookSubscription.findMany({ where: { active: true } });
    // Agencies other than the union hear only of cases they referred or work on (least privilege).
    const caseIds = [...new Set(rows.map((r) => r.caseId))];
    const involvement = subs.some((s) => s.agency !== 'union')
      ? await db.$queryRaw<Array<{ caseId: string; agency: string }>>`
          SELECT DISTINCT "caseId", "agency" FROM "CaseTask" WHERE "caseId" = ANY(${caseIds})
          UNION SELECT DISTINCT "caseId", "agency" FROM "CaseEvent"
           WHERE "type" = 'case.referral_received' AND "agency" IS NOT NULL AND "caseId" = ANY(${caseIds})`
      : [];
    const involved = new Set(involvement.map((i) => `${i.caseId}|${i.agency}`));

    const done: bigint[] = [];
    const deliveries: Prisma.WebhookDeliveryCreateManyInput[] = [];
    const groups = new Map<string, { subscriptionId: string; caseId: string; ids: string[] }>();
    for (const row of rows) {
      if (row.regionCode === null) {
        // The case row lands with its first events; keep waiting unless the row is long orphaned.
        if (Date.now() - row.outboxAt.getTime() > 600_000) done.push(row.id);
        continue;
      }
      done.push(row.id);
      for (const s of subs) {
        if (!regionWithin(row.regionCode, s.region) || !eventTypeMatches(s.eventTypes, row.type)) continue;
        if (s.agency !== 'union' && !involved.has(`${row.caseId}|${s.agency}`)) continue;
        const payload = webhookPayload(row);
        const id = deliveryIdOf(s.id, payload.id);
        deliveries.push({
          id,
          subscriptionId: s.id,
          eventId: payload.id,
          caseId: row.caseId,
          eventType: row.type,
          eventAt: row.at,
          payload: payload as Prisma.InputJsonValue,
          status: 'pending',
        });
        const key = `${s.id}|${row.caseId}`;
        const g = groups.get(key) ?? { subscriptionId: s.id, caseId: row.caseId, ids: [] };
        g.ids.push(id);
        groups.set(key, g);
      }
    }
    if (deliveries.length) await db.webhookDelivery.createMany({ data: deliveries, skipDuplicates: true });
    const client = Context.current().client;
    const retryDelays = delays();
    for (const g of groups.values()) {
      await client.workflow.signalWithStart(webhookDelivery, {
        workflowId: deliveryWorkflowId(g.subscriptionId, g.caseId),
        taskQueue,
        args: [{ subscriptionId: g.subscriptionId, caseId: g.caseId, retryDelaysMs: retryDelays, idleMs }],
        signal: enqueueDeliveries,
        signalArgs: [g.ids.map((deliveryId) => ({ deliveryId, redelivery: false }))],
      });
    }
    if (done.length) await db.webhookOutbox.deleteMany({ where: { id: { in: done } } });
    return rows.length;
  }

  return {
    /** Long-polls the outbox for up to `waitMs`, fanning out whatever arrives. */
    async dispatchWebhookEvents(input: { waitMs: number }): Promise<{ events: number }> {
      const ctx = Context.current();
      const until = Date.now() + input.waitMs;
      let events = 0;
      while (Date.now() < until) {
        ctx.heartbeat();
        const n = await dispatchOnce(ctx.info.taskQueue);
        events += n;
        if (n === 0) await sleepMs(300);
      }
      return { events };
    },

    /**
     * One HTTP attempt, logged. `done` ends the delivery's retries (delivered, or nothing left to
     * deliver); otherwise the workflow waits `nextDelayMs` and calls again.
     */
    async deliverWebhook(input: {
      deliveryId: string;
      attempt: number;
      redelivery: boolean;
      nextDelayMs: number | null;
    }): Promise<{ done: boolean; delivered: boolean; statusCode: number | null }> {
      const d = await db.webhookDelivery.findUnique({ where: { id: input.deliveryId } });
      if (!d || (d.status === 'delivered' && !input.redelivery))
        return { done: true, delivered: false, statusCode: null };
      const sub = await db.webhookSubscription.findUnique({ where: { id: d.subscriptionId } });
      if (!sub?.active) {
        await db.webhookDelivery.update({
          where: { id: d.id },
          data: { status: 'cancelled', lastError: 'subscription deleted', nextAttemptAt: null },
        });
        return { done: true, delivered: false, statusCode: null };
      }
      const body = JSON.stringify(d.payload);
      const t = Math.floor(Date.now() / 1000);
      const started = Date.now();
      let statusCode: number | null = null;
      let error: string | null = null;
      try {
        // The target is checked as it is connected to, on every attempt (DNS answers change).
        statusCode = await postWebhook(
          sub.url,
          {
            timeoutMs: 10_000,
            headers: {
              'content-type': 'application/json',
              'user-agent': 'hardship-relief-platform-webhooks/1',
              'webhook-id': d.eventId,
              'webhook-timestamp': String(t),
              'webhook-signature': signatureHeader(sub.secret, body, t),
              'webhook-delivery': d.id,
              'webhook-attempt': String(input.attempt),
            },
            body,
          },
          { allowPrivate: allowPrivateTargets(env), resolve },
        );
        if (statusCode < 200 || statusCode >= 300) error = `HTTP ${statusCode}`;
      } catch (err) {
        error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
      const ok = error === null;
      const now = new Date();
      await db.$transaction([
        db.webhookAttempt.create({
          data: {
            deliveryId: d.id,
            attempt: input.attempt,
            at: new Date(started),
            statusCode,
            error: error?.slice(0, 500),
            durationMs: Date.now() - started,
            redelivery: input.redelivery,
          },
        }),
        db.webhookDelivery.update({
          where: { id: d.id },
          data: {
            status: ok ? 'delivered' : 'retrying',
            attempts: { increment: 1 },
            lastAttemptAt: new Date(started),
            lastStatusCode: statusCode,
            lastError: error?.slice(0, 500) ?? null,
            deliveredAt: ok ? now : d.deliveredAt,
            nextAttemptAt:
              ok || input.nextDelayMs === null ? null : new Date(now.getTime() + input.nextDelayMs),
          },
        }),
      ]);
      return { done: ok, delivered: ok, statusCode };
    },

    async failWebhookDeliveries(input: { deliveryIds: string[] }): Promise<void> {
      await db.webhookDelivery.updateMany({
        where: { id: { in: input.deliveryIds }, status: { not: 'delivered' } },
        data: { status: 'failed', nextAttemptAt: null },
      });
    },
  };
}
