import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * The quick start's zero-install database: PGlite (PostgreSQL compiled to WebAssembly) persisted
 * under the data folder, served on a local socket so the same pg driver and migrations apply.
 * PGlite runs one query at a time, so its users keep a pool of one connection.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number) {
  const dir = path.resolve(dataDir, 'pglite');
  fs.mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 8 });
  await server.start();
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
