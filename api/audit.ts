import crypto from 'node:crypto';
import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import type { Principal } from './auth';
import { Problem, problemFromFailure } from './errors';
import { log } from './log';

/**
 * The audit trail: every write through the API, and every read of sensitive fields, appended as a
 * hash-chained entry before the data leaves or the change is made (fail closed). Each case has its own chain (writes outside a case go to `_system`), so
 * editing, deleting or reordering an entry breaks the chain, which `verifyAuditChains` detects.
 */
export const SYSTEM_CHAIN = '_system';
const GENESIS = '0'.repeat(64);

export interface AuditInput {
  caseId?: string | null;
  principal: Pick<Principal, 'sub' | 'kind' | 'agency'>;
  /** What happened, e.g. `task.complete`, `task.read_sensitive`, `api_key.create`. */
  action: string;
  /** The object acted on (task ID, API key ID, ...). */
  target?: string | null;
  requestId: string;
  data?: Record<string, unknown>;
}

/** JSON with sorted keys, so the hash does not depend on key order after a round trip through JSONB. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object' && !(v instanceof Date))
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v ?? null);
}

interface HashedFields {
  chain: string;
  seq: number;
  caseId: string | null;
  at: Date;
  actor: string;
  actorKind: string;
  agency: string;
  action: string;
  target: string | null;
  requestId: string;
  data: unknown;
  prevHash: string;
}

export function entryHash(e: HashedFields): string {
  // Only the listed fields: a row read back also carries `hash` itself.
  const content = canonicalJson({
    chain: e.chain,
    seq: e.seq,
    caseId: e.caseId,
    at: e.at.toISOString(),
    actor: e.actor,
    actorKind: e.actorKind,
    agency: e.agency,
    action: e.action,
    target: e.target,
    requestId: e.requestId,
    data: e.data,
    prevHash: e.prevHash,
  });
  return crypto.createHash('sha256').update(content).digest('hex');
}

type Tx = Prisma.TransactionClient;

/**
 * Appends one entry inside the caller's transaction, so a change to the database and its audit
 * entry commit together or not at all. The chain's head row is locked, so concurrent writers queue.
 */
export async function appendAudit(
  tx: Tx,
  entry: AuditInput,
): Promise<{ chain: string; seq: number; hash: string }> {
  const chain = entry.caseId ?? SYSTEM_CHAIN;
  // JSONB keeps no undefined values: normalise first so the stored data hashes the same.
  const data = JSON.parse(JSON.stringify(entry.data ?? {})) as Prisma.InputJsonObject;
  await tx.$executeRaw`INSERT INTO "AuditHead" ("chain", "seq", "hash") VALUES (${chain}, 0, ${GENESIS}) ON CONFLICT DO NOTHING`;
  const [head] = await tx.$queryRaw<Array<{ seq: number; hash: string }>>`
    SELECT "seq", "hash" FROM "AuditHead" WHERE "chain" = ${chain} FOR UPDATE`;
  const fields: HashedFields = {
    chain,
    seq: head!.seq + 1,
    caseId: entry.caseId ?? null,
    // Millisecond precision, as TIMESTAMP(3) keeps it, so verification recomputes the same hash.
    at: new Date(),
    actor: entry.principal.sub,
    actorKind: entry.principal.kind,
    agency: entry.principal.agency,
    action: entry.action,
    target: entry.target ?? null,
    requestId: entry.requestId,
    data,
    prevHash: head!.hash,
  };
  const hash = entryHash(fields);
  await tx.auditEntry.create({ data: { ...fields, data, hash } });
  await tx.auditHead.update({ where: { chain }, data: { seq: fields.seq, hash } });
  return { chain, seq: fields.seq, hash };
}

/** Appends one entry in its own transaction. */
export async function audit(
  db: Db,
  entry: AuditInput,
): Promise<{ chain: string; seq: number; hash: string }> {
  return db.$transaction((tx) => appendAudit(tx, entry));
}

export const auditUnavailable = () =>
  new Problem(
    503,
    'audit_unavailable',
    'the audit trail cannot be written just now, so nothing was released or changed; retry later',
  );

/**
 * Appends an entry or refuses the request (503): used before sensitive data leaves and before a
 * change is made, so neither happens unrecorded. A transient failure is retried twice.
 */
