import { z } from 'zod';

/**
 * All runtime configuration, read once from the environment and validated here.
 * A bad value stops start-up with one line naming the variable and the rule.
 */
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const EnvSchema = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('household-cases'),
  /** TLS to the frontend (self-hosted with certificates, or Temporal Cloud). */
  TEMPORAL_TLS: bool.default(false),
  TEMPORAL_TLS_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().min(1).optional(),
  /** Temporal Cloud API key; implies TLS. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  /** Any PostgreSQL; when absent the quick start runs an embedded PGlite under DATA_DIR. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  DATA_DIR: z.string().min(1).default('.data'),
  /** Secret for household keys (HMAC of the ID number) and so for workflow IDs; never change it. */
  HOUSEHOLD_KEY_SECRET: z
    .string()
    .min(16, 'must be at least 16 characters')
    .default('dev-only-household-key-secret'),
  /** HS256 secret for staff bearer tokens (an OIDC provider's JWKS can replace it: README.md, "OIDC"). */
  JWT_SECRET: z.string().min(16, 'must be at least 16 characters').default('dev-only-jwt-secret-change-me'),
  /** Ports of the embedded services of the quick start. */
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(55433),
  TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  /** Development only: allow http and loopback/private webhook targets (SSRF guard off). */
  WEBHOOK_ALLOW_PRIVATE_TARGETS: bool.default(false),
  /** Waits after each failed webhook attempt; the default retries for 31.7 h. */
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .regex(
      /^\s*\d+(\.\d+)?(ms|s|m|h|d)\s*(,\s*\d+(\.\d+)?(ms|s|m|h|d)\s*)*$/,
      'must be durations like 30s,2m,8h',
    )
    .optional(),
  /**
   * Workflow runs the worker keeps in memory between tasks. Cases sleep for months between events:
   * a bounded cache keeps the worker's heap flat (an evicted case is replayed on its next event).
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(100_000).default(500),
  /** `npm start` runs its own Temporal dev server on TEMPORAL_ADDRESS: `auto` = when TEMPORAL_ADDRESS is unset. */
  EMBEDDED_TEMPORAL: z.enum(['auto', 'true', 'false']).default('auto'),
});

export type Config = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = issue.path.join('.');
    const got = env[name] === undefined ? 'unset' : JSON.stringify(env[name]);
    throw new ConfigError(`Invalid configuration: ${name} ${issue.message} (got ${got})`);
  }
  const cfg = parsed.data;
  if (Boolean(cfg.TEMPORAL_TLS_CERT_PATH) !== Boolean(cfg.TEMPORAL_TLS_KEY_PATH)) {
    throw new ConfigError(
      'Invalid configuration: TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together',
    );
  }
  return cfg;
}
