import fs from 'node:fs';
import path from 'node:path';
import { createApp } from '../../api/app';
import { createApiKey } from '../../api/auth';
import { listen } from '../../api/server';
import type { Db } from '../../db/client';
import { forms } from '../support/fixtures';
import { eventually, startStack, type Stack } from '../support/stack';
import {
  REGION,
  agencyKey,
  openTask,
  caseAwaitingSignOff,
  caseWithHousingReferral,
  claimsOf,
  referCase,
  referralBody,
} from './api-helpers';

/** The agency task API through HTTP → Temporal dev server → PostgreSQL: inbox, detail, actions. */
let stack: Stack;
const as = (sub: string) => stack.token(claimsOf(sub));
const intakeForm = { type: 'intakeReview', form: forms.intakeAccept };

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('POST /v1/referrals', () => {
  test('starts a case (201), a second referral of the household joins it (200)', async () => {
    const body = referralBody();
    const first = await stack.http('POST', '/v1/referrals', { token: as('union-staff'), body });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ joined: false, duplicate: false, stage: 'intake' });
    const again = await stack.http('POST', '/v1/referrals', {
      token: as('union-staff'),
      body: { ...body, referral: { source: 'cadre', referrer: 'street office' } },
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ caseId: first.body.caseId, joined: true, duplicate: false });
  });

  test('the founding referral sent again with a new Idempotency-Key: 200 joined, duplicate, nothing added', async () => {
    const body = referralBody();
    const first = await stack.http('POST', '/v1/referrals', {
      token: as('union-staff'),
      body,
      headers: { 'idempotency-key': 'found-1' },
    });
    expect(first.status).toBe(201);
    const again = await stack.http('POST', '/v1/referrals', {
      token: as('union-staff'),
      body,
      headers: { 'idempotency-key': 'found-2' },
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ caseId: first.body.caseId, joined: true, duplicate: true });
    // The case's chain records what the workflow said happened.
    const recorded = await eventually(async () => {
      const e = await stack.db.auditEntry.findMany({
        where: { caseId: first.body.caseId, action: 'referral.add' },
        orderBy: { seq: 'asc' },
      });
      return e.length === 2 && e;
    });
    expect(recorded.map((e) => e.data)).toEqual([
      expect.objectContaining({ joined: false, duplicate: false }),
      expect.objectContaining({ joined: true, duplicate: true }),
    ]);
    expect(
      await stack.db.caseEvent.count({
        where: { caseId: first.body.caseId, type: 'case.referral_received' },
      }),
    ).toBe(1);
  });

  test.each([
    ['household.idNumber', { household: { idNumber: '123' } }, 'invalid_format'],
    ['household.headName', { household: { headName: '' } }, 'too_small'],
    ['household.headName', { household: { headName: 'x'.repeat(101) } }, 'too_big'],
    ['household.regionCode', { household: { regionCode: 'HL Harbin' } }, 'invalid_format'],
    ['household.phone', { household: { phone: 'call me' } }, 'invalid_format'],
    ['household.address', { household: { address: '' } }, 'too_small'],
    ['referral.source', { referral: { source: 'rumour' } }, 'invalid_value'],
    ['referral.referrer', { referral: { referrer: '' } }, 'too_small'],
    ['referral.externalRef', { referral: { externalRef: '' } }, 'too_small'],
    ['referral.note', { referral: { note: 'x'.repeat(2001) } }, 'too_big'],
  ])('400 names the field %s and its rule', async (path, patch, code) => {
    const base = referralBody();
    const body = {
      household: { ...base.household, ...(patch as any).household },
      referral: { ...base.referral, ...(patch as any).referral },
    };
    const res = await stack.http('POST', '/v1/referrals', { token: as('union-staff'), body });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: `body.${path}`, code })]),
    );
  });

  test('a referral outside your region is 403 and starts nothing', async () => {
    const res = await stack.http('POST', '/v1/referrals', {
      token: as('union-staff'),
      body: referralBody({ regionCode: 'hl/qiqihar' }),
    });
    expect(res.status).toBe(403);
    expect(await stack.db.householdCase.count({ where: { regionCode: 'hl/qiqihar' } })).toBe(0);
  });

  test('a household whose open case is in another region: a neutral 409 with no case data, and nothing written', async () => {
    const body = referralBody();
    const first = await stack.http('POST', '/v1/referrals', { token: as('union-staff'), body });
    expect(first.status).toBe(201);
    const qiqihar = stack.token({
      sub: 'qq-staff',
      name: '齐齐哈尔 工会',
      agency: 'union',
      roles: ['staff'],
      region: 'hl/qiqihar',
    });
    const res = await stack.http('POST', '/v1/referrals', {
      token: qiqihar,
      body: {
        household: { ...body.household, regionCode: 'hl/qiqihar' },
        referral: { source: 'cadre', referrer: 'Qiqihar street union' },
      },
    });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: '/problems/handled_by_another_region',
      detail: "this household's case is handled by another region; contact the joint office",
    });
    for (const leak of [first.body.caseId, 'hl/harbin', 'intake', 'openTasks', 'stage'])
      expect(JSON.stringify(res.body)).not.toContain(leak);
    const received = await stack.db.caseEvent.count({
      where: { caseId: first.body.caseId, type: 'case.referral_received' },
    });
    expect(received).toBe(1);
    expect(await stack.db.auditEntry.count({ where: { caseId: first.body.caseId } })).toBe(1);
  });

  test('the same referral sent again (no Idempotency-Key: a re-import, a re-sent message) adds nothing', async () => {
    const body = {
      ...referralBody(),
      referral: { source: 'agency', referrer: 'civil affairs verification system', externalRef: 'CA-9001' },
    };
    const first = await stack.http('POST', '/v1/referrals', { token: as('union-staff'), body });
    const again = await stack.http('POST', '/v1/referrals', { token: as('union-staff'), body });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, joined: true, duplicate: true });
    const other = await stack.http('POST', '/v1/referrals', {
      token: as('union-staff'),
      body: { ...body, referral: { ...body.referral, externalRef: 'CA-9002' } },
    });
    expect(other.body).toMatchObject({ caseId: first.body.caseId, joined: true, duplicate: false });
    const events = await eventually(async () => {
      const e = await stack.db.caseEvent.findMany({
        where: { caseId: first.body.caseId, type: 'case.referral_received' },
      });
      return e.length >= 2 && e;
    });
    await new Promise((r) => setTimeout(r, 300)); // a duplicate's event would be written by now
    expect(
      await stack.db.caseEvent.count({
        where: { caseId: first.body.caseId, type: 'case.referral_received' },
      }),
    ).toBe(events.length);
    expect(events).toHaveLength(2);
  });

  test('the same Idempotency-Key replays the first response; another body with it is 422', async () => {
    const body = referralBody();
    const headers = { 'idempotency-key': 'ref-1' };
    const a = await stack.http('POST', '/v1/referrals', { token: as('union-staff'), body, headers });
    const b = await stack.http('POST', '/v1/referrals', { token: as('union-staff'), body, headers });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201); // not "200 joined": the first response, replayed
    expect(b.body).toEqual(a.body);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    const c = await stack.http('POST', '/v1/referrals', {
      token: as('union-staff'),
      body: referralBody(),
      headers,
    });
    expect(c.status).toBe(422);
    expect(c.body.type).toBe('/problems/idempotency_key_reused');
    // Keys are per principal: another user's identical key is a new request, not a replay (being
    // the same referral — source, referrer, no reference or note — it adds nothing to the case).
    const other = await stack.http('POST', '/v1/referrals', { token: as('union-supervisor'), body, headers });
    expect(other.headers.get('idempotent-replayed')).toBeNull();
    expect(other.status).toBe(200);
    expect(other.body).toMatchObject({ caseId: a.body.caseId, joined: true, duplicate: true });
    const another = { ...body, referral: { ...body.referral, note: 'seen again at the plant' } };
    const joined = await stack.http('POST', '/v1/referrals', {
      token: as('union-supervisor'),
      body: another,
      headers: { 'idempotency-key': 'ref-2' },
    });
    expect(joined.status).toBe(200);
    expect(joined.body).toMatchObject({ caseId: a.body.caseId, joined: true });
  });
});

