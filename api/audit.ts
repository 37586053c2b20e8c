import crypto from 'node:crypto';
import type { Db } from '../db/client';
import type { Prisma } from '../generated/prisma/client';
import type { Principal } from './auth';
import { log } from './log';

/**
 * The audit trail: every write through the API, and every read of sensitive fields, appended as a
 * hash-chained entry. Each case has its own chain (writes outside a case go to `_system`), so
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

/** Appends one entry. The chain's head row is locked for the append, so concurrent writers queue. */
export async function audit(
  db: Db,
  entry: AuditInput,
): Promise<{ chain: string; seq: number; hash: string }> {
  const chain = entry.caseId ?? SYSTEM_CHAIN;
  // JSONB keeps no undefined values: normalise first so the stored data hashes the same.
  const data = JSON.parse(JSON.stringify(entry.data ?? {})) as Prisma.InputJsonObject;
  return db.$transaction(async (tx) => {
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
  });
}

/**
 * Audits without failing the request: the change it records has already happened in the workflow,
 * so an audit failure is logged loudly (with the request ID) rather than reported as the change
 * failing.
 */
export async function auditSafely(db: Db, entry: AuditInput): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await audit(db, entry);
      return;
    } catch (err) {
      if (attempt >= 3) {
        log('error', 'audit append failed', {
          requestId: entry.requestId,
          action: entry.action,
          target: entry.target,
          err: err instanceof Error ? err.message : String(err),
        });
        return;
      }
    }
  }
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
