import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createApp, type AppDeps } from '../../api/app';
import { createApiKey, signToken } from '../../api/auth';
import { verifyAuditChains } from '../../api/audit';
import { listen } from '../../api/server';
import { createDb } from '../../db/client';
import { startStack, type Stack } from '../support/stack';
import { REGION, claimsOf, referCase, referralBody } from './api-helpers';

/** Authentication, API keys, OpenAPI and docs, error shape, request IDs, rate limits, audit chain. */
let stack: Stack;
const as = (sub: string) => stack.token(claimsOf(sub));
/** Another API on the same stack, with its own rate limits. */
const withRateLimit = (rateLimit: AppDeps['rateLimit']) =>
  listen(createApp({ config: stack.config, db: stack.db, client: stack.client, rateLimit }), 0, '127.0.0.1');

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('authentication', () => {
  test.each([
    ['no header', {}, 'unauthenticated'],
    ['unknown scheme', { authorization: 'Basic dTpw' }, 'unauthenticated'],
    ['not a JWT', { authorization: 'Bearer abc' }, 'invalid_token'],
    ['unknown API key', { authorization: 'ApiKey hrp_nope' }, 'invalid_api_key'],
  ])('%s → 401 problem', async (_label, headers, code) => {
    const res = await stack.http('GET', '/v1/tasks', { headers });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ type: `/problems/${code}`, status: 401, requestId: expect.any(String) });
  });

  test('a token signed with another secret, or expired, is refused', async () => {
    const forged = signToken(claimsOf('union-staff'), 'another-secret-of-16-chars');
    expect((await stack.http('GET', '/v1/tasks', { token: forged })).body.type).toBe(
      '/problems/invalid_token',
    );
    const expired = signToken(claimsOf('union-staff'), stack.config.JWT_SECRET, 60, Date.now() - 3600_000);
    expect((await stack.http('GET', '/v1/tasks', { token: expired })).body.type).toBe(
      '/problems/token_expired',
    );
  });
});

