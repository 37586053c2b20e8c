/** One JSON line per log entry; the request ID ties a request's lines together. */
const levels = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type Level = keyof typeof levels;
let threshold: Level = (process.env.LOG_LEVEL as Level) in levels ? (process.env.LOG_LEVEL as Level) : 'info';

export function setLogLevel(level: Level): void {
  threshold = level;
}

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (levels[level] < levels[threshold]) return;
  const line = JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields });
  (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(line + '\n');
}

/** Start-up failures: one clear line, exit code 1. */
export function fatal(err: unknown): never {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
