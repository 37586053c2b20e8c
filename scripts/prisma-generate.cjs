// Runs `prisma generate` where Prisma's native engines cannot be downloaded. Generating the client
// never executes the schema engine, but the CLI insists on finding one: point it at a stub that
// fails loudly if it is ever called. Migrations use the WASM engine instead (db/migrate.ts).
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const stub = path.join(__dirname, 'no-native-schema-engine.sh');
execFileSync(process.execPath, [require.resolve('prisma/build/index.js'), 'generate'], {
  stdio: 'inherit',
  cwd: path.resolve(__dirname, '..'),
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || stub,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  },
});
