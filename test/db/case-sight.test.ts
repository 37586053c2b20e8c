import { Prisma } from '../../generated/prisma/client';
import type { Principal } from '../../api/auth';
import { seesCase, seesCaseSql } from '../../api/routes/shared';
import type { Db } from '../../db/client';
import { useTestDatabase } from '../support/stack';

/**
 * Which cases an agency sees has a row form (GET /v1/cases/:id, GET /v1/referrals/:id) and a SQL
 * form (the referral feed): on every case below, for every principal, the two must agree.
 */
let db: Db;
useTestDatabase(2, (d) => (db = d));
const R = 'hl/harbin/daoli';
const at = new Date('2026-03-02T01:00:00Z');

type Spec = {
  region?: string;
  summary?: unknown;
  tasks?: Array<{ agency: string; status: string; workflowId?: string }>;
  referredBy?: string;
};
const cases: Record<string, Spec> = {
  'open-task': { tasks: [{ agency: 'hr', status: 'open' }] },
  correction: { tasks: [{ agency: 'hr', status: 'awaiting_correction' }] },
  'work-done': { tasks: [{ agency: 'hr', status: 'completed' }] },
  cancelled: { tasks: [{ agency: 'hr', status: 'cancelled' }] },
  'below-region': { region: `${R}/street-3`, tasks: [{ agency: 'hr', status: 'open' }] },
  elsewhere: { region: 'hl/qiqihar', tasks: [{ agency: 'hr', status: 'open' }] },
  'just-referred': {
    summary: { agencyReferrals: [{ id: 'r1', agency: 'housing', measure: 'm', status: 'pending' }] },
  },
  // The case's summary lags: the referral's own task is already done, so the work is over.
  'referral-worked': {
    summary: { agencyReferrals: [{ id: 'r1', agency: 'housing', measure: 'm', status: 'accepted' }] },
    tasks: [{ agency: 'housing', status: 'completed', workflowId: 'r1' }],
  },
  'referral-decided': {
    summary: { agencyReferrals: [{ id: 'r1', agency: 'housing', measure: 'm', status: 'granted' }] },
  },
  'summary-not-a-list': { summary: { agencyReferrals: 'none' } },
  referrer: { referredBy: 'civil_affairs', tasks: [{ agency: 'union', status: 'open' }] },
  'referrer-elsewhere': { region: 'hl/qiqihar', referredBy: 'civil_affairs' },
};
const principal = (sub: string, agency: string, roles: string[], region = R): Principal => ({
  kind: 'staff',
  sub,
  agency,
  roles: roles as Principal['roles'],
  region,
});
const principals = [
  principal('union', 'union', ['staff']),
  principal('coordinator', 'hr', ['coordinator'], 'hl/harbin'),
  principal('hr', 'hr', ['staff']),
  principal('hr-sibling', 'hr', ['staff'], 'hl/harbin/nangang'),
  principal('housing', 'housing', ['staff']),
  principal('civil', 'civil_affairs', ['staff']),
];

beforeAll(async () => {
  for (const [name, spec] of Object.entries(cases)) {
    const id = `sight-${name}`;
    await db.householdCase.create({
      data: {
        id,
        workflowId: `household-${name}`,
        householdKey: name,
        regionCode: spec.region ?? R,
        stage: 'intake',
        causes: [],
        headName: '李秀芳',
        idNumberMasked: '230***********123X',
        openedAt: at,
        policyVersion: '2026.1',
        lastEventAt: at,
        eventSeq: 1,
        facts: {},
        summary: (spec.summary ?? {}) as Prisma.InputJsonValue,
      },
    });
    for (const [n, t] of (spec.tasks ?? []).entries())
      await db.caseTask.create({
        data: {
          id: `${id}.t${n}`,
          caseId: id,
          workflowId: t.workflowId ?? `household-${name}`,
          type: 'dataComparisonHr',
          agency: t.agency,
          regionCode: spec.region ?? R,
          status: t.status,
          createdAt: at,
          dueAt: at,
          context: {},
        },
      });
    if (spec.referredBy)
      await db.caseEvent.create({
        data: {
          workflowId: `household-${name}`,
          seq: 1,
          caseId: id,
          type: 'case.referral_received',
          at,
          actor: 'someone',
          agency: spec.referredBy,
          data: {},
        },
      });
  }
});

async function bySql(p: Principal, referrers: boolean): Promise<string[]> {
  const rows = await db.$queryRaw<Array<{ id: string }>>`
    SELECT c."id" FROM "HouseholdCase" c
     WHERE c."id" LIKE 'sight-%' AND ${seesCaseSql(p, 'c', { referrers })} ORDER BY c."id"`;
  return rows.map((r) => r.id);
}
async function byRows(p: Principal, referrers: boolean): Promise<string[]> {
  const seen: string[] = [];
  for (const c of await db.householdCase.findMany({ where: { id: { startsWith: 'sight-' } } })) {
    const mine = await db.caseTask.findMany({ where: { caseId: c.id, agency: p.agency } });
    const referred =
      referrers &&
      (await db.caseEvent.count({
        where: { caseId: c.id, type: 'case.referral_received', agency: p.agency },
      })) > 0;
    if (seesCase(p, c, mine, referred)) seen.push(c.id);
  }
  return seen.sort();
}

test.each(principals.flatMap((p) => [false, true].map((referrers) => [p.sub, referrers, p] as const)))(
  '%s (referrers: %s): the SQL form and the row form see the same cases',
  async (_sub, referrers, p) => {
    expect(await bySql(p, referrers)).toEqual(await byRows(p, referrers));
  },
);

test('the rule itself: open work, an undecided referral not yet tasked, or (following referrals) the referrer', async () => {
  const named = async (sub: string, referrers: boolean) =>
    (
      await bySql(
        principals.find((p) => p.sub === sub)!,
        referrers,
      )
    ).map((id) => id.slice('sight-'.length));
  expect(await named('hr', false)).toEqual(['below-region', 'correction', 'open-task']);
  expect(await named('hr-sibling', false)).toEqual([]);
  expect(await named('housing', false)).toEqual(['just-referred']);
  expect(await named('civil', false)).toEqual([]);
  expect(await named('civil', true)).toEqual(['referrer']);
  expect((await named('union', false)).length).toBe(Object.keys(cases).length - 2);
  expect((await named('coordinator', false)).length).toBe(Object.keys(cases).length - 2);
});
