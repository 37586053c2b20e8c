import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../api/app';
import { createApiKey } from '../../api/auth';
import { listen } from '../../api/server';
import { recordHistories } from '../support/histories';
import { importWorkflowId } from '../../workflows/webhookDelivery';
import { eventually, startStack, type Stack } from '../support/stack';

/** Bulk referral import: row-by-row validation, one report, progress while it runs, no duplicates on re-upload. */
let stack: Stack;
let key = '';
const upload = (body: string, type: string, as = key) =>
  stack.http('POST', '/v1/imports', {
    body,
    headers: { authorization: `ApiKey ${as}`, 'content-type': type },
  });
const get = (path: string) => stack.http('GET', path, { headers: { authorization: `ApiKey ${key}` } });

/** A valid resident ID number (the checksum is not validated by the platform). */
const idNumber = (i: number) => `2301021980${String(i).padStart(7, '0')}X`;

beforeAll(async () => {
  // Two rows at a time, counters recounted every 200 ms: progress can be watched on a small file.
  stack = await startStack({}, { imports: { concurrency: 2, progressEveryMs: 200 } });
  key = (
    await createApiKey(stack.db, {
      name: 'enterprise unions',
      agency: 'union',
      region: 'hl/harbin',
      roles: [],
    })
  ).key;
});
afterAll(async () => {
  await stack?.stop();
});

test('a CSV file is validated row by row, its good rows started as cases with their references; the same rows again create nothing', async () => {
  const lines = ['idNumber,headName,regionCode,phone,source,referrer,externalRef'];
  for (let i = 1; i <= 40; i++)
    lines.push(
      `${idNumber(i)},"户主 ${i}",hl/harbin/daoli,1390000${String(i).padStart(4, '0')},enterprise_union,"Harbin Works, union",EXT-${i}`,
    );
  lines.push(`${idNumber(1)},户主 1,hl/harbin/daoli,,enterprise_union,second referrer,EXT-41`); // joins row 1's case
  lines.push(`${idNumber(2)},"户主 2",hl/harbin/daoli,,enterprise_union,"Harbin Works, union",EXT-2`); // row 2's referral again
  lines.push('12345,坏,hl/harbin/daoli,,,,'); // bad ID number
  lines.push(`${idNumber(43)},,hl/qiqihar,,,,`); // no name, outside the region
  lines.push(`${idNumber(44)},户主 44,hl/harbin/daoli,phone!,nonsense,,`); // bad phone, bad source
  const file = lines.join('\n') + '\n';

  const res = await upload(file, 'text/csv');
  expect(res.status).toBe(202);
  const jobId = res.body.id;
  expect(res.body).toMatchObject({ totalRows: 45, validRows: 42, invalidRows: 3 });
  expect(res.body.errors).toEqual([
    {
      row: 43,
      status: 'invalid',
      errors: [{ path: 'idNumber', message: 'must be an 18-character resident ID number' }],
    },
    {
      row: 44,
      status: 'invalid',
      errors: [
        { path: 'headName', message: expect.any(String) },
        { path: 'regionCode', message: 'is outside your region hl/harbin' },
      ],
    },
    {
      row: 45,
      status: 'invalid',
      errors: [
        { path: 'phone', message: 'must be digits, optionally with a leading +' },
        { path: 'source', message: expect.any(String) },
      ],
    },
  ]);

  const final = await eventually(async () => {
    const r = await get(`/v1/imports/${jobId}`);
    return r.body.status === 'completed' && r.body;
  }, 60_000);
  expect(final).toMatchObject({
    processedRows: 42,
    startedCases: 40,
    joinedCases: 1,
    duplicateRows: 1,
    failedRows: 0,
  });
  expect(await stack.db.householdCase.count()).toBe(40);
  // Each row's own reference reaches its case unchanged (the workflow keys duplicates on it).
  const referrals = await stack.db.caseEvent.findMany({ where: { type: 'case.referral_received' } });
  const refs = (await stack.db.householdCase.findMany()).flatMap((c) =>
    ((c.summary as any).referrals as any[]).map((r) => r.externalRef),
  );
  expect(refs.sort()).toEqual(Array.from({ length: 41 }, (_, i) => `EXT-${i + 1}`).sort());
  expect(referrals).toHaveLength(41);
  if (process.env.RECORD_HISTORIES === '1')
    await recordHistories(stack.client, 'import', [importWorkflowId(jobId)]);
  const rows = (await get(`/v1/imports/${jobId}/rows?status=joined`)).body.items;
  expect(rows).toEqual([
    { rowNo: 41, status: 'joined', caseId: expect.any(String), errors: null, error: null },
  ]);
  const first = (await get(`/v1/imports/${jobId}/rows?limit=1`)).body.items[0];
  expect(first.caseId).toBe(rows[0].caseId);
  // Row 2's referral sent again changed nothing: the row says so, and names row 2's case.
  const [second] = (await get(`/v1/imports/${jobId}/rows?after=1&limit=1`)).body.items;
  expect((await get(`/v1/imports/${jobId}/rows?status=duplicate`)).body.items).toEqual([
    { rowNo: 42, status: 'duplicate', caseId: second.caseId, errors: null, error: null },
  ]);
  // The household's details are not kept in the import once its case holds them.
  const kept = await stack.db.$queryRaw<Array<{ n: number }>>`
    SELECT count(*)::int AS n FROM "ImportRow" WHERE "jobId" = ${jobId} AND "input" IS NOT NULL AND "status" <> 'invalid'`;
  expect(kept[0]!.n).toBe(0);

  // The same rows again, also as saved by another editor (BOM, CRLF, trailing blanks): the same job.
  const resaved = '\uFEFF' + file.replace(/\n/g, ' \t\r\n') + '\r\n\r\n';
  for (const body of [file, resaved]) {
    const again = await upload(body, 'text/csv');
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: jobId, duplicate: true, startedCases: 40 });
  }
  await new Promise((r) => setTimeout(r, 1000));
  expect(await stack.db.householdCase.count()).toBe(40);
  expect(await stack.db.caseEvent.count({ where: { type: 'case.referral_received' } })).toBe(41);

  // Another uploader of the agency, in another region, gets a job of their own, not this one.
  const nangang = (
    await createApiKey(stack.db, {
      name: 'nangang unions',
      agency: 'union',
      region: 'hl/harbin/nangang',
      roles: [],
    })
  ).key;
  const theirs = await upload(file, 'text/csv', nangang);
  expect(theirs.status).toBe(202);
  expect(theirs.body.id).not.toBe(jobId);
  expect(theirs.body).toMatchObject({ region: 'hl/harbin/nangang', validRows: 0, invalidRows: 45 });
  expect(theirs.body.errors[0].errors).toEqual([
    { path: 'regionCode', message: 'is outside your region hl/harbin/nangang' },
  ]);
});

