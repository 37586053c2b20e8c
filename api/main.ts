/** `npm run api`: the API as its own process (production). Needs DATABASE_URL. */
import { loadConfig } from '../config';
import { createDb } from '../db/client';
import { connectClient } from '../worker/temporal';
import { createApp } from './app';
import { fatal, log, setLogLevel } from './log';
import { listen } from './server';

async function main() {
  const config = loadConfig();
  setLogLevel(config.LOG_LEVEL);
  if (!config.DATABASE_URL)
    throw new Error('Invalid configuration: DATABASE_URL must be set for a separate API process');
  const db = createDb(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const client = await connectClient(config);
  const server = await listen(createApp({ config, db, client }), config.PORT);
  log('info', 'api listening', { port: server.port });
  let stopping = false;
  const stop = async () => {
    if (stopping) return; // Ctrl-C arrives more than once (process group, npm, tsx)
    stopping = true;
    log('info', 'api stopping: no new connections, finishing in-flight requests');
    await server.close();
    await client.connection.close();
    await db.$disconnect();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
main().catch(fatal);
