import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { AgencyCodeSchema, RegionCodeSchema, RoleSchema, type Actor } from '../domain/agencies';
import { Problem } from './errors';

/**
 * Staff bearer tokens: JWT (HS256) whose claims carry agency, roles and region node. An OIDC
 * provider plugs in by verifying its RS256 tokens against its JWKS here and mapping the same claims.
 */
export const ClaimsSchema = z.object({
  sub: z.string().min(1),
  agency: AgencyCodeSchema,
  roles: z.array(RoleSchema),
  region: RegionCodeSchema,
  name: z.string().optional(),
  exp: z.number().int(),
});
export type Claims = z.infer<typeof ClaimsSchema>;

const b64 = (buf: Buffer | string) => Buffer.from(buf).toString('base64url');

export function signToken(claims: Omit<Claims, 'exp'>, secret: string, ttlSeconds = 12 * 3600, nowMs = Date.now()): string {
  const header = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify({ ...claims, exp: Math.floor(nowMs / 1000) + ttlSeconds }));
  const sig = b64(crypto.createHmac('sha256', secret).update(`${header}.${body}`).digest());
  return `${header}.${body}.${sig}`;
}

export function verifyToken(token: string, secret: string, nowMs = Date.now()): Claims {
  const [header, body, sig] = token.split('.');
  if (!header || !body || !sig) throw new Problem(401, 'invalid_token', 'the bearer token is not a JWT');
  const expected = b64(crypto.createHmac('sha256', secret).update(`${header}.${body}`).digest());
  if (sig.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expected)))
    throw new Problem(401, 'invalid_token', 'the bearer token signature does not verify');
  const alg = JSON.parse(Buffer.from(header, 'base64url').toString()).alg;
  if (alg !== 'HS256') throw new Problem(401, 'invalid_token', 'the bearer token must be HS256');
  const claims = ClaimsSchema.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString()));
  if (!claims.success) throw new Problem(401, 'invalid_token', 'the bearer token lacks agency, roles or region claims');
  if (claims.data.exp * 1000 <= nowMs) throw new Problem(401, 'token_expired', 'the bearer token has expired');
  return claims.data;
}

/** Who is calling: a staff member (JWT) or an integrator system (API key), scoped to agency and region. */
export interface Principal {
  kind: 'staff' | 'integrator';
  sub: string;
  agency: string;
  roles: Claims['roles'];
  region: string;
  name?: string;
}

export function actorOf(claims: Principal): Actor {
  return { id: claims.sub, agency: claims.agency, roles: claims.roles, region: claims.region };
}

export function requireStaff(secret: string): RequestHandler {
  return (req, _res, next) => {
    const h = req.headers.authorization;
    if (!h?.startsWith('Bearer ')) return next(new Problem(401, 'unauthenticated', 'send Authorization: Bearer <token>'));
    try {
      const c = verifyToken(h.slice(7), secret);
      req.principal = { kind: 'staff', sub: c.sub, agency: c.agency, roles: c.roles, region: c.region, name: c.name };
      next();
    } catch (err) {
      next(err);
    }
  };
}
