import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import type { Principal } from './auth';
import { Problem, problemFromFailure } from './errors';
import { sha256 } from './hash';
import { log } from './log';

/**
 * The audit trail: every write through the API, and every read of sensitive fields, appended as a
 * hash-chained entry before the data leaves or the change is made (fail closed). Each case has its
 * own chain (a referral's attempt goes to its household's, named by the workflow ID; writes outside
 * a case to `_system`), so editing, deleting or reordering an entry breaks the chain, which
 * `verifyAuditChains` detects.
 */
export const SYSTEM_CHAIN = '_system';
const GENESIS = '0'.repeat(64);

export interface AuditInput {
  caseId?: string | null;
  /** The chain, when not the case's: a household's own chain holds a referral attempted before its case is known. */
  chain?: string;
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

/** A form holds personal data: the trail keeps its digest. */
export const formDigest = (form: unknown) => sha256(JSON.stringify(form));

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
  return sha256(content);
}

type Tx = Prisma.TransactionClient;

const chainOf = (entry: AuditInput) => entry.chain ?? entry.caseId ?? SYSTEM_CHAIN;

/**
 * Appends one entry inside the caller's transaction, so a change to the database and its audit
 * entry commit together or not at all. The chain's head row is locked, so concurrent writers queue.
 */
async function appendAudit(tx: Tx, entry: AuditInput): Promise<{ chain: string; seq: number; hash: string }> {
  const chain = chainOf(entry);
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

/** Runs an append, retrying a transient failure twice; then refuses the request (503). */
async function orRefuse<T>(entry: AuditInput, append: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await append();
    } catch (err) {
      if (attempt >= 3) {
        logAuditFailure(entry, err);
        throw auditUnavailable();
      }
    }
  }
}

/**
 * Appends an entry or refuses the request (503): used before sensitive data leaves and before a
 * change is made, so neither happens unrecorded. A transient failure is retried twice.
 */
export async function auditOrRefuse(
  db: Db,
  entry: AuditInput,
): Promise<{ chain: string; seq: number; hash: string }> {
  return orRefuse(entry, () => audit(db, entry));
}

/**
 * Appends every entry in one transaction, or none and refuses the request (503): a batch of reads
 * audited with one commit. Chains are locked in order, so concurrent batches cannot deadlock.
 */
export async function auditAllOrRefuse(db: Db, entries: AuditInput[]): Promise<void> {
  if (!entries.length) return;
  const byChain = (a: AuditInput, b: AuditInput) =>
    chainOf(a) < chainOf(b) ? -1 : chainOf(a) > chainOf(b) ? 1 : 0;
  const ordered = [...entries].sort(byChain);
  await orRefuse(entries[0]!, () =>
    db.$transaction(
      async (tx) => {
        for (const e of ordered) await appendAudit(tx, e);
      },
      { timeout: 30_000 },
    ),
  );
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
  opts: { timeout?: number } = {},
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
    }, opts);
  } catch (err) {
    throw auditFailed ? auditUnavailable() : err;
  }
}

/** A change made through a workflow Update (see `auditedChange`). */
export interface ChangeEntry extends AuditInput {
  /** The workflow the Update goes to. */
  workflowId: string;
  /**
   * The Update's ID, when it has a stable one: a retry reuses the open attempt of the same ID, and
   * once an outcome `applied` is recorded for it nothing more is appended (one audit per Update).
   */
  updateId?: string;
  /**
   * The timeline event type(s) by which the workflow records this change (`eventsRecordedBy`):
   * the reconciler settles an open attempt as applied only on such an event by the same actor.
   */
  recordedAs: readonly string[];
  /**
   * For a change that names no case yet (a referral, which may start one): the household. Its
   * attempt goes to the household's own chain (named by the workflow ID) and notes the events of
   * each of its cases so far; the outcome names the case, whose chain gets `caseRecord`.
   */
  household?: { key: string };
}

/** The entry a case's own chain gets for a change first attempted on its household's chain. */
export interface CaseRecord {
  caseId: string;
  data?: Record<string, unknown>;
}

