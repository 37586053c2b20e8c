import { z } from 'zod';
import '../../api/app';
import { openApiDocument, registerPath, registeredRoutes } from '../../api/openapi';
import { renderDocs } from '../../api/docs';

test('every registered route has an operation with its path parameters, responses and problem shape', () => {
  const doc = openApiDocument() as any;
  const routes = registeredRoutes();
  expect(routes.length).toBeGreaterThanOrEqual(17);
  const ids = new Set<string>();
  for (const r of routes) {
    const op = doc.paths[r.path.replace(/:(\w+)/g, '{$1}')][r.method];
    expect(op).toBeDefined();
    ids.add(op.operationId);
    const pathParams = op.parameters.filter((p: any) => p.in === 'path').map((p: any) => p.name);
    expect(pathParams).toEqual([...r.path.matchAll(/:(\w+)/g)].map((m) => m[1]));
    expect(Object.keys(op.responses).some((s) => s.startsWith('2'))).toBe(true);
    if (!r.public)
      expect(op.responses['401'].content['application/problem+json'].schema).toEqual({
        $ref: '#/components/schemas/Problem',
      });
  }
  expect(ids.size).toBe(routes.length); // operation IDs are unique
});

test('other modules contribute paths; request schemas keep their input rules', () => {
  registerPath({
    method: 'get',
    path: '/v1/example/:id',
    summary: 'example',
    query: z.object({ limit: z.coerce.number().int().min(1).default(5) }),
    responses: { 200: { description: 'ok', schema: z.object({ ok: z.boolean() }) } },
  });
  const doc = openApiDocument() as any;
  const op = doc.paths['/v1/example/{id}'].get;
  expect(op.parameters).toEqual([
    { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
    {
      name: 'limit',
      in: 'query',
      required: false,
      schema: expect.objectContaining({ type: 'integer', minimum: 1, default: 5 }),
    },
  ]);
  expect(renderDocs(doc)).toContain('GET /v1/example/{id}');
});