export async function auditOrRefuse(
  db: Db,
  entry: AuditInput,
): Promise<{ chain: string; seq: number; hash: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await audit(db, entry);
    } catch (err) {
      if (attempt >= 3) {
        logAuditFailure(entry, err);
        throw auditUnavailable();
      }
    }
  }
}

function logAuditFailure(entry: AuditInput, err: unknown): void {
  log('error', 'audit append failed', {
    requestId: entry.requestId,
    action: entry.action,
    target: entry.target,
    err: err instanceof Error ? err.message : String(err),
  });
}

/**
 * A change to the database and its audit entry in one transaction: both or neither. When the entry
 * cannot be appended the change is rolled back and the request refused (503).
 */
export async function auditedDbChange<T>(
  db: Db,
  change: (tx: Tx) => Promise<T>,
  entry: (result: T) => AuditInput,
): Promise<T> {
  let auditFailed = false;
  try {
    return await db.$transaction(async (tx) => {
      const result = await change(tx);
      const e = entry(result);
      await appendAudit(tx, e).catch((err: unknown) => {
        auditFailed = true;
        logAuditFailure(e, err);
        throw err;
      });
      return result;
    });
  } catch (err) {
    throw auditFailed ? auditUnavailable() : err;
  }
}

/**
 * Audits without failing the request, for what has already happened and cannot be refused any more
 * (a change's outcome): a failure is logged loudly, with the request ID.
 */
export async function auditSafely(db: Db, entry: AuditInput): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await audit(db, entry);
      return;
    } catch (err) {
      if (attempt >= 3) return logAuditFailure(entry, err);
    }
  }
}

/**
 * A change made through a workflow Update, audited so that no crash of the API process can leave it
 * unrecorded. The Update and the audit trail cannot share a transaction, so:
 *  1. an `attempt` entry is appended first, carrying the workflow's last projected event (`afterSeq`);
 *     if the trail cannot be written the change is not made (503);
 *  2. the Update runs;
 *  3. an outcome entry follows: `applied`, or `refused` with the workflow's reason.
 * If the process dies (or the trail fails) between 2 and 3, the attempt stays open: the workflow has
 * recorded the change itself, with its actor, as case events after `afterSeq`, and
 * `reconcileAuditTrail` settles the attempt from them later. Either way the trail holds every change.
 */
export async function auditedChange<T>(
  db: Db,
  entry: AuditInput & { workflowId: string },
  change: () => Promise<T>,
  outcome: (result: T) => Record<string, unknown> = () => ({}),
): Promise<T> {
  const { workflowId, ...rest } = entry;
  const last = await db.caseEvent.aggregate({ where: { workflowId }, _max: { seq: true } });
  const attempt = await auditOrRefuse(db, {
    ...rest,
    data: { ...rest.data, phase: 'attempt', workflowId, afterSeq: last._max.seq ?? 0 },
  });
  const settle = (data: Record<string, unknown>) =>
    auditSafely(db, { ...rest, data: { ...data, attemptSeq: attempt.seq } });
  let result: T;
  try {
    result = await change();
  } catch (err) {
    // A business refusal is final; anything else (a timeout) leaves the attempt for reconciliation.
    const refused = problemFromFailure(err);
    if (refused && refused.status < 500) await settle({ phase: 'refused', code: refused.code });
    throw err;
  }
  await settle({ phase: 'applied', ...outcome(result) });
  return result;
}

interface OpenAttempt {
  chain: string;
  seq: number;
  caseId: string | null;
  actor: string;
  actorKind: string;
  agency: string;
  action: string;
  target: string | null;
  data: { workflowId: string; afterSeq: number };
}

/** Attempts with no outcome entry yet, older than `olderThanMs` (in-flight requests are younger). */
export async function openAuditAttempts(
  db: Db,
  opts: { olderThanMs?: number; chains?: string[] } = {},
): Promise<OpenAttempt[]> {
  const cutoff = new Date(Date.now() - (opts.olderThanMs ?? 15 * 60_000));
  return db.$queryRaw<OpenAttempt[]>`
    SELECT a."chain", a."seq", a."caseId", a."actor", a."actorKind", a."agency", a."action", a."target", a."data"
      FROM "AuditEntry" a
     WHERE a."data"->>'phase' = 'attempt' AND a."at" < ${cutoff}
       ${opts.chains?.length ? Prisma.sql`AND a."chain" IN (${Prisma.join(opts.chains)})` : Prisma.empty}
       AND NOT EXISTS (SELECT 1 FROM "AuditEntry" o
                        WHERE o."chain" = a."chain" AND o."data"->>'attemptSeq' = a."seq"::text)
     ORDER BY a."chain", a."seq"`;
}

