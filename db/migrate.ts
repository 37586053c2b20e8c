import fs from 'node:fs';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';

/**
 * Applies the committed SQL in prisma/migrations with Prisma's own schema engine, compiled to
 * WebAssembly (no native engine binary needed). It records each migration in `_prisma_migrations`
 * exactly as `prisma migrate deploy` does, so either tool can take over the same database.
 */
export const MIGRATIONS_DIR = path.resolve(__dirname, '../prisma/migrations');
export const SCHEMA_DIR = path.resolve(__dirname, '../prisma/schema');

/** The schema is a folder of .prisma files (one per area). */
export function readSchemaFiles(): Array<{ path: string; content: string }> {
  return fs
    .readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.prisma'))
    .sort()
    .map((f) => ({
      path: path.join(SCHEMA_DIR, f),
      content: fs.readFileSync(path.join(SCHEMA_DIR, f), 'utf8'),
    }));
}

// The package is ESM and imports its .wasm as a module (experimental on Node 20); instantiating
// the bytes ourselves avoids the --experimental-wasm-modules flag.
interface SchemaEngineModule {
  SchemaEngine: {
    new: (
      opts: { datamodels: [string, string][] },
      log: (msg: string) => void,
      adapter: object,
    ) => Promise<Engine>;
  };
}
interface Engine {
  applyMigrations(input: unknown): Promise<{ appliedMigrationNames: string[] }>;
  diff(input: unknown): Promise<{ exitCode: number; stdout: string | null }>;
  free(): void;
}

interface WasmApi {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: object } }>;
}

let enginePromise: Promise<SchemaEngineModule> | undefined;
async function loadEngineModule(): Promise<SchemaEngineModule> {
  enginePromise ??= (async () => {
    const dir = path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg'));
    const bg = await import(path.join(dir, 'schema_engine_bg.js'));
    const bytes = fs.readFileSync(path.join(dir, 'schema_engine_bg.wasm'));
    // @types/node does not declare the WebAssembly global.
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const { instance } = await wasm.instantiate(bytes, { './schema_engine_bg.js': bg });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start: () => void }).__wbindgen_start();
    return bg as SchemaEngineModule;
  })();
  return enginePromise;
}

const noFilters = { externalTables: [], externalEnums: [] };

/**
 * adapter-pg's `executeScript` splits a migration on every `;`, which breaks function and trigger
 * bodies (`$$ ... ; ... $$`). Prisma's native engine sends a migration whole; so do we: one
 * simple-protocol query, which PostgreSQL runs as a single implicit transaction.
 */
class WholeScriptPg extends PrismaPg {
  override async connect() {
    const adapter = await super.connect();
    const pool = adapter.underlyingDriver();
    adapter.executeScript = async (script: string) => {
      try {
        await pool.query(script);
      } catch (error) {
        (adapter as unknown as { onError(e: unknown): never }).onError(error);
      }
    };
    return adapter;
  }
}

async function withEngine<T>(connectionString: string, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const { SchemaEngine } = await loadEngineModule();
  const factory = new WholeScriptPg({ connectionString, max: 1 });
  const engine = await SchemaEngine.new(
    { datamodels: readSchemaFiles().map((f) => [f.path, f.content] as [string, string]) },
    () => {},
    bindMigrationAwareSqlAdapterFactory(factory),
  );
  try {
    return await fn(engine);
  } finally {
    engine.free();
  }
}

export function readMigrations(dir = MIGRATIONS_DIR) {
  const lockPath = path.join(dir, 'migration_lock.toml');
  return {
    baseDir: dir,
    lockfile: {
      path: 'migration_lock.toml',
      content: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : null,
    },
    shadowDbInitScript: '',
    migrationDirectories: fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()
      .map((name) => ({
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: { tag: 'ok', value: fs.readFileSync(path.join(dir, name, 'migration.sql'), 'utf8') },
        },
      })),
  };
}

/** Applies pending migrations; returns the names applied now (empty when up to date). */
export async function migrate(connectionString: string): Promise<string[]> {
  return withEngine(connectionString, async (engine) => {
    const out = await engine.applyMigrations({ migrationsList: readMigrations(), filters: noFilters });
    return out.appliedMigrationNames;
  });
}

/** The SQL that builds schema.prisma from an empty database (used by the drift test). */
export async function schemaToSql(connectionString: string): Promise<string> {
  return withEngine(connectionString, async (engine) => {
    const out = await engine.diff({
      from: { tag: 'empty' },
      to: { tag: 'schemaDatamodel', files: readSchemaFiles() },
      script: true,
      exitCode: null,
      filters: noFilters,
    });
    return out.stdout ?? '';
  });
}
