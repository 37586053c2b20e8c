import { createApiKey } from '../../api/auth';
import { recordHistories } from '../support/histories';
import { importWorkflowId } from '../../workflows/webhookDelivery';
import { eventually, startStack, type Stack } from '../support/stack';

/** Bulk referral import: row-by-row validation, one report, progress while it runs, no duplicates on re-upload. */
let stack: Stack;
let key = '';
const upload = (body: string, type: string) =>
  stack.http('POST', '/v1/imports', {
    body,
    headers: { authorization: `ApiKey ${key}`, 'content-type': type },
  });
const get = (path: string) => stack.http('GET', path, { headers: { authorization: `ApiKey ${key}` } });

/** A valid resident ID number (the checksum is not validated by the platform). */
const idNumber = (i: number) => `2301021980${String(i).padStart(7, '0')}X`;

beforeAll(async () => {
  stack = await startStack();
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

test('a CSV file is validated row by row, its good rows started as cases, progress visible, and a re-upload creates nothing', async () => {
  const lines = ['idNumber,headName,regionCode,phone,source,referrer,externalRef'];
  for (let i = 1; i <= 40; i++)
    lines.push(
      `${idNumber(i)},"户主 ${i}",hl/harbin/daoli,1390000${String(i).padStart(4, '0')},enterprise_union,"Harbin Works, union",EXT-${i}`,
    );
  lines.push(`${idNumber(1)},户主 1,hl/harbin/daoli,,enterprise_union,second referrer,EXT-41`); // joins row 1's case
  lines.push('12345,坏,hl/harbin/daoli,,,,'); // bad ID number
  lines.push(`${idNumber(43)},,hl/qiqihar,,,,`); // no name, outside the region
  lines.push(`${idNumber(44)},户主 44,hl/harbin/daoli,phone!,nonsense,,`); // bad phone, bad source
  const file = lines.join('\n') + '\n';

  const res = await upload(file, 'text/csv');
  expect(res.status).toBe(202);
  const jobId = res.body.id;
  expect(res.body).toMatchObject({ totalRows: 44, validRows: 41, invalidRows: 3 });
  expect(res.body.errors).toEqual([
    {
      row: 42,
      status: 'invalid',
      errors: [{ path: 'idNumber', message: 'must be an 18-character resident ID number' }],
    },
    {
      row: 43,
      status: 'invalid',
      errors: [
        { path: 'headName', message: expect.any(String) },
        { path: 'regionCode', message: 'is outside your region hl/harbin' },
      ],
    },
    {
      row: 44,
      status: 'invalid',
      errors: [
        { path: 'phone', message: 'must be digits, optionally with a leading +' },
        { path: 'source', message: expect.any(String) },
      ],
    },
  ]);

  const seen = new Set<number>();
  const final = await eventually(async () => {
    const r = await get(`/v1/imports/${jobId}`);
    seen.add(r.body.processedRows);
    return r.body.status === 'completed' && r.body;
  }, 60_000);
  expect(final).toMatchObject({ processedRows: 41, startedCases: 40, joinedCases: 1, failedRows: 0 });
  expect(seen.size).toBeGreaterThan(1); // progress moved while we watched
  expect(await stack.db.householdCase.count()).toBe(40);
  if (process.env.RECORD_HISTORIES === '1')
    await recordHistories(stack.client, 'import', [importWorkflowId(jobId)]);
  const rows = (await get(`/v1/imports/${jobId}/rows?status=joined`)).body.items;
  expect(rows).toEqual([
    { rowNo: 41, status: 'joined', caseId: expect.any(String), errors: null, error: null },
  ]);
  const first = (await get(`/v1/imports/${jobId}/rows?limit=1`)).body.items[0];
  expect(first.caseId).toBe(rows[0].caseId);
  // The household's details are not kept in the import once its case holds them.
  const kept = await stack.db.$queryRaw<Array<{ n: number }>>`
    SELECT count(*)::int AS n FROM "ImportRow" WHERE "jobId" = ${jobId} AND "input" IS NOT NULL AND "status" <> 'invalid'`;
  expect(kept[0]!.n).toBe(0);

  const again = await upload(file, 'text/csv');
  expect(again.status).toBe(200);
  expect(again.body).toMatchObject({ id: jobId, duplicate: true, startedCases: 40 });
  await new Promise((r) => setTimeout(r, 1000));
  expect(await stack.db.householdCase.count()).toBe(40);
  const referrals = await stack.db.caseEvent.count({ where: { type: 'case.referral_received' } });
  expect(referrals).toBe(41);
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
