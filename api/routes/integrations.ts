import crypto from 'node:crypto';
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { RegionCodeSchema, regionWithin } from '../../domain/agencies';
import { ACTIVE_TASK_STATUSES } from '../../domain/journey/taskBook';
import { taskTypeInfo, type TaskType } from '../../domain/taskTypes';
import {
  deliveryWorkflowId,
  enqueueDeliveries,
  importWorkflowId,
  referralImport,
  webhookDelivery,
} from '../../workflows/webhookDelivery';
import { completeBatch } from '../integrations/batch';
import { ensureWebhookDispatcher } from '../integrations/dispatcher';
import type { AppDeps } from '../app';
import { auditAllOrRefuse, auditedDbChange } from '../audit';
import type { Principal } from '../auth';
import { Problem } from '../errors';
import { sha256 } from '../hash';
import { householdKey } from '../households';
import {
  MAX_IMPORT_BYTES,
  MAX_IMPORT_ROWS,
  formatOf,
  normalisedContent,
  readRecords,
  validateRecord,
  type ImportFormat,
} from '../integrations/importFile';
import { newWebhookSecret } from '../integrations/signing';
import { TargetError, allowPrivateTargets, assertWebhookTarget } from '../integrations/targets';
import { retryDelaysMs } from '../integrations/webhookPolicy';
import { registerPath } from '../openapi';
import {
  IdParamsSchema,
  parse,
  principalOf,
  seesCaseSql,
  seesWholeCases,
  tasksSeenOnCase,
  visibleCase,
} from './shared';