describe('API keys', () => {
  test('a supervisor creates a key for its own agency (shown once), the integrator uses it, revocation is immediate', async () => {
    const created = await stack.http('POST', '/v1/api-keys', {
      token: as('civil-affairs-supervisor'),
      body: { name: 'Daoli civil-affairs system', region: REGION },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      agency: 'civil_affairs',
      region: REGION,
      roles: ['staff'],
      createdBy: 'civil-affairs-supervisor',
    });
    const { id, key } = created.body as { id: string; key: string };
    expect(key).toMatch(/^hrp_/);
    const row = await stack.db.apiKey.findUniqueOrThrow({ where: { id } });
    expect(JSON.stringify(row)).not.toContain(key);

    const listed = await stack.http('GET', '/v1/api-keys', { token: as('civil-affairs-supervisor') });
    expect(listed.body.items.map((k: any) => k.id)).toContain(id);
    expect(JSON.stringify(listed.body)).not.toContain(key);
    expect(JSON.stringify(listed.body)).not.toContain(row.hash);
    // Another agency's supervisor neither sees nor revokes it; the joint office's coordinator does see it.
    const union = await stack.http('GET', '/v1/api-keys', { token: as('union-supervisor') });
    expect(union.body.items.map((k: any) => k.id)).not.toContain(id);
    expect((await stack.http('DELETE', `/v1/api-keys/${id}`, { token: as('hr-supervisor') })).status).toBe(
      404,
    );
    const coordinator = await stack.http('GET', '/v1/api-keys', { token: as('city-coordinator') });
    expect(coordinator.body.items.map((k: any) => k.id)).toContain(id);

    const inbox = await stack.http('GET', '/v1/tasks', { headers: { authorization: `ApiKey ${key}` } });
    expect(inbox.status).toBe(200);
    const revoked = await stack.http('DELETE', `/v1/api-keys/${id}`, {
      token: as('civil-affairs-supervisor'),
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    const after = await stack.http('GET', '/v1/tasks', { headers: { authorization: `ApiKey ${key}` } });
    expect(after.status).toBe(401);
    const audits = await stack.db.auditEntry.findMany({ where: { chain: '_system', target: id } });
    expect(audits.map((a) => a.action).sort()).toEqual(['api_key.create', 'api_key.revoke']);
  });

  test.each([
    ['a union supervisor', 'union-supervisor', 'civil_affairs'],
    ['a union supervisor', 'union-supervisor', 'hr'],
    ['a coordinator', 'city-coordinator', 'civil_affairs'],
    ['a civil-affairs supervisor', 'civil-affairs-supervisor', 'union'],
  ])(
    '%s cannot mint a key of another agency (%s): 403 naming body.agency, no key made',
    async (_l, who, agency) => {
      const before = await stack.db.apiKey.count();
      const res = await stack.http('POST', '/v1/api-keys', {
        token: as(who),
        body: { name: 'x', agency, region: REGION, roles: ['staff'] },
      });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({
        type: '/problems/agency_out_of_scope',
        errors: [expect.objectContaining({ path: 'body.agency', code: 'agency_out_of_scope' })],
      });
      expect(await stack.db.apiKey.count()).toBe(before);
    },
  );

  test('an integrator refers a household with its key; the referral is audited to the key', async () => {
    const { key, id } = await createApiKey(stack.db, {
      name: 'enterprise union system',
      agency: 'union',
      region: REGION,
      roles: ['staff'],
    });
    const res = await stack.http('POST', '/v1/referrals', {
      headers: { authorization: `ApiKey ${key}` },
      body: referralBody(),
    });
    expect(res.status).toBe(201);
    const entry = await stack.db.auditEntry.findFirstOrThrow({ where: { caseId: res.body.caseId } });
    expect(entry).toMatchObject({
      actor: `apikey:${id}`,
      actorKind: 'integrator',
      action: 'referral.add',
    });
    // Integrators never manage keys.
    expect(
      (await stack.http('GET', '/v1/api-keys', { headers: { authorization: `ApiKey ${key}` } })).status,
    ).toBe(403);
  });

  test.each([
    ['plain staff', 403, 'union-staff', { name: 'x', agency: 'union', region: REGION }],
    ['an HR staff member', 403, 'hr-staff', { name: 'x', agency: 'hr', region: REGION }],
    ['a region outside yours', 403, 'union-supervisor', { name: 'x', region: 'hl/qiqihar' }],
    [
      'a role you do not hold',
      403,
      'union-supervisor',
      { name: 'x', agency: 'union', region: REGION, roles: ['chair'] },
    ],
    ['an unknown agency', 400, 'union-supervisor', { name: 'x', agency: 'police', region: REGION }],
    ['an empty name', 400, 'union-supervisor', { name: ' ', agency: 'union', region: REGION }],
    ['a bad region', 400, 'union-supervisor', { name: 'x', agency: 'union', region: 'Harbin!' }],
    [
      'an unknown role',
      400,
      'union-supervisor',
      { name: 'x', agency: 'union', region: REGION, roles: ['king'] },
    ],
    ['an unknown field', 400, 'union-supervisor', { name: 'x', region: REGION, secret: 'x' }],
  ])('creating a key with %s → %i', async (_label, status, who, body) => {
    const res = await stack.http('POST', '/v1/api-keys', { token: as(who), body });
    expect(res.status).toBe(status);
    if (status === 400) expect(res.body.errors[0].path).toMatch(/^body/);
  });

  test('a coordinator lists keys of its subtree only; revoking a key elsewhere is 404', async () => {
    const far = await createApiKey(stack.db, {
      name: 'far away',
      agency: 'union',
      region: 'hl/qiqihar',
      roles: ['staff'],
    });
    const list = await stack.http('GET', '/v1/api-keys', { token: as('city-coordinator') });
    expect(list.status).toBe(200);
    expect(list.body.items.map((k: any) => k.id)).not.toContain(far.id);
    expect(
      (await stack.http('DELETE', `/v1/api-keys/${far.id}`, { token: as('city-coordinator') })).status,
    ).toBe(404);
  });
});

describe('OpenAPI and docs', () => {
  test('/v1/openapi.json is OpenAPI 3.1 generated from the zod schemas, covering every route', async () => {
    const res = await stack.http('GET', '/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([p, m]) =>
      Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`),
    );
    expect(ops).toEqual(
      expect.arrayContaining([
        'POST /v1/referrals',
        'GET /v1/tasks',
        'GET /v1/tasks/{id}',
        'POST /v1/tasks/{id}/complete',
        'POST /v1/tasks/{id}/claim',
        'POST /v1/tasks/{id}/release',
        'POST /v1/tasks/{id}/return',
        'POST /v1/tasks/{id}/correction-received',
        'POST /v1/tasks/{id}/comment',
        'POST /v1/tasks/{id}/reassign',
        'GET /v1/cases/{id}',
        'POST /v1/cases/{id}/actions',
        'POST /v1/api-keys',
        'GET /v1/api-keys',
        'DELETE /v1/api-keys/{id}',
        'GET /v1/openapi.json',
        'GET /v1/docs',
      ]),
    );
    // The completion form is the discriminated union of one schema per task type.
    const completion = doc.components.schemas.TaskCompletion;
    expect(completion.oneOf.map((s: any) => s.properties.type.const)).toContain('chairSignOff');
    expect(doc.paths['/v1/tasks/{id}/complete'].post.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/TaskCompletion',
    });
    const inbox = doc.paths['/v1/tasks'].get;
    expect(inbox.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining([
        'status',
        'type',
        'dueBefore',
        'overdue',
        'assignee',
        'region',
        'caseId',
        'limit',
        'cursor',
      ]),
    );
    expect(doc.paths['/v1/tasks/{id}/complete'].post.parameters.map((p: any) => p.name)).toContain(
      'Idempotency-Key',
    );
    // Every $ref resolves.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map(
      (m) => m[1]!,
    );
    for (const r of refs) expect(doc.components.schemas[r]).toBeDefined();
  });

  test('/v1/docs renders the document as plain HTML (no scripts)', async () => {
    const res = await stack.http('GET', '/v1/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.body).toContain('POST /v1/tasks/{id}/complete');
    expect(res.body).not.toMatch(/<script/i);
  });
});

describe('errors and request IDs', () => {
  test('every response carries a request ID; a caller-supplied one is echoed into the problem', async () => {
    for (const [method, p] of [
      ['GET', '/healthz'],
      ['GET', '/v1/tasks'],
      ['GET', '/nope'],
    ] as const) {
      const res = await stack.http(method, p, { token: as('union-staff') });
      expect(res.headers.get('x-request-id')).toMatch(/^[\w.-]+$/);
    }
    const res = await stack.http('GET', '/v1/cases/nope', {
      token: as('union-staff'),
      headers: { 'x-request-id': 'trace-123' },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    expect(res.body).toEqual({
      type: '/problems/case_not_found',
      title: 'Not Found',
      status: 404,
      detail: expect.any(String),
      instance: '/v1/cases/nope',
      requestId: 'trace-123',
    });
  });

  test.each([
    ['a malformed URL encoding', 'GET', '/v1/tasks/%E0%A4%A', {}, undefined, 400, 'invalid_url_encoding'],
    ['malformed JSON', 'POST', '/v1/referrals', {}, '{"household":', 400, 'invalid_json'],
    [
      'an unsupported charset',
      'POST',
      '/v1/referrals',
      { 'content-type': 'application/json; charset=iso-8859-1' },
      '{}',
      415,
      'unsupported_charset',
    ],
    [
      'an unknown content encoding',
      'POST',
      '/v1/referrals',
      { 'content-encoding': 'x-squeeze' },
      '{}',
      415,
      'unsupported_content_encoding',
    ],
    [
      'a body over 1 MB',
      'POST',
      '/v1/referrals',
      {},
      `{"note":"${'x'.repeat(1_100_000)}"}`,
      413,
      'body_too_large',
    ],
  ])('%s → a 4xx problem, not a 500 (%s %s)', async (_label, method, path, headers, body, status, code) => {
    const res = await stack.http(method, path, {
      token: as('union-staff'),
      body,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: `/problems/${code}`,
      status,
      detail: expect.any(String),
      requestId: res.headers.get('x-request-id'),
    });
    expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.(ts|js):\d+|node_modules/);
  });

  test('an internal failure is a 500 problem with the request ID and no stack trace', async () => {
    const badDb = createDb('postgresql://postgres@127.0.0.1:1/none', 1);
    const server = await listen(
      createApp({ config: stack.config, db: badDb, client: stack.client }),
      0,
      '127.0.0.1',
    );
    const write = process.stderr.write;
    process.stderr.write = (() => true) as never; // the error log line is expected here
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/tasks`, {
        headers: { authorization: `Bearer ${as('union-staff')}` },
      });
      const text = await res.text();
      expect(res.status).toBe(500);
      expect(JSON.parse(text)).toMatchObject({
        type: '/problems/internal',
        requestId: res.headers.get('x-request-id'),
      });
      expect(text).not.toMatch(/\bat .*\.(ts|js):\d+|node_modules|ECONNREFUSED/);
    } finally {
      process.stderr.write = write;
      await server.close();
      await badDb.$disconnect();
    }
  });

  test('rate limits are per principal: 429 with Retry-After for one, others unaffected', async () => {
    const server = await withRateLimit({ capacity: 3, refillPerSecond: 0.01 });
    const get = (who: string) =>
      fetch(`http://127.0.0.1:${server.port}/v1/tasks`, { headers: { authorization: `Bearer ${as(who)}` } });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await get('hr-staff')).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limited = await get('hr-staff');
      expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await limited.json()) as any).type).toBe('/problems/rate_limited');
      expect((await get('housing-staff')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

test('failed authentications are limited per client address, charged at once; valid credentials are never limited by it', async () => {
  const server = await withRateLimit({
    capacity: 100,
    refillPerSecond: 100,
    anonymous: { capacity: 3, refillPerSecond: 0.01 },
  });
  const get = (headers: Record<string, string> = {}, path = '/v1/tasks') =>
    fetch(`http://127.0.0.1:${server.port}${path}`, { headers });
  const staff = { authorization: `Bearer ${as('hr-staff')}` };
  try {
    // Parallel failures each pay when they arrive: three 401s, then 429 instead of 401.
    const failed = await Promise.all(
      [{}, { authorization: 'ApiKey hrp_guess-1' }, { authorization: 'Bearer forged' }, {}, {}].map((h) =>
        get(h as Record<string, string>),
      ),
    );
    expect(failed.map((r) => r.status).sort()).toEqual([401, 401, 401, 429, 429]);
    const limited = await get({ authorization: 'ApiKey hrp_guess-2' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await limited.json()) as any).type).toBe('/problems/rate_limited');
    // Staff behind the same address keep working while it is out of allowance; health checks too.
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(staff)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect((await get({}, '/healthz')).status).toBe(200);
  } finally {
    await server.close();
  }
});

describe('audit trail', () => {
  const verifyScript = (...chains: string[]) =>
    promisify(execFile)(
      process.execPath,
      [require.resolve('tsx/cli'), path.resolve(__dirname, '../../scripts/verify-audit.ts'), ...chains],
      {
        env: { ...process.env, DATABASE_URL: stack.databaseUrl },
      },
    ).then(
      (r) => ({ code: 0, out: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );

  test('writes are hash-chained per case; editing or deleting an entry is detected by the verification command', async () => {
    const { caseId, task } = await referCase(stack);
    const token = as('union-staff');
    await stack.http('POST', `/v1/tasks/${task.id}/claim`, { token });
    await stack.http('POST', `/v1/tasks/${task.id}/comment`, { token, body: { text: 'first visit booked' } });
    await stack.http('GET', `/v1/tasks/${task.id}`, { token });
    await stack.http('POST', `/v1/tasks/${task.id}/release`, { token });
    const entries = await stack.db.auditEntry.findMany({ where: { chain: caseId }, orderBy: { seq: 'asc' } });
    // A change is recorded as an attempt before its Update and the outcome after it.
    expect(
      entries.map((e) => [e.action, (e.data as { phase?: string }).phase].filter(Boolean).join(':')),
    ).toEqual([
      'referral.add',
      'task.claim:attempt',
      'task.claim:applied',
      'task.comment:attempt',
      'task.comment:applied',
      'task.read_sensitive',
      'task.release:attempt',
      'task.release:applied',
    ]);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(entries[2]!.data).toEqual({ phase: 'applied', attemptSeq: 2 });
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prevHash).toBe(entries[i - 1]!.hash);
    expect((await verifyAuditChains(stack.db, [caseId])).problems).toEqual([]);
    const ok = await verifyScript(caseId);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('audit trail intact: 1 chains, 8 entries');

    // Edit one entry's content.
    await stack.db.$executeRawUnsafe(
      `UPDATE "AuditEntry" SET "actor" = 'someone-else' WHERE "chain" = $1 AND "seq" = 2`,
      caseId,
    );
    const edited = await verifyScript(caseId);
    expect(edited.code).toBe(1);
    expect(edited.out).toMatch(new RegExp(`TAMPERED chain=${caseId} seq=2: content does not match`));
    await stack.db.$executeRawUnsafe(
      `UPDATE "AuditEntry" SET "actor" = 'union-staff' WHERE "chain" = $1 AND "seq" = 2`,
      caseId,
    );
    expect((await verifyAuditChains(stack.db, [caseId])).problems).toEqual([]);

    // Delete one in the middle, and the last one.
    await stack.db.$executeRawUnsafe(`DELETE FROM "AuditEntry" WHERE "chain" = $1 AND "seq" = 3`, caseId);
    const gap = await verifyAuditChains(stack.db, [caseId]);
    expect(gap.problems.map((p) => p.seq)).toEqual(expect.arrayContaining([3, 4]));
    await stack.db.$executeRawUnsafe(`DELETE FROM "AuditEntry" WHERE "chain" = $1 AND "seq" >= 3`, caseId);
    const tail = await verifyAuditChains(stack.db, [caseId]);
    expect(tail.problems).toEqual([
      expect.objectContaining({ problem: expect.stringContaining('entries removed from the end') }),
    ]);
  });

  test('concurrent appends to one case chain stay a single unbroken chain', async () => {
    const { caseId, task } = await referCase(stack);
    const token = as('union-staff');
    await Promise.all(Array.from({ length: 8 }, () => stack.http('GET', `/v1/tasks/${task.id}`, { token })));
    const result = await verifyAuditChains(stack.db, [caseId]);
    expect(result).toEqual({ chains: 1, entries: 9, problems: [] });
  });
});
