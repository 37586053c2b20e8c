import type { RequestHandler } from 'express';
import { Problem } from '../errors';

export interface RateLimitOptions {
  /** Burst size: requests a principal may make at once. */
  capacity: number;
  /** Sustained rate. */
  refillPerSecond: number;
}

export const defaultRateLimit: RateLimitOptions = { capacity: 120, refillPerSecond: 20 };

/**
 * Per-principal token bucket (in process memory: with several API instances behind a balancer the
 * limit applies per instance). Runs after `authenticate`; a request already counted by an earlier
 * router on the same prefix is not counted twice.
 */
export function rateLimit(opts: RateLimitOptions = defaultRateLimit): RequestHandler {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const counted = new WeakSet<object>();
  return (req, res, next) => {
    const p = req.principal;
    if (!p || counted.has(req)) return next();
    counted.add(req);
    const key = `${p.kind}:${p.sub}`;
    const now = Date.now();
    const b = buckets.get(key) ?? { tokens: opts.capacity, at: now };
    b.tokens = Math.min(opts.capacity, b.tokens + ((now - b.at) / 1000) * opts.refillPerSecond);
    b.at = now;
    buckets.set(key, b);
    res.setHeader('RateLimit-Limit', String(opts.capacity));
    if (b.tokens < 1) {
      const wait = Math.ceil((1 - b.tokens) / opts.refillPerSecond);
      res.setHeader('Retry-After', String(wait));
      res.setHeader('RateLimit-Remaining', '0');
      return next(new Problem(429, 'rate_limited', `too many requests; retry after ${wait} s`));
    }
    b.tokens -= 1;
    res.setHeader('RateLimit-Remaining', String(Math.floor(b.tokens)));
    // Idle buckets are full again: drop them so the map does not grow without bound.
    if (buckets.size > 10_000)
      for (const [k, v] of buckets)
        if (((now - v.at) / 1000) * opts.refillPerSecond >= opts.capacity) buckets.delete(k);
    next();
  };
}
