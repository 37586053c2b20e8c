/**
 * `npx tsx scripts/verify-audit.ts [chain ...]`: recomputes the audit trail's hash chains (one per
 * case, `_system` for the rest) and reports any entry edited, removed or reordered. Exit code 0 when
 * intact, 1 when tampering is found. Needs DATABASE_URL.
 */
import { verifyAuditChains } from '../api/audit';
import { createDb } from '../db/client';

async function main() {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL must be set');
  const db = createDb(url, 2);
  try {
    const chains = process.argv.slice(2);
    const result = await verifyAuditChains(db, chains.length ? chains : undefined);
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
