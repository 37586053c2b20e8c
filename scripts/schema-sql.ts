/**
 * `npm run db:schema-sql`: prints the SQL that builds prisma/schema from an empty database (Prisma's
 * own engine, as WASM). Use it to write a new migration; the drift test checks the result.
 */
import { schemaToSql } from '../db/migrate';

// The engine connects once (it reads the server version), so any reachable PostgreSQL will do.
schemaToSql(
  process.env.DATABASE_URL ??
    process.env.TEST_DATABASE_URL ??
    'postgresql://postgres@127.0.0.1:55432/postgres',
)
  .then((sql) => process.stdout.write(sql))
  .catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
