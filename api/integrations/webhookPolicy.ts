/**
 * Webhook retry policy as data. Pure (no Node built-ins): the delivery workflow imports it.
 * `retryDelays[i]` is the wait after failed attempt i+1; when they are used up the delivery has
 * failed. The default keeps retrying for 31 h 42 m 30 s after the first attempt (11 attempts), so a
 * receiver that is down for a day loses nothing.
 */
export const DEFAULT_RETRY_DELAYS = ['30s', '2m', '10m', '30m', '1h', '2h', '4h', '8h', '8h', '8h'];

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 500ms, 30s, 2m, 8h)`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** `WEBHOOK_RETRY_SCHEDULE=1s,2s,4s` overrides the default (tests use short real-time delays). */
export function retryDelaysMs(env: Record<string, string | undefined>): number[] {
  const raw = env.WEBHOOK_RETRY_SCHEDULE?.trim();
  const list = raw ? raw.split(',') : DEFAULT_RETRY_DELAYS;
  const delays = list.map(parseDuration);
  if (!delays.length) throw new Error('WEBHOOK_RETRY_SCHEDULE must list at least one delay');
  return delays;
}

/** Event-type filters: exact (`case.stage_changed`), a prefix (`referral.*`) or everything (`*`). */
export function eventTypeMatches(filters: readonly string[], type: string): boolean {
  return filters.some(
    (f) => f === '*' || f === type || (f.endsWith('.*') && type.startsWith(f.slice(0, -1))),
  );
}