describe('GET /v1/tasks (inbox)', () => {
  let cases: Array<{ caseId: string; task: { id: string } }>;
  beforeAll(async () => {
    cases = [];
    for (let i = 0; i < 3; i++) cases.push(await referCase(stack));
  });

  test('sorted by due time, keyset-paginated with total counts; pages neither overlap nor skip', async () => {
    const first = await stack.http('GET', '/v1/tasks?type=intakeReview&limit=2', {
      token: as('union-staff'),
    });
    expect(first.status).toBe(200);
    const total = first.body.total as number;
    expect(total).toBeGreaterThanOrEqual(3);
    expect(first.body.items).toHaveLength(2);
    const seen = [...first.body.items];
    let cursor = first.body.nextCursor as string | null;
    while (cursor) {
      const page = await stack.http('GET', `/v1/tasks?type=intakeReview&limit=2&cursor=${cursor}`, {
        token: as('union-staff'),
      });
      expect(page.body.total).toBe(total);
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
    }
    expect(seen).toHaveLength(total);
    expect(new Set(seen.map((t) => t.id)).size).toBe(total);
    const keys = seen.map((t) => `${t.dueAt}|${t.id}`);
    expect(keys).toEqual([...keys].sort());
    for (const c of cases) expect(seen.map((t) => t.id)).toContain(c.task.id);
  });

  test('many tasks due at the same instant page through with none skipped or repeated, the cursor stable while tasks are added', async () => {
    // Read-model rows only (the inbox reads nothing else), in a region of their own.
    const region = 'hl/paging';
    const due = new Date(Date.now() + 3 * 24 * 3600_000);
    const at = (ms: number) => new Date(due.getTime() + ms);
    const row = (id: string, dueAt: Date) => ({
      id,
      caseId: 'paging-case',
      workflowId: 'paging-wf',
      type: 'dataComparisonHr',
      agency: 'hr',
      regionCode: `${region}/street-${id.length % 3}`,
      status: 'open',
      createdAt: new Date(),
      dueAt,
      context: {},
    });
    const ids = Array.from({ length: 23 }, (_, i) => `pg-${String((i * 7919) % 100).padStart(2, '0')}-${i}`);
    await stack.db.caseTask.createMany({
      data: [...ids.map((id) => row(id, due)), row('pg-early', at(-1)), row('pg-late', at(1))],
    });
    const token = stack.token({ sub: 'hr-pager', agency: 'hr', roles: ['staff'], region });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    const added: Record<'ahead' | 'behind', string[]> = { ahead: [], behind: [] };
    do {
      const page = await stack.http('GET', `/v1/tasks?limit=4${cursor ? `&cursor=${cursor}` : ''}`, {
        token,
      });
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((t: { id: string }) => t.id));
      cursor = page.body.nextCursor;
      pages++;
      // Others' work lands while this one pages: at the same instant on either side of the cursor,
      // and earlier or later. Only what sorts after the cursor may still appear.
      if (pages === 2) {
        const last = seen[seen.length - 1]!;
        const mk = (id: string, dueAt: Date, where: 'ahead' | 'behind') => (
          added[where].push(id),
          row(id, dueAt)
        );
        await stack.db.caseTask.createMany({
          data: [
            mk(`${last}-a`, due, 'ahead'),
            mk('pg-00', due, 'behind'),
            mk('pg-earlier', at(-60_000), 'behind'),
            mk('pg-later', at(60_000), 'ahead'),
          ],
        });
      }
    } while (cursor);
    const expected = ['pg-early', ...[...ids, ...added.ahead.slice(0, 1)].sort(), 'pg-late', 'pg-later'];
    expect(seen).toEqual(expected);
    for (const id of added.behind) expect(seen).not.toContain(id);
    expect(pages).toBe(Math.ceil(expected.length / 4));
  });

  test('filters: case, assignee, due before, overdue, region, status', async () => {
    const [c1] = cases;
    const q = async (qs: string, who = 'union-staff') =>
      (await stack.http('GET', `/v1/tasks?${qs}`, { token: as(who) })).body;
    expect((await q(`caseId=${c1!.caseId}`)).items.map((t: any) => t.id)).toEqual([c1!.task.id]);
    expect((await q(`caseId=${c1!.caseId}&assignee=me`)).total).toBe(0);
    expect((await q(`caseId=${c1!.caseId}&assignee=none`)).total).toBe(1);
    const claimed = await stack.http('POST', `/v1/tasks/${c1!.task.id}/claim`, { token: as('union-staff') });
    expect(claimed.status).toBe(200);
    expect((await q(`caseId=${c1!.caseId}&assignee=me`)).total).toBe(1);
    expect((await q(`caseId=${c1!.caseId}&assignee=union-staff`, 'union-supervisor')).total).toBe(1);
    expect((await q(`caseId=${c1!.caseId}&assignee=me`, 'union-supervisor')).total).toBe(0);
    const soon = new Date(Date.now() + 3600_000).toISOString();
    expect((await q(`caseId=${c1!.caseId}&dueBefore=${soon}`)).total).toBe(0);
    expect((await q(`caseId=${c1!.caseId}&dueBefore=2100-01-01T00:00:00Z`)).total).toBe(1);
    expect((await q(`caseId=${c1!.caseId}&overdue=true`)).total).toBe(0);
    expect((await q(`caseId=${c1!.caseId}&overdue=false`)).total).toBe(1);
    expect((await q(`caseId=${c1!.caseId}&region=${REGION}`)).total).toBe(1);
    expect((await q(`caseId=${c1!.caseId}&region=${REGION}/street-9`)).total).toBe(0);
    expect((await q(`caseId=${c1!.caseId}&status=completed`)).total).toBe(0);
    // Another agency's inbox never holds the union's task.
    expect((await q(`caseId=${c1!.caseId}`, 'civil-affairs-staff')).total).toBe(0);
    await stack.http('POST', `/v1/tasks/${c1!.task.id}/release`, { token: as('union-staff') });
  });

  test('an overdue task is found by overdue=true', async () => {
    const { caseId, task } = await referCase(stack);
    // Move its due time into the past in the read model (the workflow's own timer is not involved).
    await stack.db.caseTask.update({
      where: { id: task.id },
      data: { dueAt: new Date(Date.now() - 3600_000) },
    });
    const res = await stack.http('GET', `/v1/tasks?caseId=${caseId}&overdue=true`, {
      token: as('union-staff'),
    });
    expect(res.body.items).toEqual([expect.objectContaining({ id: task.id, overdue: true })]);
  });

  test('a region outside your own is 403', async () => {
    const res = await stack.http('GET', '/v1/tasks?region=hl/qiqihar', { token: as('union-staff') });
    expect(res.status).toBe(403);
    expect(res.body.type).toBe('/problems/region_out_of_scope');
  });

  test.each([
    ['status=done', 'query.status', 'invalid_value'],
    ['type=paperwork', 'query.type', 'invalid_value'],
    ['dueBefore=tomorrow', 'query.dueBefore', 'invalid_format'],
    ['overdue=yes', 'query.overdue', 'invalid_value'],
    ['assignee=', 'query.assignee', 'too_small'],
    ['region=Not A Region', 'query.region', 'invalid_format'],
    ['caseId=', 'query.caseId', 'too_small'],
    ['limit=0', 'query.limit', 'too_small'],
    ['limit=201', 'query.limit', 'too_big'],
    ['limit=ten', 'query.limit', 'invalid_type'],
    ['cursor=garbage', 'query.cursor', 'invalid_cursor'],
    ['colour=red', 'query', 'unrecognized_keys'],
  ])('400 for %s names %s (%s)', async (qs, path, code) => {
    const res = await stack.http('GET', `/v1/tasks?${qs}`, { token: as('union-staff') });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path, code })]));
  });
});

