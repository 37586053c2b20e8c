/** `npm run migrate`: applies prisma/migrations to DATABASE_URL (same records as `prisma migrate deploy`). */
import { migrate } from '../db/migrate';

async function main() {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('Invalid configuration: DATABASE_URL must be set for npm run migrate');
    process.exit(2);
  }
  const applied = await migrate(url);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database schema is up to date');
}
main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
