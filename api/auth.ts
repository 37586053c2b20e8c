import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Db } from '../db/client';
import type { Config } from '../config';
import { z } from 'zod';
import { AgencyCodeSchema, RegionCodeSchema, RoleSchema, type Actor } from '../domain/agencies';
import { Problem } from './errors';
import { sha256 } from './hash';
import type { FailedAuthLimit } from './middleware/rateLimit';

/**
 * Staff bearer tokens: JWT (HS256) whose claims carry agency, roles and region node. An OIDC
 * provider (e.g. Keycloak, or a provincial government SSO) plugs in at `verifyToken`: verify its
 * RS256/ES256 token against the provider's JWKS (`crypto.createPublicKey({ key: jwk, format: 'jwk' })`,
 * keys cached by `kid`), check `iss`, `aud` and `exp`, then map its claims (custom claims or group
 * membership) onto `ClaimsSchema`. Nothing downstream changes: routes see only `req.principal`.
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

export function signToken(
  claims: Omit<Claims, 'exp'>,
  secret: string,
  ttlSeconds = 12 * 3600,
  nowMs = Date.now(),
): string {
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
  if (!claims.success)
    throw new Problem(401, 'invalid_token', 'the bearer token lacks agency, roles or region claims');
  if (claims.data.exp * 1000 <= nowMs)
    throw new Problem(401, 'token_expired', 'the bearer token has expired');
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

/** Integrator API keys: `hrp_` + 32 random bytes; only the SHA-256 is stored. */
export const hashApiKey = sha256;

export async function createApiKey(
  db: Pick<Db, 'apiKey'>,
  spec: { name: string; agency: string; region: string; roles: Claims['roles']; createdBy?: string },
): Promise<{ id: string; key: string }> {
  const id = `key_${crypto.randomBytes(6).toString('hex')}`;
  const key = `hrp_${crypto.randomBytes(32).toString('base64url')}`;
  await db.apiKey.create({
    data: {
      id,
      name: spec.name,
      agency: spec.agency,
      region: spec.region,
      roles: spec.roles,
      hash: hashApiKey(key),
      createdBy: spec.createdBy ?? 'system',
    },
  });
  return { id, key };
}

async function principalFromApiKey(db: Db, key: string): Promise<Principal> {
  const row = await db.apiKey.findUnique({ where: { hash: hashApiKey(key) } });
  if (!row || row.revokedAt) throw new Problem(401, 'invalid_api_key', 'the API key is unknown or revoked');
  const roles = z.array(RoleSchema).catch([]).parse(row.roles);
  return {
    kind: 'integrator',
    sub: `apikey:${row.id}`,
    agency: row.agency,
    roles,
    region: row.region,
    name: row.name,
  };
}

/**
 * Who is calling: `Authorization: Bearer <jwt>` (staff) or `Authorization: ApiKey <key>` (an
 * integrator system). Sets `req.principal`. Routers mounted on the same prefix each run it, so a
 * principal already established on this request is kept (one verification, one key lookup). A
 * failure is charged to the client address by `failures` (429 once the address has no allowance).
 */
export function authenticate(deps: { config: Config; db: Db }, failures?: FailedAuthLimit): RequestHandler {
  return async (req, res, next) => {
    if (req.principal) return next();
    const h = req.headers.authorization ?? '';
    const [scheme, credential] = [
      h.slice(0, h.indexOf(' ')).toLowerCase(),
      h.slice(h.indexOf(' ') + 1).trim(),
    ];
    try {
      if (scheme === 'bearer' && credential) {
        const c = verifyToken(credential, deps.config.JWT_SECRET);
        req.principal = {
          kind: 'staff',
          sub: c.sub,
          agency: c.agency,
          roles: c.roles,
          region: c.region,
          name: c.name,
        };
      } else if (scheme === 'apikey' && credential) {
        req.principal = await principalFromApiKey(deps.db, credential);
      } else {
        throw new Problem(
          401,
          'unauthenticated',
          'send Authorization: Bearer <token> or Authorization: ApiKey <key>',
        );
      }
      next();
    } catch (err) {
      const failed = err instanceof Problem && err.status === 401;
      next((failed && failures?.(req, res)) || err);
    }
  };
}

/** Role check for an action: 403 names the role needed, nothing else. */
export function requireRole(...anyOf: Claims['roles']): RequestHandler {
  return (req, _res, next) => {
    const p = req.principal;
    if (!p || !anyOf.some((r) => p.roles.includes(r)))
      return next(new Problem(403, 'forbidden', `this action needs one of the roles: ${anyOf.join(', ')}`));
    next();
  };
}
