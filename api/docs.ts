import { Router } from 'express';
import { z } from 'zod';
import { openApiDocument, registerPath } from './openapi';

/**
 * `/v1/openapi.json` and a browsable page rendered on the server from the same document: plain
 * HTML, no script, so it works on a closed network.
 */
registerPath({
  method: 'get',
  path: '/v1/openapi.json',
  summary: 'This OpenAPI 3.1 document',
  tags: ['docs'],
  public: true,
  responses: { 200: { description: 'The document' } },
});
registerPath({
  method: 'get',
  path: '/v1/docs',
  summary: 'Browsable API documentation (HTML)',
  tags: ['docs'],
  public: true,
  responses: { 200: { description: 'An HTML page' } },
});

// Health endpoints live in routes/health.ts; documented here with the other public routes.
registerPath({
  method: 'get',
  path: '/healthz',
  summary: 'Liveness: the process answers',
  tags: ['health'],
  public: true,
  responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok') }) } },
});
registerPath({
  method: 'get',
  path: '/readyz',
  summary: 'Readiness: Temporal and the database answer (503 naming the one that does not)',
  tags: ['health'],
  public: true,
  responses: {
    200: {
      description: 'Ready',
      schema: z.object({
        status: z.enum(['ready', 'not_ready']),
        temporal: z.string(),
        database: z.string(),
      }),
    },
    503: { description: 'Not ready' },
  },
});

const esc = (s: unknown) =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
const pre = (v: unknown) => `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;

type Op = {
  summary: string;
  description?: string;
  tags: string[];
  security?: unknown[];
  parameters: Array<{ name: string; in: string; required: boolean; description?: string; schema: unknown }>;
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
};

export function renderDocs(doc: Record<string, unknown>): string {
  const paths = doc.paths as Record<string, Record<string, Op>>;
  const ops = Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op })),
  );
  const anchor = (m: string, p: string) => `${m}-${p.replace(/[^\w]+/g, '-')}`;
  const toc = ops
    .map(
      ({ path, method, op }) =>
        `<li><a href="#${anchor(method, path)}"><code>${method.toUpperCase()} ${esc(path)}</code></a> ${esc(op.summary)}</li>`,
    )
    .join('\n');
  const body = ops
    .map(({ path, method, op }) => {
      const params = op.parameters.length
        ? `<table><tr><th>name</th><th>in</th><th>required</th><th>schema</th></tr>${op.parameters
            .map(
              (p) =>
                `<tr><td><code>${esc(p.name)}</code></td><td>${p.in}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${esc(JSON.stringify(p.schema))}</code>${p.description ? `<br>${esc(p.description)}` : ''}</td></tr>`,
            )
            .join('')}</table>`
        : '';
      const req = op.requestBody
        ? `<details><summary>Request body</summary>${pre(op.requestBody.content['application/json']?.schema)}</details>`
        : '';
      const res = Object.entries(op.responses)
        .map(([status, r]) => {
          const schema = r.content && Object.values(r.content)[0]?.schema;
          return `<li><b>${status}</b> ${esc(r.description)}${schema ? `<details><summary>schema</summary>${pre(schema)}</details>` : ''}</li>`;
        })
        .join('');
      return `<section id="${anchor(method, path)}"><h2><code>${method.toUpperCase()} ${esc(path)}</code></h2><p>${esc(op.summary)}${op.security?.length === 0 ? ' <i>(no authentication)</i>' : ''}</p>${op.description ? `<p>${esc(op.description)}</p>` : ''}${params}${req}<ul>${res}</ul></section>`;
    })
    .join('\n');
  const info = doc.info as { title: string; version: string; description: string };
  const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(info.title)}</title>
<style>body{font:14px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em}pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:30em}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}section{border-top:1px solid #ccc;margin-top:1.5em}</style>
</head><body><h1>${esc(info.title)} <small>v${esc(info.version)}</small></h1><p>${esc(info.description)}</p>
<p>Machine-readable: <a href="/v1/openapi.json">/v1/openapi.json</a> (OpenAPI 3.1). Authenticate with <code>Authorization: Bearer &lt;jwt&gt;</code> (staff) or <code>Authorization: ApiKey &lt;key&gt;</code> (integrators).</p>
<h2>Operations</h2><ul>${toc}</ul>${body}
<section><h2>Schemas</h2>${Object.entries(schemas)
    .map(([n, s]) => `<h3 id="schema-${esc(n)}">${esc(n)}</h3>${pre(s)}`)
    .join('')}</section>
</body></html>`;
}

export function docsRoutes(): Router {
  const r = Router();
  r.get('/v1/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  r.get('/v1/docs', (_req, res) => {
    res.type('html').send(renderDocs(openApiDocument()));
  });
  return r;
}