describe('GET /v1/tasks/:id', () => {
  test('intake review needs the ID number: released to its worker and the read audited', async () => {
    const { task, idNumber } = await referCase(stack);
    const res = await stack.http('GET', `/v1/tasks/${task.id}`, { token: as('union-staff') });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: task.id,
      type: 'intakeReview',
      case: { idNumberMasked: `230***********${idNumber.slice(-4)}` },
    });
    expect(res.body.facts).toEqual({ idNumber });
    const entry = await stack.db.auditEntry.findFirst({
      where: { action: 'task.read_sensitive', target: task.id },
    });
    expect(entry).toMatchObject({
      actor: 'union-staff',
      agency: 'union',
      requestId: res.headers.get('x-request-id'),
    });
    expect(entry!.data).toEqual({ fields: ['idNumber'] });
  });

  test('sign-off needs the survey, not the ID number: the number stays masked', async () => {
    const { task, idNumber } = await caseAwaitingSignOff(stack);
    const res = await stack.http('GET', `/v1/tasks/${task.id}`, { token: as('union-chair') });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.facts)).toEqual(['survey']);
    expect(res.body.facts.survey).toMatchObject({ tier: expect.any(String), causes: ['illness'] });
    expect(JSON.stringify(res.body)).not.toContain(idNumber);
  });
});

