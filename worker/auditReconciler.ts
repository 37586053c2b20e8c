import { reconcileAuditTrail } from '../api/audit';
import { log } from '../api/log';
import type { Db } from '../db/client';

/**
 * Settles the audit trail's change attempts left open (the API died, or the trail failed, between a
 * workflow Update and its outcome entry; see `reconcileAuditTrail`) every `everyMs` (5 minutes),
 * once they are older than `olderThanMs` (15 minutes: requests in flight are younger). Every worker
 * process runs it: an attempt gets one outcome whoever settles it. A round still running when the
 * next is due is not doubled.
 */
export function startAuditReconciler(db: Db, opts: { everyMs?: number; olderThanMs?: number } = {}) {
  const everyMs = opts.everyMs ?? 5 * 60_000;
  const olderThanMs = opts.olderThanMs ?? 15 * 60_000;
  let round: Promise<void> | null = null;
  const run = async () => {
    try {
      const settled = await reconcileAuditTrail(db, { olderThanMs });
      if (settled.length)
        log('info', 'audit attempts reconciled', {
          applied: settled.filter((s) => s.phase === 'applied').length,
          notApplied: settled.filter((s) => s.phase === 'not_applied').length,
        });
    } catch (err) {
      log('error', 'audit reconciliation failed', { err: err instanceof Error ? err.message : String(err) });
    }
  };
  const timer = setInterval(() => {
    round ??= run().finally(() => (round = null));
  }, everyMs);
  timer.unref();
  log('info', 'audit reconciler started', { everyMs, olderThanMs });
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await round;
    },
  };
}
