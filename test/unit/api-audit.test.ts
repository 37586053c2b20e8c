import { canonicalJson, entryHash } from '../../api/audit';

const entry = {
  chain: 'case-1',
  seq: 2,
  caseId: 'case-1',
  at: new Date('2026-11-22T01:02:03.456Z'),
  actor: 'union-staff',
  actorKind: 'staff',
  agency: 'union',
  action: 'task.complete',
  target: 'household-x.t1',
  requestId: 'req-1',
  data: { type: 'intakeReview', nested: { b: 1, a: [1, { d: 2, c: 3 }] } },
  prevHash: 'a'.repeat(64),
};

test('canonical JSON does not depend on key order (JSONB reorders keys)', () => {
  expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 2 }], c: null } })).toBe(
    '{"a":{"c":null,"d":[2,{"x":2,"y":1}]},"b":1}',
  );
  expect(canonicalJson({ a: 1, skip: undefined })).toBe('{"a":1}');
});

test('the hash covers every field, the previous hash included, and nothing else', () => {
  const h = entryHash(entry);
  expect(h).toMatch(/^[0-9a-f]{64}$/);
  expect(
    entryHash({ ...entry, data: { nested: { a: [1, { c: 3, d: 2 }], b: 1 }, type: 'intakeReview' } }),
  ).toBe(h);
  expect(entryHash({ ...entry, hash: 'ignored' } as typeof entry)).toBe(h);
  const changes: Array<Record<string, unknown>> = [
    { chain: 'case-2' },
    { seq: 3 },
    { caseId: null as never },
    { at: new Date('2026-11-22T01:02:03.457Z') },
    { actor: 'x' },
    { actorKind: 'integrator' },
    { agency: 'hr' },
    { action: 'task.claim' },
    { target: 'other' },
    { requestId: 'req-2' },
    { data: { type: 'intakeReview' } },
    { prevHash: 'b'.repeat(64) },
  ];
  for (const c of changes) expect(entryHash({ ...entry, ...c } as typeof entry)).not.toBe(h);
});