export const SubscriptionSchema = z.object({
  url: z.string().url().max(2000),
  eventTypes: z
    .array(z.string().regex(/^(\*|[a-z_]+(\.[a-z_]+)?|[a-z_]+\.\*)$/, 'an event type, `prefix.*` or `*`'))
    .min(1)
    .max(50),
  /** Narrows the subscription to part of the caller's region. */
  region: RegionCodeSchema.optional(),
});
const DeliveryQuerySchema = z.object({
  subscriptionId: z.string().optional(),
  status: z.enum(['pending', 'retrying', 'delivered', 'failed', 'cancelled']).optional(),
  caseId: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const FeedQuerySchema = z.object({
  /** The `nextCursor` of the previous page, or an ISO instant to start from (first call). */
  updatedSince: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const BatchPullSchema = z.object({
  type: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(100),
  after: z.string().optional(),
});
export const BatchResultsSchema = z.object({
  items: z
    .array(z.object({ taskId: z.string().min(1).max(300), completion: z.unknown() }))
    .min(1)
    .max(200),
});
const RowsQuerySchema = z.object({
  status: z.enum(['invalid', 'pending', 'started', 'joined', 'duplicate', 'failed']).optional(),
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
/** Tasks an agency's own system works by default (信息比对). */
const SYSTEM_TASK_TYPES = ['dataComparisonCivil', 'dataComparisonHr'];

const tags = ['integrations'];
const problems = [400, 401, 403, 404, 409, 422];
/** Writes and sensitive reads are audited first: 503 when the trail cannot be written. */
const audited = { problems: [...problems, 503] };
const doc = (method: 'get' | 'post' | 'delete', path: string, summary: string, extra: object = {}) =>
  registerPath({
    method,
    path,
    tags,
    summary,
    responses: { 200: { description: summary } },
    problems,
    ...extra,
  });
doc(
  'get',
  '/v1/referrals/:id',
  'A referral’s case: stage, open tasks, agency referrals (no personal data); seen as GET /v1/cases/:id (whole by the union and coordinators, else your agency’s part while it has open work there), and by the agency that referred it (its own part)',
);
doc(
  'get',
  '/v1/referrals',
  'Incremental feed of the cases GET /v1/referrals/:id shows you (whole for the union and coordinators, else while you have open work there, or you referred the household), by `updatedSince` cursor',
  {
    query: FeedQuerySchema,
  },
);
doc(
  'post',
  '/v1/webhooks/subscriptions',
  'Subscribe a URL to case events (the signing secret is returned once)',
  { body: SubscriptionSchema, ...audited },
);
doc('get', '/v1/webhooks/subscriptions', 'Your subscriptions');
doc(
  'delete',
  '/v1/webhooks/subscriptions/:id',
  'Stop a subscription (pending deliveries are cancelled)',
  audited,
);
doc('get', '/v1/webhooks/deliveries', 'The delivery log', { query: DeliveryQuerySchema });
doc('get', '/v1/webhooks/deliveries/:id', 'One delivery with every attempt');
doc('post', '/v1/webhooks/deliveries/:id/redeliver', 'Deliver an event again (same event ID)', audited);
doc(
  'post',
  '/v1/imports',
  'Bulk referral file (text/csv or application/x-ndjson, at most 50,000 rows and 25 MB); the same rows again from your agency and region are one job',
  { problems: [...audited.problems, 413, 415] },
);
doc('get', '/v1/imports/:id', 'An import’s progress and per-row errors');
doc('get', '/v1/imports/:id/rows', 'An import’s rows with their outcome', { query: RowsQuerySchema });
doc('get', '/v1/batch/tasks', 'Your agency’s pending system tasks with the facts they need', {
  query: BatchPullSchema,
  ...audited,
});
doc(
  'post',
  '/v1/batch/tasks/results',
  'Complete many tasks; per item 200 (applied), 202 (pending: send it again later) or an error (503 when the audit trail cannot be written)',
  { body: BatchResultsSchema },
);

/**
 * Feed position: after (writeXid, id) in the order of the writing transactions' ids (migration
 * 20261123020000_feed_cursor). `since` keeps a feed that was started from an instant to the rows
 * changed since then. Opaque to clients.
 */
interface FeedCursor {
  xid: bigint;
  id: string;
  since: Date | null;
}
const FEED_START: FeedCursor = { xid: 0n, id: '', since: null };

function encodeCursor(c: FeedCursor): string {
  const v = { x: c.xid.toString(), i: c.id, ...(c.since ? { s: c.since.toISOString() } : {}) };
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}
function decodeCursor(raw: string): FeedCursor {
  const instant = (at: unknown) => typeof at === 'string' && !Number.isNaN(Date.parse(at));
  if (/^\d{4}-\d{2}-\d{2}T/.test(raw) && instant(raw)) return { ...FEED_START, since: new Date(raw) };
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString()) as unknown;
    // A cursor of the earlier, time-ordered feed: resume from its instant (a change may come again,
    // none is lost).
    if (Array.isArray(v) && instant(v[0])) return { ...FEED_START, since: new Date(v[0] as string) };
    const c = v as { x?: unknown; i?: unknown; s?: unknown };
    if (typeof c.x === 'string' && /^\d{1,19}$/.test(c.x) && typeof c.i === 'string')
      return { xid: BigInt(c.x), id: c.i, since: instant(c.s) ? new Date(c.s as string) : null };
  } catch {
    // reported below
  }
  throw new Problem(400, 'invalid_cursor', 'updatedSince must be an ISO instant or a nextCursor value');
}

/** A case's status as integrators see it: the union and coordinators whole, others their agency's part. */
function caseStatus(
  p: Principal,
  whole: boolean,
  c: {
    id: string;
    stage: string;
    regionCode: string;
    onHold: boolean;
    openedAt: Date;
    endedAt: Date | null;
    updatedAt: Date;
    summary: unknown;
  },
  openTasks: Array<{ type: string; agency: string; dueAt: Date; status: string }>,
) {
  const s = (c.summary ?? {}) as {
    agencyReferrals?: Array<Record<string, unknown>>;
    referrals?: unknown[];
    ending?: unknown;
  };
  return {
    caseId: c.id,
    stage: c.stage,
    regionCode: c.regionCode,
    onHold: c.onHold,
    openedAt: c.openedAt,
    endedAt: c.endedAt,
    ending: s.ending ?? null,
    updatedAt: c.updatedAt,
    referralsReceived: s.referrals?.length ?? 0,
    openTasks: tasksSeenOnCase(p, whole, openTasks).map((t) => ({
      type: t.type,
      agency: t.agency,
      status: t.status,
      dueAt: t.dueAt,
    })),
    // Agency referrals likewise: another agency's measure says what the household needs.
    agencyReferrals: tasksSeenOnCase(
      p,
      whole,
      (s.agencyReferrals ?? []) as Array<Record<string, unknown> & { agency: string }>,
    ).map((r) => ({
      id: r.id,
      measure: r.measure,
      agency: r.agency,
      status: r.status,
      updatedAt: r.updatedAt,
    })),
    links: { self: `/v1/referrals/${c.id}` },
  };
}

/** Integrators: referral status and feed, webhooks, bulk import, batch task work. */
export function integrationRoutes({ db, client, config, resolve, batchItemWaitMs }: AppDeps): Router {
  const r = Router();
  const taskQueue = config.TEMPORAL_TASK_QUEUE;

  // ------------------------------------------------------------------ referrals: status and feed

  r.get('/referrals/:id', async (req, res) => {
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const p = principalOf(req);
    // The sight of GET /v1/cases/:id, and the agency that referred the household follows its
    // referral: the case's status and its own part, as in the feed.
    const { case: c, whole } = await visibleCase(db, p, id, { referrers: true });
    const tasks = await db.caseTask.findMany({
      where: { caseId: c.id, status: { in: ACTIVE_TASK_STATUSES } },
      orderBy: { dueAt: 'asc' },
    });
    res.json(caseStatus(p, whole, c, tasks));
  });

  r.get('/referrals', async (req, res) => {
    const q = parse(FeedQuerySchema, req.query, ['query']);
    const p = principalOf(req);
    const from = q.updatedSince ? decodeCursor(q.updatedSince) : FEED_START;
    // Only rows written by transactions that have all ended (below the snapshot's xmin): a
    // transaction still open, however long, can only commit rows that sort after this page.
    const rows = await db.$queryRaw<Array<Parameters<typeof caseStatus>[2] & { writeXid: bigint }>>`
      SELECT c."id", c."stage", c."regionCode", c."onHold", c."openedAt", c."endedAt", c."updatedAt", c."summary",
             c."writeXid"
        FROM "HouseholdCase" c
       WHERE (c."writeXid", c."id") > (${from.xid}, ${from.id})
         AND c."writeXid" < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)
         ${from.since ? Prisma.sql`AND c."updatedAt" >= ${from.since}` : Prisma.empty}
         AND ${seesCaseSql(p, 'c', { referrers: true })}
       ORDER BY c."writeXid", c."id" LIMIT ${q.limit}`;
    const tasks = rows.length
      ? await db.caseTask.findMany({
          where: { caseId: { in: rows.map((c) => c.id) }, status: { in: ACTIVE_TASK_STATUSES } },
          orderBy: { dueAt: 'asc' },
        })
      : [];
    const last = rows[rows.length - 1];
    res.json({
      items: rows.map((c) =>
        caseStatus(
          p,
          seesWholeCases(p),
          c,
          tasks.filter((t) => t.caseId === c.id),
        ),
      ),
      nextCursor: encodeCursor(last ? { xid: last.writeXid, id: last.id, since: from.since } : from),
      hasMore: rows.length === q.limit,
    });
  });

  // ------------------------------------------------------------------ webhooks

  const ensureDispatcher = () => ensureWebhookDispatcher(client, taskQueue);

  async function ownSubscription(p: Principal, id: string) {
    const s = await db.webhookSubscription.findUnique({ where: { id } });
    if (!s || s.owner !== p.sub) throw new Problem(404, 'subscription_not_found', `no subscription ${id}`);
    return s;
  }

  const subscriptionView = (s: {
    id: string;
    url: string;
    eventTypes: string[];
    region: string;
    active: boolean;
    createdAt: Date;
  }) => ({
    id: s.id,
    url: s.url,
    eventTypes: s.eventTypes,
    region: s.region,
    active: s.active,
    createdAt: s.createdAt,
  });

  r.post('/webhooks/subscriptions', async (req, res) => {
    const body = parse(SubscriptionSchema, req.body, ['body']);
    const p = principalOf(req);
    const region = body.region ?? p.region;
    if (!regionWithin(region, p.region))
      throw new Problem(403, 'forbidden', `region ${region} is outside your region ${p.region}`);
    try {
      await assertWebhookTarget(body.url, allowPrivateTargets(), resolve);
    } catch (err) {
      if (err instanceof TargetError) throw new Problem(422, 'invalid_webhook_target', err.message);
      throw err;
    }
    // The subscription and its audit entry commit together, or neither does (503 if the trail is down).
    const s = await auditedDbChange(
      db,
      (tx) =>
        tx.webhookSubscription.create({
          data: {
            id: `whs_${crypto.randomBytes(8).toString('hex')}`,
            owner: p.sub,
            agency: p.agency,
            region,
            url: body.url,
            eventTypes: body.eventTypes,
            secret: newWebhookSecret(),
          },
        }),
      (row) => ({
        principal: p,
        action: 'webhook.subscribe',
        target: row.id,
        requestId: req.requestId,
        data: { url: row.url, eventTypes: row.eventTypes, region },
      }),
    );
    await ensureDispatcher();
    res
      .status(201)
      .json({ ...subscriptionView(s), secret: s.secret, retrySchedule: retryDelaysMs(process.env) });
  });

  r.get('/webhooks/subscriptions', async (req, res) => {
    const rows = await db.webhookSubscription.findMany({
      where: { owner: principalOf(req).sub, active: true },
      orderBy: { createdAt: 'asc' },
    });
    res.json({ items: rows.map(subscriptionView) });
  });

  r.delete('/webhooks/subscriptions/:id', async (req, res) => {
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const p = principalOf(req);
    await ownSubscription(p, id);
    await auditedDbChange(
      db,
      (tx) => tx.webhookSubscription.update({ where: { id }, data: { active: false } }),
      () => ({ principal: p, action: 'webhook.unsubscribe', target: id, requestId: req.requestId }),
    );
    res.status(204).end();
  });

  r.get('/webhooks/deliveries', async (req, res) => {
    const q = parse(DeliveryQuerySchema, req.query, ['query']);
    const subs = await db.webhookSubscription.findMany({
      where: { owner: principalOf(req).sub },
      select: { id: true },
    });
    const ids = subs.map((s) => s.id).filter((id) => !q.subscriptionId || id === q.subscriptionId);
    const rows = await db.webhookDelivery.findMany({
      where: {
        subscriptionId: { in: ids },
        ...(q.status ? { status: q.status } : {}),
        ...(q.caseId ? { caseId: q.caseId } : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      take: q.limit,
      omit: { payload: true },
    });
    res.json({ items: rows });
  });

  async function ownDelivery(p: Principal, id: string) {
    const d = await db.webhookDelivery.findUnique({ where: { id } });
    if (!d) throw new Problem(404, 'delivery_not_found', `no delivery ${id}`);
    await ownSubscription(p, d.subscriptionId).catch(() => {
      throw new Problem(404, 'delivery_not_found', `no delivery ${id}`);
    });
    return d;
  }

  r.get('/webhooks/deliveries/:id', async (req, res) => {
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const d = await ownDelivery(principalOf(req), id);
    const attempts = await db.webhookAttempt.findMany({
      where: { deliveryId: d.id },
      orderBy: { id: 'asc' },
    });
    res.json({ ...d, attempts: attempts.map(({ id: _id, deliveryId: _d, ...a }) => a) });
  });

  r.post('/webhooks/deliveries/:id/redeliver', async (req, res) => {
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const p = principalOf(req);
    const d = await ownDelivery(p, id);
    const sub = await ownSubscription(p, d.subscriptionId);
    if (!sub.active) throw new Problem(409, 'subscription_inactive', 'the subscription has been deleted');
    await auditedDbChange(
      db,
      (tx) =>
        tx.webhookDelivery.update({ where: { id }, data: { status: 'pending', nextAttemptAt: new Date() } }),
      () => ({
        caseId: d.caseId,
        principal: p,
        action: 'webhook.redeliver',
        target: id,
        requestId: req.requestId,
      }),
    );
    // Behind whatever the case still has queued for this subscription, so order is kept.
    await client.workflow.signalWithStart(webhookDelivery, {
      workflowId: deliveryWorkflowId(d.subscriptionId, d.caseId),
      taskQueue,
      args: [
        {
          subscriptionId: d.subscriptionId,
          caseId: d.caseId,
          retryDelaysMs: retryDelaysMs(process.env),
          idleMs: 600_000,
        },
      ],
      signal: enqueueDeliveries,
      signalArgs: [[{ deliveryId: id, redelivery: true }]],
    });
    res.status(202).json({ id, status: 'pending', eventId: d.eventId });
  });

  // ------------------------------------------------------------------ bulk import

  const importText = express.text({
    type: ['text/csv', 'application/x-ndjson', 'application/jsonl', 'application/x-jsonlines'],
    limit: MAX_IMPORT_BYTES,
  });

  async function importReport(db: Db, jobId: string) {
    const job = await db.importJob.findUniqueOrThrow({ where: { id: jobId } });
    const invalid = await db.importRow.findMany({
      where: { jobId, status: { in: ['invalid', 'failed'] } },
      orderBy: { rowNo: 'asc' },
      take: 1000,
      select: { rowNo: true, status: true, errors: true, error: true },
    });
    const { owner: _o, fileHash: _h, ...rest } = job;
    return {
      ...rest,
      errors: invalid.map((r) => ({
        row: r.rowNo,
        status: r.status,
        errors: (r.errors as Array<{ path: string; message: string }> | null) ?? [
          { path: '', message: r.error ?? '' },
        ],
      })),
      links: { self: `/v1/imports/${job.id}`, rows: `/v1/imports/${job.id}/rows` },
    };
  }

  r.post('/imports', importText, async (req, res) => {
    const p = principalOf(req);
    const format: ImportFormat | null = formatOf(req.header('content-type'));
    if (!format || typeof req.body !== 'string')
      throw new Problem(415, 'unsupported_media_type', 'send the file as text/csv or application/x-ndjson');
    // One job per (agency, region, rows): the same rows again, however saved, return that job;
    // an uploader elsewhere gets a job of their own.
    const fileHash = sha256(`${format}\n${normalisedContent(req.body)}`);
    const jobId = `imp_${sha256(`${p.agency}|${p.region}|${fileHash}`).slice(0, 24)}`;
    const existing = await db.importJob.findUnique({ where: { id: jobId } });
    if (existing) {
      // Stored but never started (the start failed after the job committed): uploading again starts it.
      if (existing.status !== 'completed') await startImport(jobId);
      return void res.status(200).json({ ...(await importReport(db, jobId)), duplicate: true });
    }

    const records = readRecords(req.body, format);
    if ('fileError' in records) throw new Problem(400, 'invalid_file', records.fileError);
    if (records.length > MAX_IMPORT_ROWS)
      throw new Problem(
        413,
        'too_many_rows',
        `the file has ${records.length} rows; at most ${MAX_IMPORT_ROWS} per file, split it into several imports`,
      );
    const scope = { region: p.region, defaultReferrer: p.name ?? p.sub };
    const rows: Prisma.ImportRowCreateManyInput[] = records.map((rec) => {
      const v = rec.record ? validateRecord(rec.record, scope) : { errors: rec.errors };
      if ('errors' in v) return { jobId, rowNo: rec.rowNo, status: 'invalid', errors: v.errors };
      return {
        jobId,
        rowNo: rec.rowNo,
        status: 'pending',
        householdKey: householdKey(v.household.idNumber, config.HOUSEHOLD_KEY_SECRET),
        input: v as unknown as Prisma.InputJsonValue,
      };
    });
    const valid = rows.filter((x) => x.status === 'pending').length;
    try {
      // The job and its audit entry commit together, or neither does (503 if the trail is down).
      await auditedDbChange(
        db,
        async (tx) => {
          await tx.importJob.create({
            data: {
              id: jobId,
              owner: p.sub,
              agency: p.agency,
              region: p.region,
              fileHash,
              format,
              status: valid ? 'queued' : 'completed',
              totalRows: rows.length,
              validRows: valid,
              invalidRows: rows.length - valid,
              finishedAt: valid ? null : new Date(),
            },
          });
          for (let i = 0; i < rows.length; i += 2000)
            await tx.importRow.createMany({ data: rows.slice(i, i + 2000) });
        },
        () => ({
          principal: p,
          action: 'import.upload',
          target: jobId,
          requestId: req.requestId,
          data: { format, rows: rows.length, valid },
        }),
        { timeout: 60_000 },
      );
    } catch (err) {
      // The same file uploaded twice at once: the other request created the job.
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002')
        return void res.status(200).json({ ...(await importReport(db, jobId)), duplicate: true });
      throw err;
    }
    if (valid) await startImport(jobId);
    res.status(202).json(await importReport(db, jobId));
  });

  /** One import workflow per job (its ID is the job's): starting it again joins the running one. */
  async function startImport(jobId: string): Promise<void> {
    await client.workflow.start(referralImport, {
      workflowId: importWorkflowId(jobId),
      taskQueue,
      args: [{ jobId }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  }

  async function ownImport(req: Request, id: string) {
    const job = await db.importJob.findUnique({ where: { id } });
    if (!job || job.agency !== principalOf(req).agency || !regionWithin(job.region, principalOf(req).region))
      throw new Problem(404, 'import_not_found', `no import ${id}`);
    return job;
  }

  r.get('/imports/:id', async (req, res) => {
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    await ownImport(req, id);
    res.json(await importReport(db, id));
  });

  r.get('/imports/:id/rows', async (req, res) => {
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const q = parse(RowsQuerySchema, req.query, ['query']);
    await ownImport(req, id);
    const rows = await db.importRow.findMany({
      where: { jobId: id, rowNo: { gt: q.after }, ...(q.status ? { status: q.status } : {}) },
      orderBy: { rowNo: 'asc' },
      take: q.limit,
      select: { rowNo: true, status: true, caseId: true, errors: true, error: true },
    });
    res.json({ items: rows, nextAfter: rows.length ? rows[rows.length - 1]!.rowNo : null });
  });

  // ------------------------------------------------------------------ batch task work

  r.get('/batch/tasks', async (req, res) => {
    const q = parse(BatchPullSchema, req.query, ['query']);
    const p = principalOf(req);
    const types = q.type ? [q.type] : SYSTEM_TASK_TYPES;
    const tasks = await db.caseTask.findMany({
      where: {
        agency: p.agency,
        status: 'open',
        type: { in: types },
        OR: [{ regionCode: p.region }, { regionCode: { startsWith: `${p.region}/` } }],
        ...(q.after ? { id: { gt: q.after } } : {}),
      },
      orderBy: { id: 'asc' },
      take: q.limit,
    });
    const cases = await db.householdCase.findMany({
      where: { id: { in: [...new Set(tasks.map((t) => t.caseId))] } },
      select: { id: true, facts: true, regionCode: true, headName: true },
    });
    const byId = new Map(cases.map((c) => [c.id, c]));
    const items = tasks.map((t) => {
      const c = byId.get(t.caseId);
      const need = new Set(taskTypeInfo[t.type as TaskType]?.facts ?? []);
      const facts = (c?.facts ?? {}) as Record<string, unknown>;
      return {
        taskId: t.id,
        caseId: t.caseId,
        type: t.type,
        dueAt: t.dueAt,
        regionCode: t.regionCode,
        household: {
          headName: c?.headName ?? null,
          ...(need.has('idNumber') ? { idNumber: facts.idNumber ?? null } : {}),
        },
      };
    });
    // Releasing ID numbers is a sensitive read: one audit entry per task, as for a person; all in one
    // transaction (or none, and 503).
    await auditAllOrRefuse(
      db,
      items
        .filter((i) => 'idNumber' in i.household)
        .map((i) => ({
          caseId: i.caseId,
          principal: p,
          action: 'task.read_sensitive',
          target: i.taskId,
          requestId: req.requestId,
          data: { via: 'batch' },
        })),
    );
    res.json({ items, nextAfter: tasks.length ? tasks[tasks.length - 1]!.id : null });
  });

  r.post('/batch/tasks/results', async (req, res) => {
    const { items } = parse(BatchResultsSchema, req.body, ['body']);
    const results = await completeBatch(
      { db, client, itemWaitMs: batchItemWaitMs ?? 10_000 },
      principalOf(req),
      req.requestId,
      items,
    );
    res.json({
      results,
      succeeded: results.filter((x) => x.ok).length,
      pending: results.filter((x) => x.status === 202).length,
      failed: results.filter((x) => !x.ok && x.status !== 202).length,
    });
  });

  return r;
}