describe('task actions', () => {
  test('claim, a colleague cannot complete a claimed task (409), release, comment', async () => {
    const { caseId, task } = await referCase(stack);
    const claim = await stack.http('POST', `/v1/tasks/${task.id}/claim`, { token: as('union-staff') });
    expect(claim.status).toBe(200);
    expect(claim.body).toMatchObject({
      task: { id: task.id, assignee: 'union-staff' },
      caseId,
      stage: 'intake',
    });
    const other = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-supervisor'),
      body: intakeForm,
    });
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({
      type: '/problems/task_claimed',
      task: { assignee: 'union-staff', status: 'open' },
    });
    const steal = await stack.http('POST', `/v1/tasks/${task.id}/claim`, { token: as('union-chair') });
    expect(steal.status).toBe(409);
    const release = await stack.http('POST', `/v1/tasks/${task.id}/release`, { token: as('union-staff') });
    expect(release.body.task.assignee).toBeNull();
    const comment = await stack.http('POST', `/v1/tasks/${task.id}/comment`, {
      token: as('union-staff'),
      body: { text: 'called the household' },
    });
    expect(comment.status).toBe(200);
    // Comments are read back on the task, by those who may see the task (others get its 404).
    const detail = await stack.http('GET', `/v1/tasks/${task.id}`, { token: as('union-supervisor') });
    expect(detail.body.comments).toEqual([
      { at: expect.any(String), author: 'union-staff', agency: 'union', text: 'called the household' },
    ]);
    const events = await stack.db.caseEvent.findMany({ where: { caseId, taskId: task.id } });
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['task.claimed', 'task.released', 'case.comment']),
    );
    const audits = await stack.db.auditEntry.findMany({
      where: { caseId, target: task.id },
      orderBy: { seq: 'asc' },
    });
    expect(audits.map((a) => a.action)).toEqual(
      expect.arrayContaining(['task.claim', 'task.release', 'task.comment']),
    );
  });

  test('return for correction stops the task; completing it is 409; correction received reopens it', async () => {
    const { task } = await referCase(stack);
    const ret = await stack.http('POST', `/v1/tasks/${task.id}/return`, {
      token: as('union-staff'),
      body: { reason: 'consent form unsigned' },
    });
    expect(ret.status).toBe(200);
    expect(ret.body.task.status).toBe('awaiting_correction');
    const blocked = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: intakeForm,
    });
    expect(blocked.status).toBe(409);
    expect(blocked.body.task.status).toBe('awaiting_correction');
    const again = await stack.http('POST', `/v1/tasks/${task.id}/return`, {
      token: as('union-staff'),
      body: { reason: 'again' },
    });
    expect(again.status).toBe(409);
    const back = await stack.http('POST', `/v1/tasks/${task.id}/correction-received`, {
      token: as('union-staff'),
    });
    expect(back.body.task.status).toBe('open');
  });

  test('reassign is for the agency supervisor', async () => {
    const { task } = await referCase(stack);
    const staff = await stack.http('POST', `/v1/tasks/${task.id}/reassign`, {
      token: as('union-staff'),
      body: { assignee: 'union-chair' },
    });
    expect(staff.status).toBe(403);
    const sup = await stack.http('POST', `/v1/tasks/${task.id}/reassign`, {
      token: as('union-supervisor'),
      body: { assignee: 'union-staff' },
    });
    expect(sup.status).toBe(200);
    expect(sup.body.task.assignee).toBe('union-staff');
  });

  test('reassign stays within the task agency: a known principal of another agency is refused (422), nothing changed', async () => {
    const { caseId, task } = await referCase(stack);
    // Known principals: an integrator key (its row), a staff member who has acted (the audit trail).
    const key = await createApiKey(stack.db, {
      name: 'hr system',
      agency: 'hr',
      region: REGION,
      roles: ['staff'],
    });
    const civil = await stack.http('POST', '/v1/referrals', {
      token: as('civil-affairs-staff'),
      body: referralBody(),
    });
    expect(civil.status).toBe(201);
    for (const [path, body] of [
      [`/v1/tasks/${task.id}/reassign`, { assignee: 'civil-affairs-staff' }],
      [`/v1/tasks/${task.id}/reassign`, { assignee: `apikey:${key.id}` }],
      [
        `/v1/cases/${caseId}/actions`,
        { action: 'reassign', taskId: task.id, assignee: 'civil-affairs-staff' },
      ],
    ] as const) {
      const res = await stack.http('POST', path, { token: as('union-supervisor'), body });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({
        type: '/problems/assignee_not_in_agency',
        errors: [expect.objectContaining({ path: 'body.assignee', code: 'assignee_not_in_agency' })],
      });
    }
    // Keys are known exactly: one that does not exist, or is revoked, is refused too.
    const revoked = await createApiKey(stack.db, { name: 'old', agency: 'union', region: REGION, roles: [] });
    await stack.db.apiKey.update({ where: { id: revoked.id }, data: { revokedAt: new Date() } });
    for (const assignee of ['apikey:key_nope', `apikey:${revoked.id}`]) {
      const res = await stack.http('POST', `/v1/tasks/${task.id}/reassign`, {
        token: as('union-supervisor'),
        body: { assignee },
      });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({
        type: '/problems/assignee_unknown',
        errors: [expect.objectContaining({ path: 'body.assignee', code: 'assignee_unknown' })],
      });
    }
    expect((await stack.db.caseTask.findUniqueOrThrow({ where: { id: task.id } })).assignee).toBeNull();
    // A colleague of the union, or staff the platform has not met yet (best-effort: no staff
    // directory), may be assigned.
    for (const assignee of ['union-chair', 'new-colleague']) {
      const ok = await stack.http('POST', `/v1/tasks/${task.id}/reassign`, {
        token: as('union-supervisor'),
        body: { assignee },
      });
      expect(ok.status).toBe(200);
      expect(ok.body.task.assignee).toBe(assignee);
    }
  });

  test.each([
    ['return', 'body.reason', 'invalid_type', {}],
    ['return', 'body.reason', 'too_small', { reason: '   ' }],
    ['comment', 'body.text', 'too_small', { text: '' }],
    ['comment', 'body.text', 'too_big', { text: 'long '.repeat(401) }],
    ['reassign', 'body.assignee', 'invalid_type', {}],
    ['claim', 'body', 'unrecognized_keys', { extra: 1 }],
  ])('%s with a bad body is 400 at %s (%s)', async (action, path, code, body) => {
    const { task } = await referCase(stack);
    const res = await stack.http('POST', `/v1/tasks/${task.id}/${action}`, {
      token: as('union-supervisor'),
      body,
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path, code })]));
  });
});

