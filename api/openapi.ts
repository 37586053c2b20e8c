import { z } from 'zod';

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with. Each
 * router module registers its paths at load time (`registerPath`); named schemas become components
 * (`registerSchema`) and are referenced wherever a path uses that very schema object.
 */
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteDoc {
  method: Method;
  /** Express-style path, e.g. `/v1/tasks/:id`. */
  path: string;
  summary: string;
  description?: string;
  tags?: string[];
  /** Path parameters (default: a string per `:name` in the path). */
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The route honours `Idempotency-Key`. */
  idempotent?: boolean;
  /** No authentication (health, the document itself). */
  public?: boolean;
  /** Success responses with their body schema; error statuses (problem+json) listed in `problems`. */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  problems?: number[];
}

export const FieldIssueSchema = z.object({
  path: z.string().meta({ description: 'dot-separated path of the offending field (zod issue path)' }),
  message: z.string(),
  code: z.string().meta({ description: 'the zod rule that failed, e.g. too_small, invalid_format' }),
});

/** RFC 9457 problem details: the one error shape of the API. */
export const ProblemSchema = z
  .object({
    type: z.string().meta({ description: 'URI reference naming the problem, e.g. /problems/task_not_open' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    requestId: z.string(),
    errors: z.array(FieldIssueSchema).optional(),
  })
  .catchall(z.unknown());

const routes = new Map<string, RouteDoc>();
const components = new Map<z.ZodType, string>();

export function registerPath(doc: RouteDoc): void {
  routes.set(`${doc.method} ${doc.path}`, doc);
}

export function registerSchema<T extends z.ZodType>(name: string, schema: T): T {
  components.set(schema, name);
  return schema;
}
registerSchema('Problem', ProblemSchema);

export function registeredRoutes(): RouteDoc[] {
  return [...routes.values()];
}

const problemTitles: Record<number, string> = {
  400: 'The request does not match its schema (see `errors` for field paths and rules)',
  401: 'Missing, invalid or expired credentials',
  403: 'Authenticated, but the role or scope does not allow this',
  404: 'No such object within your agency and region',
  409: 'The object is not in a state that allows this (the body carries its current state)',
  422: 'Understood but refused (e.g. an Idempotency-Key reused with another body, a business rule)',
  429: 'Rate limit exceeded; see Retry-After',
  500: 'Unexpected error; quote the request ID',
  503: 'The audit trail cannot be written: nothing was released or changed; retry later',
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const name = components.get(schema);
  if (name) return { $ref: `#/components/schemas/${name}` };
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

function parameters(doc: RouteDoc) {
  const out: Array<Record<string, unknown>> = [];
  const pathNames = [...doc.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  for (const name of pathNames) {
    const field = doc.params?.shape[name] as z.ZodType | undefined;
    out.push({
      name,
      in: 'path',
      required: true,
      schema: field ? jsonSchema(field, 'input') : { type: 'string' },
    });
  }
  for (const [name, field] of Object.entries(doc.query?.shape ?? {})) {
    const f = field as z.ZodType;
    out.push({
      name,
      in: 'query',
      required: !f.safeParse(undefined).success,
      ...(f.description ? { description: f.description } : {}),
      schema: jsonSchema(f, 'input'),
    });
  }
  if (doc.idempotent)
    out.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'A repeat with the same key and body returns the first response; another body → 422; while the first runs → 409.',
      schema: { type: 'string', minLength: 1, maxLength: 255 },
    });
  return out;
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const doc of [...routes.values()].sort((a, b) => a.path.localeCompare(b.path))) {
    const oaPath = doc.path.replace(/:(\w+)/g, '{$1}');
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(doc.responses))
      responses[status] = {
        description: r.description,
        ...(r.schema ? { content: { 'application/json': { schema: jsonSchema(r.schema, 'output') } } } : {}),
      };
    const problems = new Set([...(doc.problems ?? []), ...(doc.public ? [] : [401, 429]), 500]);
    for (const status of [...problems].sort())
      responses[status] = {
        description: problemTitles[status] ?? 'Error',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    (paths[oaPath] ??= {})[doc.method] = {
      operationId: `${doc.method}${doc.path.replace(/\/:?(\w)([\w-]*)/g, (_m, a: string, b: string) => a.toUpperCase() + b.replace(/-(\w)/g, (_x, c: string) => c.toUpperCase()))}`,
      summary: doc.summary,
      ...(doc.description ? { description: doc.description } : {}),
      tags: doc.tags ?? [],
      ...(doc.public ? { security: [] } : {}),
      parameters: parameters(doc),
      ...(doc.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(doc.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  const schemas: Record<string, unknown> = {};
  for (const [schema, name] of components) {
    const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      io: 'input',
      unrepresentable: 'any',
    }) as Record<string, unknown>;
    schemas[name] = rest;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Hardship-relief platform: agency task API',
      version: '1.0.0',
      description:
        'Agency staff (union, civil affairs, HR, medical insurance, housing) see and complete their own tasks; integrators refer households. Errors are RFC 9457 problem+json; every response carries X-Request-Id.',
    },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }, { apiKey: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'Staff token; claims: sub, agency, roles, region (an OIDC provider can issue these).',
        },
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'Integrator key, sent as `Authorization: ApiKey <key>`.',
        },
      },
    },
  };
}