/**
 * Settles the open attempts: `applied` when the workflow recorded events by the same actor after
 * the attempt's watermark (on the task, for a task action), citing them; `not_applied` otherwise.
 * Appended as ordinary entries marked `reconciled`, so the chains stay verifiable.
 */
export async function reconcileAuditTrail(
  db: Db,
  opts: { olderThanMs?: number; chains?: string[] } = {},
): Promise<Array<{ chain: string; attemptSeq: number; phase: 'applied' | 'not_applied' }>> {
  const settled = [];
  for (const a of await openAuditAttempts(db, opts)) {
    const events = await db.caseEvent.findMany({
      where: {
        workflowId: a.data.workflowId,
        seq: { gt: a.data.afterSeq },
        actor: a.actor,
        ...(a.action.startsWith('task.') ? { taskId: a.target } : {}),
      },
      orderBy: { seq: 'asc' },
      take: 10,
    });
    const phase = events.length ? ('applied' as const) : ('not_applied' as const);
    await audit(db, {
      caseId: a.caseId,
      principal: { sub: a.actor, kind: a.actorKind as Principal['kind'], agency: a.agency },
      action: a.action,
      target: a.target,
      requestId: 'reconciliation',
      data: {
        phase,
        attemptSeq: a.seq,
        reconciled: true,
        events: events.map((e) => ({ workflowId: e.workflowId, seq: e.seq, type: e.type })),
      },
    });
    settled.push({ chain: a.chain, attemptSeq: a.seq, phase });
  }
  return settled;
}

export interface ChainProblem {
  chain: string;
  seq: number | null;
  problem: string;
}

/** Recomputes every chain (or the given ones); an empty result means the trail is intact. */
export async function verifyAuditChains(
  db: Db,
  chains?: string[],
): Promise<{ chains: number; entries: number; problems: ChainProblem[] }> {
  const heads = await db.auditHead.findMany({
    where: chains ? { chain: { in: chains } } : {},
    orderBy: { chain: 'asc' },
  });
  const problems: ChainProblem[] = [];
  let entries = 0;
  // Chains that have entries but lost their head row are tampering too.
  const withEntries = await db.auditEntry.groupBy({
    by: ['chain'],
    where: chains ? { chain: { in: chains } } : {},
  });
  const headChains = new Set(heads.map((h) => h.chain));
  for (const { chain } of withEntries)
    if (!headChains.has(chain))
      problems.push({ chain, seq: null, problem: 'entries exist but the chain head is missing' });

  for (const head of heads) {
    let prevHash = GENESIS;
    let expectSeq = 1;
    let cursor = 0;
    for (;;) {
      const page = await db.auditEntry.findMany({
        where: { chain: head.chain, seq: { gt: cursor } },
        orderBy: { seq: 'asc' },
        take: 1000,
      });
      if (!page.length) break;
      for (const e of page) {
        entries++;
        if (e.seq !== expectSeq)
          problems.push({
            chain: head.chain,
            seq: expectSeq,
            problem: `entry ${expectSeq} is missing (next is ${e.seq})`,
          });
        if (e.prevHash !== prevHash)
          problems.push({
            chain: head.chain,
            seq: e.seq,
            problem: 'previous-hash link is broken (an entry before it was changed or removed)',
          });
        if (entryHash(e) !== e.hash)
          problems.push({
            chain: head.chain,
            seq: e.seq,
            problem: 'content does not match its hash (entry edited)',
          });
        prevHash = e.hash;
        expectSeq = e.seq + 1;
        cursor = e.seq;
      }
    }
    if (expectSeq - 1 !== head.seq || prevHash !== head.hash)
      problems.push({
        chain: head.chain,
        seq: head.seq,
        problem: `chain ends at ${expectSeq - 1} but its head records ${head.seq} (entries removed from the end)`,
      });
  }
  return { chains: heads.length, entries, problems };
}