describe('POST /v1/tasks/:id/complete', () => {
  test('completes through the Update: new stage and next tasks; again → 409 with the current state', async () => {
    const { caseId, task } = await referCase(stack);
    const done = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: intakeForm,
    });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ taskId: task.id, caseId, stage: 'comparison' });
    // Next tasks are the caller's agency's only: the comparisons belong to civil affairs and HR.
    expect(done.body.nextTasks).toEqual([]);
    expect(
      (await stack.db.caseTask.findMany({ where: { caseId, status: 'open' } })).map((t) => t.type).sort(),
    ).toEqual(['dataComparisonCivil', 'dataComparisonHr']);
    const again = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: intakeForm,
    });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      type: '/problems/task_not_open',
      task: { id: task.id, status: 'completed' },
    });

    // Civil affairs completes its comparison: the ID number was released to it for that.
    const civilTask = await eventually(() =>
      stack.db.caseTask.findFirst({ where: { caseId, type: 'dataComparisonCivil' } }),
    );
    const detail = await stack.http('GET', `/v1/tasks/${civilTask.id}`, { token: as('civil-affairs-staff') });
    expect(detail.body.facts.idNumber).toMatch(/^\d{17}[\dX]$/);
    const civil = await stack.http('POST', `/v1/tasks/${civilTask.id}/complete`, {
      token: as('civil-affairs-staff'),
      body: { type: 'dataComparisonCivil', form: forms.civil },
    });
    expect(civil.status).toBe(200);
    expect(civil.body.stage).toBe('comparison');
    // HR's comparison is still open, but it is not civil affairs' business.
    expect(civil.body.nextTasks).toEqual([]);
  });

  test('the same Idempotency-Key completes once and replays; another body → 422; in flight → 409', async () => {
    const { task } = await referCase(stack);
    const headers = { 'idempotency-key': `complete-${task.id}` };
    const a = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: intakeForm,
      headers,
    });
    const b = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: intakeForm,
      headers,
    });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    const completed = await stack.db.caseEvent.count({ where: { taskId: task.id, type: 'task.completed' } });
    expect(completed).toBe(1);
    const c = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: {
        type: 'intakeReview',
        form: { decision: 'withdraw', consent: forms.intakeAccept.consent, reason: 'moved' },
      },
      headers,
    });
    expect(c.status).toBe(422);

    // A first request still being processed holds the key.
    await stack.db.idempotencyRecord.create({
      data: {
        principal: 'staff:union-staff',
        key: 'busy',
        requestHash: 'x',
        method: 'POST',
        path: '/v1/tasks/x/complete',
      },
    });
    const busy = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: intakeForm,
      headers: { 'idempotency-key': 'busy' },
    });
    expect(busy.status).toBe(409);
    expect(busy.body.type).toBe('/problems/request_in_flight');
    const badKey = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: intakeForm,
      headers: { 'idempotency-key': 'x'.repeat(300) },
    });
    expect(badKey.status).toBe(400);
  });

  test('expired Idempotency-Key records are purged, a bounded batch per write that makes a new one', async () => {
    const old = new Date(Date.now() - 25 * 3600_000);
    const row = (key: string, createdAt: Date) => ({
      principal: 'staff:someone-long-gone',
      key,
      requestHash: 'x',
      method: 'POST',
      path: '/v1/referrals',
      status: 201,
      body: {},
      createdAt,
    });
    await stack.db.idempotencyRecord.createMany({
      data: [
        ...Array.from({ length: 150 }, (_, i) => row(`expired-${i}`, old)),
        row('recent', new Date(Date.now() - 3600_000)),
      ],
    });
    const mine = { principal: 'staff:someone-long-gone' };
    const write = (key: string) =>
      stack.http('POST', '/v1/referrals', {
        token: as('union-staff'),
        body: referralBody(),
        headers: { 'idempotency-key': key },
      });
    expect((await write(`purge-1-${Date.now()}`)).status).toBe(201);
    await eventually(async () => (await stack.db.idempotencyRecord.count({ where: mine })) === 51);
    expect((await write(`purge-2-${Date.now()}`)).status).toBe(201);
    await eventually(async () => (await stack.db.idempotencyRecord.count({ where: mine })) === 1);
    expect(await stack.db.idempotencyRecord.findMany({ where: mine, select: { key: true } })).toEqual([
      { key: 'recent' },
    ]);
  });

  test('a wrong form type is 400; only the chair signs off (403 for anyone else, nothing changed)', async () => {
    const { task } = await referCase(stack);
    const wrong = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: { type: 'chairSignOff', form: { decision: 'sign' } },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors).toEqual([
      expect.objectContaining({ path: 'body.type', code: 'wrong_task_type' }),
    ]);

    const signOff = await caseAwaitingSignOff(stack);
    for (const who of ['union-staff', 'union-supervisor']) {
      const res = await stack.http('POST', `/v1/tasks/${signOff.task.id}/complete`, {
        token: as(who),
        body: { type: 'chairSignOff', form: forms.sign },
      });
      expect(res.status).toBe(403);
    }
    expect((await stack.db.caseTask.findUnique({ where: { id: signOff.task.id } }))!.status).toBe('open');
    const chair = await stack.http('POST', `/v1/tasks/${signOff.task.id}/complete`, {
      token: as('union-chair'),
      body: { type: 'chairSignOff', form: forms.sign },
    });
    expect(chair.status).toBe(200);
    expect(chair.body.stage).toBe('planning');
    expect(chair.body.nextTasks.map((t: any) => t.type)).toEqual(['assistancePlan']);
  });

  test("a referral task is completed on the referral's workflow; the payment approver is never its preparer", async () => {
    const { caseId, planned, acceptance } = await caseWithHousingReferral(stack);
    expect(planned.stage).toBe('assisting');
    // Housing sees what is asked of it: the measure, with the ID number it needs.
    const asked = await stack.http('GET', `/v1/tasks/${acceptance.id}`, { token: as('housing-staff') });
    expect(asked.body.facts).toEqual({
      idNumber: expect.stringMatching(/^\d{17}[\dX]$/),
      measure: { code: 'public_rental_housing', name: 'Public rental housing', nameZh: '公租房' },
    });
    const accepted = await stack.http('POST', `/v1/tasks/${acceptance.id}/complete`, {
      token: as('housing-staff'),
      body: { type: 'referralAcceptance', form: { decision: 'accept' } },
    });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({
      caseId,
      stage: 'assisting',
      referral: { agency: 'housing', status: 'accepted' },
    });
    expect(accepted.body.nextTasks.map((t: any) => t.type)).toEqual(['referralOutcome']);
    // Housing now sees the case it is involved in.
    expect((await stack.http('GET', `/v1/cases/${caseId}`, { token: as('housing-staff') })).status).toBe(200);

    const prep = await stack.http('POST', `/v1/cases/${caseId}/actions`, {
      token: as('union-supervisor'),
      body: { action: 'prepareAidPayment', measure: 'union_living_aid', amountCents: 200000 },
    });
    expect(prep.status).toBe(200);
    const approval = prep.body.openTasks.find((t: any) => t.type === 'aidPaymentApproval');
    const self = await stack.http('POST', `/v1/tasks/${approval.id}/complete`, {
      token: as('union-supervisor'),
      body: { type: 'aidPaymentApproval', form: { decision: 'approve' } },
    });
    expect(self.status).toBe(403);
    expect(self.body.type).toBe('/problems/maker_checker');
    const detail = await stack.http('GET', `/v1/tasks/${approval.id}`, { token: as('union-supervisor') });
    expect(detail.body.facts.payments).toEqual({
      payments: [expect.objectContaining({ amountCents: 200000, preparedBy: 'union-supervisor' })],
      paidByYear: {},
      earlierCasesPaidByYear: {},
      annualAidCapCents: 5_000_000,
    });
  });

  test.each([
    [
      'intakeReview',
      'body.form.consent',
      'custom',
      { decision: 'accept', consent: { dataComparison: false, sharingWithAgencies: true } },
    ],
    [
      'intakeReview',
      'body.form.reason',
      'custom',
      { decision: 'withdraw', consent: { dataComparison: true, sharingWithAgencies: true } },
    ],
    [
      'intakeReview',
      'body.form.decision',
      'invalid_value',
      { decision: 'maybe', consent: { dataComparison: true, sharingWithAgencies: true } },
    ],
    [
      'dataComparisonCivil',
      'body.form.monthlyIncomeCents',
      'too_small',
      { ...forms.civil, monthlyIncomeCents: -1 },
    ],
    ['dataComparisonCivil', 'body.form.vehicleCount', 'invalid_type', { ...forms.civil, vehicleCount: 1.5 }],
    [
      'dataComparisonCivil',
      'body.form.currentAllowances.0',
      'invalid_value',
      { ...forms.civil, currentAllowances: ['lottery'] },
    ],
    [
      'dataComparisonHr',
      'body.form.socialInsurance.medical',
      'invalid_type',
      { ...forms.hr, socialInsurance: { pension: true } },
    ],
    [
      'householdSurvey',
      'body.form.visitedOn',
      'invalid_format',
      { ...forms.surveyEligible, visitedOn: '2 March' },
    ],
    ['householdSurvey', 'body.form.members', 'too_small', { ...forms.surveyEligible, members: 0 }],
    [
      'householdSurvey',
      'body.form.expenditureItems',
      'too_small',
      { ...forms.surveyEligible, expenditureItems: [] },
    ],
    [
      'householdSurvey',
      'body.form.causes.0',
      'invalid_value',
      { ...forms.surveyEligible, causes: ['bad luck'] },
    ],
    [
      'collectiveDeliberation',
      'body.form.attendees',
      'too_small',
      { ...forms.deliberationApprove, attendees: 2 },
    ],
    [
      'collectiveDeliberation',
      'body.form.reason',
      'custom',
      { ...forms.deliberationApprove, decision: 'reject' },
    ],
    ['chairSignOff', 'body.form.reason', 'custom', { decision: 'reject' }],
    ['assistancePlan', 'body.form.measures', 'too_small', { route: 'assist', measures: [] }],
    ['assistancePlan', 'body.form.measures.0', 'custom', { route: 'assist', measures: ['free_money'] }],
    ['assistancePlan', 'body.form.route', 'invalid_union', { route: 'elsewhere' }],
    ['referralAcceptance', 'body.form.position', 'too_small', { decision: 'waitlist', position: 0 }],
    ['referralAcceptance', 'body.form.reasonCode', 'invalid_value', { decision: 'decline' }],
    ['referralOutcome', 'body.form.benefit', 'invalid_type', { result: 'granted' }],
    ['aidPaymentApproval', 'body.form.reason', 'custom', { decision: 'reject' }],
    ['cadreVisit', 'body.form.notes', 'too_small', { visitedOn: '2026-01-01', notes: '' }],
    [
      'quarterlyReview',
      'body.form.recommendation',
      'invalid_value',
      { recommendation: 'retire', notes: 'n' },
    ],
    [
      'exitApproval',
      'body.form.checklist',
      'custom',
      { decision: 'approve', checklist: { ...forms.checklistAll, housing: false } },
    ],
    ['followUpVisit', 'body.form.hardship', 'custom', { visitedOn: '2026-01-01', outcome: 'new_hardship' }],
    [
      'safetyNetCertificate',
      'body.form.submittedTo',
      'invalid_type',
      { certificateNo: 'C-1', issuedOn: '2026-01-01' },
    ],
    [
      'safetyNetEnrolment',
      'body.form.programme',
      'invalid_value',
      { decision: 'enrolled', programme: 'lottery' },
    ],
    ['appealReview', 'body.form.reason', 'invalid_type', { decision: 'uphold' }],
    ['noSuchTask', 'body.type', 'invalid_union', {}],
  ])('%s: a bad form → 400 at %s (%s)', async (type, path, code, form) => {
    const task = (await stack.db.caseTask.findFirst({
      where: { agency: 'union', status: 'open', type: 'intakeReview' },
    }))!;
    const res = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
      token: as('union-staff'),
      body: { type, form },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path, code })]));
  });
});

