import type { Request, RequestHandler, Response } from 'express';
import { Problem } from '../errors';

export interface RateLimitOptions {
  /** Burst size: requests a principal (or an address) may make at once. */
  capacity: number;
  /** Sustained rate. */
  refillPerSecond: number;
}

export const defaultRateLimit: RateLimitOptions = { capacity: 120, refillPerSecond: 20 };
/** Requests that fail to authenticate, per client address. */
export const defaultAnonymousRateLimit: RateLimitOptions = { capacity: 30, refillPerSecond: 1 };

/**
 * Token buckets by key, in process memory (with several API instances behind a balancer a limit
 * applies per instance). Idle buckets are full again and are dropped, so the map stays bounded.
 */
function tokenBuckets(opts: RateLimitOptions) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    /** The key's bucket, refilled to now. */
    get(key: string, now = Date.now()) {
      const b = buckets.get(key) ?? { tokens: opts.capacity, at: now };
      b.tokens = Math.min(opts.capacity, b.tokens + ((now - b.at) / 1000) * opts.refillPerSecond);
      b.at = now;
      buckets.set(key, b);
      if (buckets.size > 10_000)
        for (const [k, v] of buckets)
          if (((now - v.at) / 1000) * opts.refillPerSecond >= opts.capacity) buckets.delete(k);
      return b;
    },
  };
}

/** 429 with Retry-After when the bucket is empty, else undefined; sets the limit headers. */
function refusal(
  b: { tokens: number },
  opts: RateLimitOptions,
  res: Response,
  what: string,
): Problem | undefined {
  res.setHeader('RateLimit-Limit', String(opts.capacity));
  if (b.tokens >= 1) return undefined;
  const wait = Math.ceil((1 - b.tokens) / opts.refillPerSecond);
  res.setHeader('Retry-After', String(wait));
  res.setHeader('RateLimit-Remaining', '0');
  return new Problem(429, 'rate_limited', `too many ${what}; retry after ${wait} s`);
}

/**
 * Per-principal token bucket. Runs after `authenticate`; a request already counted by an earlier
 * router on the same prefix is not counted twice.
 */
export function rateLimit(opts: RateLimitOptions = defaultRateLimit): RequestHandler {
  const buckets = tokenBuckets(opts);
  const counted = new WeakSet<object>();
  return (req, res, next) => {
    const p = req.principal;
    if (!p || counted.has(req)) return next();
    counted.add(req);
    const b = buckets.get(`${p.kind}:${p.sub}`);
    const refused = refusal(b, opts, res, 'requests');
    if (refused) return next(refused);
    b.tokens -= 1;
    res.setHeader('RateLimit-Remaining', String(Math.floor(b.tokens)));
    next();
  };
}

/** Charges a client address for a request that failed to authenticate (see `failedAuthLimit`). */
export type FailedAuthLimit = (req: Request, res: Response) => Problem | undefined;

/**
 * Requests that fail to authenticate (no credentials, or bad ones), per client address (`req.ip`;
 * behind a reverse proxy, set Express's `trust proxy` so it is the client's). `authenticate` calls
 * it only on its failure path, so a request with valid credentials never touches the address's
 * allowance (staff behind one NAT are not locked out by someone else's bad requests). The token is
 * taken at once, before answering, so parallel or aborted requests pay too; an address with no
 * allowance left gets 429 instead of 401.
 */
export function failedAuthLimit(opts: RateLimitOptions = defaultAnonymousRateLimit): FailedAuthLimit {
  const buckets = tokenBuckets(opts);
  return (req, res) => {
    const b = buckets.get(req.ip ?? req.socket.remoteAddress ?? 'unknown');
    const refused = refusal(b, opts, res, 'unauthenticated requests from your address');
    if (!refused) b.tokens -= 1;
    return refused;
  };
}
