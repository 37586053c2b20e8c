/**
 * `npx tsx scripts/verify-audit.ts [--reconcile] [chain ...]`: recomputes the audit trail's hash
 * chains (one per case, one per household for referrals, `_system` for the rest) and reports any entry edited, removed or reordered.
 * It also lists change attempts left without an outcome for over 15 minutes (the API process died
 * between a workflow Update and its outcome entry); `--reconcile` settles them from the workflows'
 * own case events first (see docs/AUDIT.md). Exit code 0 when intact, 1 when
 * tampering is found. Needs DATABASE_URL.
 */
import { openAuditAttempts, reconcileAuditTrail, verifyAuditChains } from '../api/audit';
import { createDb } from '../db/client';

async function main() {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL must be set');
  const db = createDb(url, 2);
  try {
    const args = process.argv.slice(2);
    const chains = args.filter((a) => a !== '--reconcile');
    const scope = chains.length ? chains : undefined;
    if (args.includes('--reconcile'))
      for (const s of await reconcileAuditTrail(db, { chains: scope }))
        process.stdout.write(`settled chain=${s.chain} seq=${s.attemptSeq}: ${s.phase}\n`);
    const open = await openAuditAttempts(db, { chains: scope });
    if (open.length)
      process.stdout.write(`${open.length} change attempts without an outcome: run with --reconcile\n`);
    const result = await verifyAuditChains(db, scope);
    for (const p of result.problems)
      process.stdout.write(`TAMPERED chain=${p.chain} seq=${p.seq ?? '-'}: ${p.problem}\n`);
    process.stdout.write(
      `${result.problems.length ? 'audit trail FAILED verification' : 'audit trail intact'}: ${result.chains} chains, ${result.entries} entries, ${result.problems.length} problems\n`,
    );
    process.exitCode = result.problems.length ? 1 : 0;
  } finally {
    await db.$disconnect();
  }
}
main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