test("README's error example is what the API answers", async () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const example = JSON.parse(/`(\{"type":"\/problems\/invalid_input".*?\})`/.exec(readme)![1]!);
  const { task } = await referCase(stack);
  const res = await stack.http('POST', `/v1/tasks/${task.id}/complete`, {
    token: as('union-staff'),
    body: {
      type: 'intakeReview',
      form: { decision: 'accept', consent: { dataComparison: false, sharingWithAgencies: true } },
    },
  });
  expect(res.body).toEqual({
    ...example,
    instance: `/v1/tasks/${task.id}/complete`,
    requestId: expect.any(String),
  });
});

describe('cases', () => {
  test("a household referred again after its case ended gets a new case; both timelines stay whole; the ended case's actions reach nothing", async () => {
    const first = await referCase(stack);
    const withdrawn = await stack.http('POST', `/v1/cases/${first.caseId}/actions`, {
      token: as('union-staff'),
      body: { action: 'withdraw', reason: 'moved in with relatives' },
    });
    expect(withdrawn.body.stage).toBe('withdrawn');
    await eventually(async () => {
      const d = await stack.client.workflow.getHandle(first.task.workflowId).describe();
      return d.status.name === 'COMPLETED';
    });
    const again = await stack.http('POST', '/v1/referrals', { token: as('union-staff'), body: first.body });
    expect(again.status).toBe(201);
    const second = again.body.caseId as string;
    expect(second).not.toBe(first.caseId);
    expect(again.body.openTasks.map((t: any) => t.id)).toEqual([`${second}.t1`]);
    const timeline = async (caseId: string) => {
      const res = await stack.http('GET', `/v1/cases/${caseId}`, { token: as('union-staff') });
      return res.body.timeline.map((e: any) => e.type);
    };
    expect(await eventually(async () => (await timeline(second)).includes('case.referral_received'))).toBe(
      true,
    );
    expect(await timeline(first.caseId)).toEqual(
      expect.arrayContaining(['case.opened', 'case.withdrawal_requested', 'task.cancelled']),
    );
    expect(await timeline(second)).toEqual(['case.opened', 'task.opened', 'case.referral_received']);
    // The ended case's task and actions do not land on its successor under the same workflow ID.
    const late = await stack.http('POST', `/v1/cases/${first.caseId}/actions`, {
      token: as('city-coordinator'),
      body: { action: 'hold', reason: 'late click' },
    });
    expect(late.status).toBe(409);
    expect(late.body.type).toBe('/problems/case_ended');
    const oldTask = await stack.http('POST', `/v1/tasks/${first.task.id}/claim`, {
      token: as('union-staff'),
    });
    expect(oldTask.status).toBe(409);
    const now = await stack.http('GET', `/v1/cases/${second}`, { token: as('union-staff') });
    expect(now.body).toMatchObject({ stage: 'intake', onHold: false });
  });

  test('GET /v1/cases/:id: stage, open tasks, timeline; masked ID only', async () => {
    const { caseId, idNumber } = await referCase(stack);
    const res = await stack.http('GET', `/v1/cases/${caseId}`, { token: as('union-staff') });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: caseId, stage: 'intake', regionCode: REGION });
    expect(res.body.openTasks).toEqual([expect.objectContaining({ type: 'intakeReview' })]);
    expect(res.body.timeline.map((e: any) => e.type)).toEqual(
      expect.arrayContaining(['case.opened', 'task.opened']),
    );
    expect(JSON.stringify(res.body)).not.toContain(idNumber);
    const coordinator = await stack.http('GET', `/v1/cases/${caseId}`, { token: as('city-coordinator') });
    expect(coordinator.status).toBe(200);
  });

  test('another agency sees only its own part of a case, only while it has open work there', async () => {
    const { caseId, acceptance } = await caseWithHousingReferral(stack);
    const union = await stack.http('GET', `/v1/cases/${caseId}`, { token: as('union-staff') });
    expect(union.body.causes).toEqual(['illness']);
    expect(union.body.openTasks.map((t: any) => t.agency)).toContain('housing');
    const housing = await stack.http('GET', `/v1/cases/${caseId}`, { token: as('housing-staff') });
    expect(housing.status).toBe(200);
    expect(housing.body).not.toHaveProperty('causes');
    expect(housing.body.openTasks.map((t: any) => t.id)).toEqual([acceptance.id]);
    expect(new Set(housing.body.timeline.map((e: any) => e.taskId))).toEqual(new Set([acceptance.id]));
    expect(housing.body.timeline.map((e: any) => e.type)).not.toContain('case.filed');
    // Medical insurance has nothing here; civil affairs and HR compared the data long ago.
    for (const who of ['medical-insurance-staff', 'civil-affairs-staff', 'hr-staff'])
      expect((await stack.http('GET', `/v1/cases/${caseId}`, { token: as(who) })).status).toBe(404);
    // Housing declines: its work is done and the case is absent to it again.
    const declined = await stack.http('POST', `/v1/tasks/${acceptance.id}/complete`, {
      token: as('housing-staff'),
      body: { type: 'referralAcceptance', form: { decision: 'decline', reasonCode: 'quota_exhausted' } },
    });
    expect(declined.status).toBe(200);
    expect(declined.body.nextTasks).toEqual([]);
    expect((await stack.http('GET', `/v1/cases/${caseId}`, { token: as('housing-staff') })).status).toBe(404);
    // The union's read carried health data (causes): audited.
    const reads = await stack.db.auditEntry.findMany({ where: { caseId, action: 'case.read_sensitive' } });
    expect(reads.map((r) => [r.actor, r.data])).toEqual([['union-staff', { fields: ['causes'] }]]);
  });

  test('POST /v1/cases/:id/actions: the workflow decides; errors map to problems; writes are audited', async () => {
    const { caseId } = await referCase(stack);
    const hold = await stack.http('POST', `/v1/cases/${caseId}/actions`, {
      token: as('union-staff'),
      body: { action: 'hold', reason: 'x' },
    });
    expect(hold.status).toBe(403);
    const held = await stack.http('POST', `/v1/cases/${caseId}/actions`, {
      token: as('city-coordinator'),
      body: { action: 'hold', reason: 'data check' },
    });
    expect(held.status).toBe(200);
    expect(held.body.onHold).toBe(true);
    const twice = await stack.http('POST', `/v1/cases/${caseId}/actions`, {
      token: as('city-coordinator'),
      body: { action: 'hold', reason: 'again' },
    });
    expect(twice.status).toBe(409);
    const objection = await stack.http('POST', `/v1/cases/${caseId}/actions`, {
      token: as('union-staff'),
      body: { action: 'raiseObjection', text: 'neighbour objects' },
    });
    expect(objection.status).toBe(409);
    expect(objection.body.type).toBe('/problems/not_in_public_notice');
    const bad = await stack.http('POST', `/v1/cases/${caseId}/actions`, {
      token: as('union-staff'),
      body: { action: 'withdraw' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ path: 'body.reason' })]);
    const unknown = await stack.http('POST', `/v1/cases/${caseId}/actions`, {
      token: as('union-staff'),
      body: { action: 'teleport' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([
      expect.objectContaining({ path: 'body.action', code: 'invalid_union' }),
    ]);
    // Every change the workflow was asked for is audited, refused or applied; a 400 never got that far.
    const audits = await stack.db.auditEntry.findMany({ where: { caseId }, orderBy: { seq: 'asc' } });
    expect(audits.map((a) => [a.actor, a.action, (a.data as any).phase, (a.data as any).code])).toEqual([
      ['union-staff', 'referral.add', undefined, undefined],
      ['union-staff', 'case.hold', 'attempt', undefined],
      ['union-staff', 'case.hold', 'refused', 'forbidden'],
      ['city-coordinator', 'case.hold', 'attempt', undefined],
      ['city-coordinator', 'case.hold', 'applied', undefined],
      ['city-coordinator', 'case.hold', 'attempt', undefined],
      ['city-coordinator', 'case.hold', 'refused', 'already_on_hold'],
      ['union-staff', 'case.raiseObjection', 'attempt', undefined],
      ['union-staff', 'case.raiseObjection', 'refused', 'not_in_public_notice'],
    ]);
  });
});