test('progress is counted while the import runs, not only at its end', async () => {
  const rows = Array.from({ length: 150 }, (_, i) => `${idNumber(1000 + i)},户主,hl/harbin/daoli`);
  const res = await upload(['idNumber,headName,regionCode', ...rows].join('\n'), 'text/csv');
  expect(res.status).toBe(202);
  const samples: Array<[string, number]> = [];
  await eventually(async () => {
    const r = await get(`/v1/imports/${res.body.id}`);
    samples.push([r.body.status, r.body.processedRows]);
    return r.body.status === 'completed';
  }, 90_000);
  // Seen part-way: running, with some rows but not all counted (150 rows are less than one chunk).
  expect(samples.some(([status, n]) => status === 'running' && n > 0 && n < 150)).toBe(true);
  expect(samples.at(-1)).toEqual(['completed', 150]);
});

test('a job stored but never started (Temporal unreachable at upload) starts when the file is uploaded again', async () => {
  // An API whose Temporal connection is gone: the job commits, its workflow cannot start.
  const connection = await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS });
  const cut = await listen(
    createApp({ config: stack.config, db: stack.db, client: new Client({ connection }) }),
    0,
    '127.0.0.1',
  );
  await connection.close();
  const file = ['idNumber,headName,regionCode', `${idNumber(5001)},户主,hl/harbin/daoli`].join('\n');
  try {
    const failed = await fetch(`http://127.0.0.1:${cut.port}/v1/imports`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${key}`, 'content-type': 'text/csv' },
      body: file,
    });
    expect(failed.status).toBe(500);
  } finally {
    await cut.close();
  }
  const stored = await stack.db.importJob.findFirstOrThrow({ where: { processedRows: 0, validRows: 1 } });
  expect(stored.status).toBe('queued');

  const again = await upload(file, 'text/csv');
  expect(again.status).toBe(200);
  expect(again.body).toMatchObject({ id: stored.id, duplicate: true });
  const done = await eventually(async () => {
    const r = await get(`/v1/imports/${stored.id}`);
    return r.body.status === 'completed' && r.body;
  }, 30_000);
  expect(done).toMatchObject({ processedRows: 1, startedCases: 1, failedRows: 0 });
});

test('a file over 50,000 rows or 25 MB is refused whole, with what to do', async () => {
  const rows = Array.from({ length: 50_001 }, (_, i) => `${idNumber(100_000 + i)},户主,hl/harbin/daoli`);
  const many = await upload(['idNumber,headName,regionCode', ...rows].join('\n'), 'text/csv');
  expect(many.status).toBe(413);
  expect(many.body).toMatchObject({
    type: '/problems/too_many_rows',
    detail: 'the file has 50001 rows; at most 50000 per file, split it into several imports',
  });
  const big = await upload(
    `idNumber,headName,regionCode,note\n${idNumber(1)},户主,hl/harbin,${'x'.repeat(26 * 1024 * 1024)}`,
    'text/csv',
  );
  expect(big.status).toBe(413);
  expect(big.body).toMatchObject({
    type: '/problems/body_too_large',
    detail: 'the body exceeds the limit of 26214400 bytes (25 MB)',
  });
  expect(await stack.db.importJob.count({ where: { totalRows: { gt: 200 } } })).toBe(0);
});

test('JSON lines are accepted; bad lines reported; other content types refused', async () => {
  const file = [
    JSON.stringify({ idNumber: idNumber(100), headName: '甲', regionCode: 'hl/harbin/nangang' }),
    '{not json',
    JSON.stringify({
      idNumber: idNumber(101),
      headName: '乙',
      regionCode: 'hl/harbin/nangang',
      note: 'via HR',
    }),
  ].join('\n');
  const res = await upload(file, 'application/x-ndjson');
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({
    format: 'jsonl',
    totalRows: 3,
    validRows: 2,
    errors: [{ row: 2, errors: [{ message: 'not valid JSON' }] }],
  });
  await eventually(async () => (await get(`/v1/imports/${res.body.id}`)).body.status === 'completed');
  expect((await upload('a,b', 'text/plain')).status).toBe(415);
  expect((await upload('wrong,columns\n1,2', 'text/csv')).status).toBe(400);
  const other = (await createApiKey(stack.db, { name: 'hr', agency: 'hr', region: 'hl/harbin', roles: [] }))
    .key;
  const hidden = await stack.http('GET', `/v1/imports/${res.body.id}`, {
    headers: { authorization: `ApiKey ${other}` },
  });
  expect(hidden.status).toBe(404);
});