/** Serialises the attempts and outcomes of one Update ID (a batch retried concurrently). */
const lockUpdate = (tx: Tx, updateId: string) =>
  tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`audit:${updateId}`}, 0))`;

/** The outcome phase recorded for an attempt, if any. */
async function outcomeOf(tx: Tx, chain: string, attemptSeq: number): Promise<string | undefined> {
  const [o] = await tx.$queryRaw<Array<{ phase: string }>>`
    SELECT "data"->>'phase' AS "phase" FROM "AuditEntry"
     WHERE "chain" = ${chain} AND "data"->>'attemptSeq' = ${String(attemptSeq)} LIMIT 1`;
  return o?.phase;
}

/**
 * Where the workflow stood before the attempt: its last projected event. A household's later case
 * runs under the same workflow ID and numbers its events from 1 again, so the mark is per case.
 */
async function watermark(tx: Tx, entry: ChangeEntry): Promise<Record<string, unknown>> {
  const { workflowId } = entry;
  if (!entry.household) {
    const last = await tx.caseEvent.aggregate({
      where: { caseId: entry.caseId!, workflowId },
      _max: { seq: true },
    });
    return { workflowId, afterSeq: last._max.seq ?? 0 };
  }
  // Every case of the household in one query.
  const marks = await tx.$queryRaw<Array<{ id: string; afterSeq: number }>>`
    SELECT c."id", COALESCE(MAX(e."seq"), 0)::int AS "afterSeq"
      FROM "HouseholdCase" c
      LEFT JOIN "CaseEvent" e ON e."caseId" = c."id" AND e."workflowId" = ${workflowId}
     WHERE c."householdKey" = ${entry.household.key}
     GROUP BY c."id" ORDER BY c."id"`;
  const afterSeqs = Object.fromEntries(marks.map((m) => [m.id, m.afterSeq]));
  return { workflowId, householdKey: entry.household.key, afterSeqs };
}

/**
 * Step 1 of `auditedChange`: the attempt, or the still open attempt of the same Update ID; null
 * when that Update was recorded as applied already. Refuses the request (503) when the trail is down.
 * `withMark` completes a new attempt's entry with its watermark (not read when one is reused).
 */
async function openAttempt(
  db: Db,
  entry: AuditInput,
  updateId: string | undefined,
  withMark: (tx: Tx) => Promise<AuditInput>,
): Promise<{ seq: number } | null> {
  return orRefuse(entry, () =>
    db.$transaction(async (tx) => {
      if (updateId) {
        await lockUpdate(tx, updateId);
        const [prior] = await tx.$queryRaw<Array<{ seq: number }>>`
          SELECT "seq" FROM "AuditEntry"
           WHERE "chain" = ${chainOf(entry)} AND "data"->>'phase' = 'attempt' AND "data"->>'updateId' = ${updateId}
           ORDER BY "seq" DESC LIMIT 1`;
        if (prior) {
          const outcome = await outcomeOf(tx, chainOf(entry), prior.seq);
          if (outcome === 'applied') return null;
          // Open: this is its retry. Refused or not applied: the Update may be tried afresh.
          if (outcome === undefined) return prior;
        }
      }
      return appendAudit(tx, await withMark(tx));
    }),
  );
}

/**
 * The outcome of an attempt, with the case's record when the attempt was on a household's chain,
 * in one transaction. It cannot refuse anything any more (the change is made or refused), so a
 * failure is logged loudly and the attempt stays open for `reconcileAuditTrail`.
 */
async function settleAttempt(
  db: Db,
  outcome: AuditInput,
  attemptSeq: number,
  opts: { updateId?: string; caseRecord?: AuditInput } = {},
): Promise<boolean> {
  const chain = chainOf(outcome);
  for (let attempt = 1; ; attempt++) {
    try {
      // One outcome per attempt, whoever settles it (the request, its retry, a reconciler).
      return await db.$transaction(async (tx) => {
        await lockUpdate(tx, opts.updateId ?? `${chain}#${attemptSeq}`);
        if ((await outcomeOf(tx, chain, attemptSeq)) !== undefined) return false;
        await appendAudit(tx, { ...outcome, data: { ...outcome.data, attemptSeq } });
        if (opts.caseRecord)
          await appendAudit(tx, {
            ...opts.caseRecord,
            data: { ...opts.caseRecord.data, attempt: { chain, seq: attemptSeq } },
          });
        return true;
      });
    } catch (err) {
      if (attempt >= 3) {
        logAuditFailure(outcome, err);
        return false;
      }
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
 * `caseRecord`: for a household's change (see `ChangeEntry.household`), the case it landed in.
 */
export async function auditedChange<T>(
  db: Db,
  entry: ChangeEntry,
  change: () => Promise<T>,
  opts: {
    outcome?: (result: T) => Record<string, unknown>;
    caseRecord?: (result: T) => CaseRecord;
  } = {},
): Promise<T> {
  const { workflowId: _w, updateId, household, recordedAs, ...rest } = entry;
  if (household) rest.chain = entry.workflowId;
  const attemptEntry = (mark: Record<string, unknown>): AuditInput => ({
    ...rest,
    data: { ...rest.data, phase: 'attempt', ...mark, recordedAs, ...(updateId ? { updateId } : {}) },
  });
  const attempt = await openAttempt(db, attemptEntry({}), updateId, async (tx) =>
    attemptEntry(await watermark(tx, entry)),
  );
  const settle = (data: Record<string, unknown>, caseRecord?: CaseRecord) =>
    attempt &&
    settleAttempt(db, { ...rest, data }, attempt.seq, {
      updateId,
      caseRecord: caseRecord && {
        ...rest,
        chain: undefined,
        caseId: caseRecord.caseId,
        target: caseRecord.caseId,
        data: { ...rest.data, ...caseRecord.data },
      },
    });
  let result: T;
  try {
    result = await change();
  } catch (err) {
    // A business refusal is final; anything else (a timeout) leaves the attempt for reconciliation.
    const refused = problemFromFailure(err);
    if (refused && refused.status < 500) await settle({ phase: 'refused', code: refused.code });
    throw err;
  }
  const landed = opts.caseRecord?.(result);
  await settle(
    { phase: 'applied', ...opts.outcome?.(result), ...(landed ? { caseId: landed.caseId } : {}) },
    landed,
  );
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
  data: {
    workflowId: string;
    afterSeq?: number;
    /** The event types that record the change (one string in attempts made before they were listed). */
    recordedAs?: string | string[];
    /** A household's attempt: the household, the marks per case. */
    householdKey?: string;
    afterSeqs?: Record<string, number>;
    updateId?: string;
  } & Record<string, unknown>;
}

const ATTEMPT_KEYS = new Set([
  'phase',
  'workflowId',
  'afterSeq',
  'householdKey',
  'recordedAs',
  'afterSeqs',
  'updateId',
]);

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

/** The events by which the workflow recorded an attempted change, if it made it. */
async function eventsOf(db: Db, a: OpenAttempt) {
  const { workflowId } = a.data;
  // Attempts made before the event types were listed matched any event by the actor.
  const types = a.data.recordedAs === undefined ? undefined : [a.data.recordedAs].flat();
  if (a.caseId)
    return db.caseEvent.findMany({
      where: {
        caseId: a.caseId,
        workflowId,
        seq: { gt: a.data.afterSeq ?? 0 },
        actor: a.actor,
        ...(types ? { type: { in: types } } : {}),
        // An action on a task: events on that task.
        ...(a.target && a.target !== a.caseId ? { taskId: a.target } : {}),
      },
      orderBy: { seq: 'asc' },
      take: 10,
    });
  // A household's attempt: its event in a case the household has had since, or after the mark of one it had.
  const cases = await db.householdCase.findMany({
    where: { householdKey: a.data.householdKey },
    select: { id: true },
  });
  const seen = a.data.afterSeqs ?? {};
  return db.caseEvent.findMany({
    where: {
      caseId: { in: cases.map((c) => c.id) },
      workflowId,
      actor: a.actor,
      type: { in: types ?? [] },
      OR: [
        { caseId: { notIn: Object.keys(seen) } },
        ...Object.entries(seen).map(([caseId, seq]) => ({ caseId, seq: { gt: seq } })),
      ],
    },
    orderBy: [{ at: 'asc' }, { seq: 'asc' }],
    take: 10,
  });
}

/**
 * Settles the open attempts: `applied` when the workflow recorded the change's own events (its
 * `recordedAs` types) by the same actor after the attempt's watermark (on the task, for an action
 * on a task), citing them; `not_applied` otherwise. The worker runs it on a timer
 * (`startAuditReconciler`); `scripts/verify-audit.ts --reconcile` runs it by hand. Appended as ordinary entries marked `reconciled`, so the chains stay verifiable; a
 * household's applied attempt also gets its record on the case's chain.
 */
export async function reconcileAuditTrail(
  db: Db,
  opts: { olderThanMs?: number; chains?: string[] } = {},
): Promise<Array<{ chain: string; attemptSeq: number; phase: 'applied' | 'not_applied' }>> {
  const settled = [];
  for (const a of await openAuditAttempts(db, opts)) {
    const events = await eventsOf(db, a);
    const phase = events.length ? ('applied' as const) : ('not_applied' as const);
    const cited = events.map((e) => ({ workflowId: e.workflowId, seq: e.seq, type: e.type }));
    const entry: AuditInput = {
      caseId: a.caseId,
      chain: a.chain,
      principal: { sub: a.actor, kind: a.actorKind as Principal['kind'], agency: a.agency },
      action: a.action,
      target: a.target,
      requestId: 'reconciliation',
    };
    const landed = a.caseId ? undefined : events[0]?.caseId;
    // What was asked, without the attempt's bookkeeping.
    const asked = Object.fromEntries(Object.entries(a.data).filter(([k]) => !ATTEMPT_KEYS.has(k)));
    const appended = await settleAttempt(
      db,
      { ...entry, data: { phase, reconciled: true, events: cited, ...(landed ? { caseId: landed } : {}) } },
      a.seq,
      {
        updateId: a.data.updateId,
        caseRecord: landed
          ? {
              ...entry,
              chain: undefined,
              caseId: landed,
              target: landed,
              data: { ...asked, reconciled: true, events: cited },
            }
          : undefined,
      },
    );
    if (appended) settled.push({ chain: a.chain, attemptSeq: a.seq, phase });
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
