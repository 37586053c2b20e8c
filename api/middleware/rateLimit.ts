import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Problem } from '../errors';

export interface RateLimitOptions {
  /** Burst size: requests a principal (or an address) may make at once. */
  capacity: number;
  /** Sustained rate. */
  refillPerSecond: number;
}

export const defaultRateLimit: RateLimitOptions = { capacity: 120, refillPerSecond: 20 };
/** Requests that do not authenticate, per client address. */
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

/** 429 with Retry-After when the bucket is empty; true when refused. */
function refused(
  b: { tokens: number },
  opts: RateLimitOptions,
  res: Response,
  next: NextFunction,
  what: string,
): boolean {
  res.setHeader('RateLimit-Limit', String(opts.capacity));
  if (b.tokens >= 1) return false;
  const wait = Math.ceil((1 - b.tokens) / opts.refillPerSecond);
  res.setHeader('Retry-After', String(wait));
  res.setHeader('RateLimit-Remaining', '0');
  next(new Problem(429, 'rate_limited', `too many ${what}; retry after ${wait} s`));
  return true;
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
    if (refused(b, opts, res, next, 'requests')) return;
    b.tokens -= 1;
    res.setHeader('RateLimit-Remaining', String(Math.floor(b.tokens)));
    next();
  };
}

/**
 * Requests that do not authenticate (no credentials, or bad ones), per client address (`req.ip`;
 * behind a reverse proxy, set Express's `trust proxy` so it is the client's). Each such request
 * costs its address a token when it ends; an address without tokens is answered 429 before its
 * credentials are even checked, so floods without credentials and key guessing are bounded while
 * authenticated requests, limited per principal, cost the address nothing. Runs before
 * `authenticate`.
 */
export function anonymousRateLimit(opts: RateLimitOptions = defaultAnonymousRateLimit): RequestHandler {
  const buckets = tokenBuckets(opts);
  const seen = new WeakSet<object>();
  return (req: Request, res, next) => {
    if (req.principal || seen.has(req)) return next();
    seen.add(req);
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    if (refused(buckets.get(address), opts, res, next, 'unauthenticated requests from your address')) return;
    res.on('finish', () => {
      if (!req.principal) buckets.get(address).tokens -= 1;
    });
    next();
  };
}
