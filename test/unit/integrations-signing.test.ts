import { signatureHeader, verifySignature } from '../../api/integrations/signing';
import { eventTypeMatches, parseDuration, retryDelaysMs } from '../../api/integrations/webhookPolicy';
import { parseCsv, readRecords, validateRecord } from '../../api/integrations/importFile';

test('signatures cover the timestamp and the body, and expire', () => {
  const body = '{"id":"household-x#1"}';
  const h = signatureHeader('whsec_test', body, 1_800_000_000);
  expect(h).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
  expect(verifySignature('whsec_test', body, h, 1_800_000_100)).toBe(true);
  expect(verifySignature('whsec_test', body + ' ', h, 1_800_000_100)).toBe(false);
  expect(verifySignature('whsec_other', body, h, 1_800_000_100)).toBe(false);
  expect(verifySignature('whsec_test', body, h.replace('t=1800000000', 't=1800000001'), 1_800_000_100)).toBe(
    false,
  );
  expect(verifySignature('whsec_test', body, h, 1_800_000_000 + 301)).toBe(false); // replayed too late
});

test('retry schedules and event filters are data', () => {
  expect(parseDuration('30s')).toBe(30_000);
  expect(retryDelaysMs({ WEBHOOK_RETRY_SCHEDULE: '1s,500ms,2m' })).toEqual([1000, 500, 120_000]);
  expect(() => retryDelaysMs({ WEBHOOK_RETRY_SCHEDULE: '1 hour' })).toThrow('not a duration');
  expect(eventTypeMatches(['referral.*'], 'referral.granted')).toBe(true);
  expect(eventTypeMatches(['referral.*'], 'case.opened')).toBe(false);
  expect(eventTypeMatches(['*'], 'task.opened')).toBe(true);
});

test('CSV rows are parsed with quoting and validated row by row', () => {
  expect(parseCsv('a,b\r\n"x, ""y""",2\n"multi\nline",3\n')).toEqual([
    ['a', 'b'],
    ['x, "y"', '2'],
    ['multi\nline', '3'],
  ]);
  const rows = readRecords(
    'idNumber,headName,regionCode\n23010219800101123X,李,hl/harbin\nbad,李,hl/harbin\n1,2\n',
    'csv',
  );
  expect(Array.isArray(rows)).toBe(true);
  const [good, bad, short] = rows as any[];
  const scope = { region: 'hl/harbin', defaultReferrer: 'sys' };
  expect(validateRecord(good.record, scope)).toMatchObject({
    household: { idNumber: '23010219800101123X' },
    referral: { source: 'agency', referrer: 'sys' },
  });
  expect(validateRecord(bad.record, scope)).toEqual({
    errors: [{ path: 'idNumber', message: 'must be an 18-character resident ID number' }],
  });
  expect(short.errors[0].message).toMatch(/has 2 fields/);
  expect(validateRecord({ ...good.record, regionCode: 'hl/qiqihar' }, scope)).toEqual({
    errors: [{ path: 'regionCode', message: 'is outside your region hl/harbin' }],
  });
  expect(readRecords('nope\n1', 'csv')).toEqual({
    fileError: expect.stringContaining('unknown columns: nope'),
  });
});
