import { Router } from 'express';
import { z } from 'zod';
import { AgencyCodeSchema, RegionCodeSchema, RoleSchema, regionWithin } from '../../domain/agencies';
import type { AppDeps } from '../app';
import { auditedDbChange } from '../audit';
import { createApiKey, type Principal } from '../auth';
import { Problem } from '../errors';
import { idempotent } from '../middleware/idempotency';
import { registerPath, registerSchema } from '../openapi';
import { IdParamsSchema, parse, principalOf } from './shared';

export const ApiKeyCreateSchema = registerSchema(
  'ApiKeyCreate',
  z.strictObject({
    name: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .describe('the integrating system, e.g. "Daoli civil-affairs case system"'),
    agency: AgencyCodeSchema.optional().describe(
      'your own agency (the default): a key never acts for another agency',
    ),
    region: RegionCodeSchema.describe('the key acts within this subtree of your own region'),
    roles: z.array(RoleSchema).min(1).max(5).default(['staff']),
  }),
);
const ApiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  agency: z.string(),
  region: z.string(),
  roles: z.array(z.string()),
  createdBy: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});
export const ApiKeyInfoSchema = registerSchema('ApiKey', ApiKeySchema);
export const ApiKeyCreatedSchema = registerSchema(
  'ApiKeyCreated',
  ApiKeySchema.extend({ key: z.string().describe('shown once: only its SHA-256 is stored') }),
);

registerPath({
  method: 'post',
  path: '/v1/api-keys',
  summary:
    'Create an integrator API key for your own agency (a supervisor or coordinator); the key is shown once',
  tags: ['api-keys'],
  body: ApiKeyCreateSchema,
  idempotent: true,
  responses: { 201: { description: 'The key, shown this once', schema: ApiKeyCreatedSchema } },
  problems: [400, 403, 422, 503],
});
registerPath({
  method: 'get',
  path: '/v1/api-keys',
  summary:
    "API keys within your region: your agency's, or every agency's for a coordinator (never the keys themselves)",
  tags: ['api-keys'],
  responses: { 200: { description: 'The keys', schema: z.object({ items: z.array(ApiKeyInfoSchema) }) } },
  problems: [403],
});
registerPath({
  method: 'delete',
  path: '/v1/api-keys/:id',
  summary: 'Revoke an API key (effective at once)',
  tags: ['api-keys'],
  params: IdParamsSchema,
  responses: { 200: { description: 'The revoked key', schema: ApiKeyInfoSchema } },
  problems: [403, 404, 503],
});

type Row = {
  id: string;
  name: string;
  agency: string;
  region: string;
  roles: string[];
  createdBy: string;
  createdAt: Date;
  revokedAt: Date | null;
};
const view = (k: Row) => ({
  id: k.id,
  name: k.name,
  agency: k.agency,
  region: k.region,
  roles: k.roles,
  createdBy: k.createdBy,
  createdAt: k.createdAt.toISOString(),
  revokedAt: k.revokedAt?.toISOString() ?? null,
});

/**
 * Integrator keys are managed by an agency's supervisors, for their own agency only: a key is never
 * more than its creator (own agency, region within theirs, roles they hold). Coordinators of the
 * union's joint office create keys for the union only too (no promise lets them act as another
 * agency), but oversee every agency's keys in their subtree: they list and revoke them.
 */
export function apiKeyRoutes({ db }: AppDeps): Router {
  const r = Router();
  const manager = (req: Parameters<typeof principalOf>[0]) => {
    const p = principalOf(req);
    const ok = p.kind === 'staff' && (p.roles.includes('coordinator') || p.roles.includes('supervisor'));
    if (!ok) throw new Problem(403, 'forbidden', 'managing API keys needs a supervisor or a coordinator');
    return p;
  };
  /** The keys a manager oversees: its region subtree; its own agency's unless a coordinator. */
  const overseen = (p: Principal, k: { agency: string; region: string }) =>
    regionWithin(k.region, p.region) && (p.roles.includes('coordinator') || k.agency === p.agency);

  r.post('/api-keys', idempotent(), async (req, res) => {
    const p = manager(req);
    const body = parse(ApiKeyCreateSchema, req.body, ['body']);
    const agency = body.agency ?? p.agency;
    if (agency !== p.agency)
      throw new Problem(
        403,
        'agency_out_of_scope',
        `a key acts for your own agency (${p.agency}), not ${agency}`,
        [
          {
            path: 'body.agency',
            message: `must be your own agency, ${p.agency}`,
            code: 'agency_out_of_scope',
          },
        ],
      );
    if (!regionWithin(body.region, p.region))
      throw new Problem(
        403,
        'region_out_of_scope',
        `region ${body.region} is outside your region ${p.region}`,
      );
    // A key never carries more authority than its creator: beyond `staff`, only roles they hold.
    const extra = body.roles.filter((role) => role !== 'staff' && !p.roles.includes(role));
    if (extra.length)
      throw new Problem(403, 'forbidden', `you cannot grant roles you do not hold: ${extra.join(', ')}`);
    // The key and its audit entry commit together, or neither does (503 if the trail is down).
    const { row, key } = await auditedDbChange(
      db,
      async (tx) => {
        const made = await createApiKey(tx, { ...body, agency, createdBy: p.sub });
        return { key: made.key, row: await tx.apiKey.findUniqueOrThrow({ where: { id: made.id } }) };
      },
      ({ row }) => ({
        principal: p,
        action: 'api_key.create',
        target: row.id,
        requestId: req.requestId,
        data: { name: body.name, agency, region: body.region, roles: body.roles },
      }),
    );
    res.status(201).json({ ...view(row), key });
  });

  r.get('/api-keys', async (req, res) => {
    const p = manager(req);
    const rows = await db.apiKey.findMany({
      where: {
        OR: [{ region: p.region }, { region: { startsWith: `${p.region}/` } }],
        ...(p.roles.includes('coordinator') ? {} : { agency: p.agency }),
      },
      orderBy: { createdAt: 'desc' },
      take: 500,
    });
    res.json({ items: rows.map(view) });
  });

  r.delete('/api-keys/:id', async (req, res) => {
    const p = manager(req);
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const row = await db.apiKey.findUnique({ where: { id } });
    if (!row || !overseen(p, row))
      throw new Problem(404, 'api_key_not_found', `no API key ${id} of yours in your region`);
    const revoked = row.revokedAt
      ? row
      : await auditedDbChange(
          db,
          (tx) => tx.apiKey.update({ where: { id }, data: { revokedAt: new Date() } }),
          () => ({ principal: p, action: 'api_key.revoke', target: id, requestId: req.requestId }),
        );
    res.json(view(revoked));
  });

  return r;
}