describe('hot paths', () => {
  /** The API on the same stack over a client that counts its reads per model. */
  async function countingApi() {
    const reads: Record<string, number> = {};
    const db = stack.db.$extends({
      query: {
        $allModels: {
          $allOperations({ model, operation, args, query }) {
            if (operation.startsWith('find')) reads[model] = (reads[model] ?? 0) + 1;
            return query(args);
          },
        },
      },
    }) as unknown as Db;
    const server = await listen(
      createApp({ config: stack.config, db, client: stack.client }),
      0,
      '127.0.0.1',
    );
    const call = async (method: string, path: string, auth: string, body?: unknown) => {
      for (const k of Object.keys(reads)) delete reads[k];
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`, {
        method,
        headers: { authorization: auth, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: (await res.json()) as any, reads: { ...reads } };
    };
    return { call, close: () => server.close() };
  }

  test('a task action, a completion, a batch result and a reassign each read their rows once', async () => {
    const api = await countingApi();
    try {
      const { caseId, task } = await referCase(stack);
      const union = `Bearer ${as('union-supervisor')}`;
      // Claim: the task, then the task and the case as they now are (for the answer).
      const claim = await api.call('POST', `/v1/tasks/${task.id}/claim`, union);
      expect(claim.status).toBe(200);
      expect(claim.reads).toMatchObject({ CaseTask: 2, HouseholdCase: 1 });
      // Reassign through the case: the case, and the named task once.
      const reassign = await api.call('POST', `/v1/cases/${caseId}/actions`, union, {
        action: 'reassign',
        taskId: task.id,
        assignee: 'union-staff',
      });
      expect(reassign.status).toBe(200);
      expect(reassign.reads).toMatchObject({ CaseTask: 1, HouseholdCase: 1 });
      // A completion, by the new assignee, answers from the workflow: no case row.
      const done = await api.call(
        'POST',
        `/v1/tasks/${task.id}/complete`,
        `Bearer ${as('union-staff')}`,
        intakeForm,
      );
      expect(done.status).toBe(200);
      expect(done.reads.HouseholdCase).toBeUndefined();
      // A batch result likewise.
      const civil = await openTask(stack, caseId, 'dataComparisonCivil');
      const key = await agencyKey(stack, 'civil_affairs');
      const batch = await api.call('POST', '/v1/batch/tasks/results', `ApiKey ${key}`, {
        items: [{ taskId: civil.id, completion: { type: 'dataComparisonCivil', form: forms.civil } }],
      });
      expect(batch.body.results[0]).toMatchObject({ ok: true, status: 200, stage: 'comparison' });
      expect(batch.reads.HouseholdCase).toBeUndefined();
    } finally {
      await api.close();
    }
  });
});
