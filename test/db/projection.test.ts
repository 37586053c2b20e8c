import { createProjectionActivities } from '../../activities/projection';
import type { Db } from '../../db/client';
import { openTaskRow } from '../support/fixtures';
import { useTestDatabase } from '../support/stack';
import type { ProjectionInput } from '../../activities/projection';

/** Activities are retried: the same projection or payment delivered twice must write once. */
let db: Db;
useTestDatabase(2, (d) => (db = d));

const at = '2026-03-02T01:00:00.000Z';
const input: ProjectionInput = {
  caseId: 'case-p1',
  workflowId: 'household-p1',
  case: {
    id: 'case-p1',
    workflowId: 'household-p1',
    householdKey: 'p1',
    regionCode: 'hl/harbin/daoli',
    stage: 'intake',
    tier: null,
    causes: [],
    headName: '李秀芳',
    idNumberMasked: '230***********123X',
    fileNumber: null,
    openedAt: at,
    filedAt: null,
    endedAt: null,
    onHold: false,
    policyVersion: '2026.1',
    lastEventAt: at,
    eventSeq: 2,
    facts: {},
    summary: {},
  },
  tasks: [
    openTaskRow({
      id: 'household-p1.t1',
      type: 'intakeReview',
      agency: 'union',
      regionCode: 'hl/harbin/daoli',
      workflowId: 'household-p1',
      createdAt: at,
      dueAt: '2026-03-09T15:59:59.999Z',
      remindAt: '2026-03-08T15:59:59.999Z',
    }),
  ],
  events: [
    { seq: 1, type: 'case.opened', at, actor: null, agency: null, taskId: null, data: {} },
    { seq: 2, type: 'task.opened', at, actor: null, agency: null, taskId: 'household-p1.t1', data: {} },
  ],
};

test('a projection applied twice (a retried activity) leaves one case, one task and each event once', async () => {
  const { projectCase } = createProjectionActivities(db);
  await projectCase(input);
  await projectCase(input);
  expect(await db.householdCase.count()).toBe(1);
  expect(await db.caseTask.count()).toBe(1);
  expect((await db.caseEvent.findMany({ orderBy: { seq: 'asc' } })).map((e) => e.seq)).toEqual([1, 2]);
  // A later snapshot of the same task replaces it; the events already written stay as they were.
  await projectCase({
    ...input,
    tasks: [{ ...input.tasks[0]!, status: 'completed', completedBy: 'u-staff' }],
    events: [],
  });
  expect(await db.caseTask.findUniqueOrThrow({ where: { id: 'household-p1.t1' } })).toMatchObject({
    status: 'completed',
    completedBy: 'u-staff',
  });
  expect(await db.caseEvent.count()).toBe(2);
});

const aid = (paymentId: string, caseId: string, amountCents: number, year = 2026) => ({
  paymentId,
  caseId,
  measure: 'union_living_aid',
  amountCents,
  year,
  approvedBy: 'u-sup',
});

test('a payment delivered twice is paid once', async () => {
  const { disburseAid } = createProjectionActivities(db);
  const payment = aid('household-p1.p1', 'case-p1', 300000);
  const first = await disburseAid(payment);
  const again = await disburseAid(payment);
  expect(first.firstTime).toBe(true);
  expect(again).toEqual({ paidAt: first.paidAt, firstTime: false });
  expect(await db.aidDisbursement.aggregate({ _sum: { amountCents: true }, _count: true })).toEqual({
    _sum: { amountCents: 300000 },
    _count: 1,
  });
});

test("a household's later case (same workflow ID, events numbered from 1 again) keeps both timelines", async () => {
  const { projectCase } = createProjectionActivities(db);
  const caseOf = (caseId: string) => ({
    ...input,
    caseId,
    workflowId: 'household-p2',
    case: { ...input.case!, id: caseId, workflowId: 'household-p2', householdKey: 'p2' },
    tasks: [{ ...input.tasks[0]!, id: `${caseId}.t1`, workflowId: 'household-p2' }],
  });
  await projectCase(caseOf('case-p2-first'));
  await projectCase(caseOf('case-p2-second'));
  await projectCase(caseOf('case-p2-second')); // retried
  const events = await db.caseEvent.findMany({
    where: { workflowId: 'household-p2' },
    orderBy: [{ caseId: 'asc' }, { seq: 'asc' }],
  });
  expect(events.map((e) => `${e.caseId}#${e.seq}`)).toEqual([
    'case-p2-first#1',
    'case-p2-first#2',
    'case-p2-second#1',
    'case-p2-second#2',
  ]);
});

test("a payment ID already paid to another case is refused for good, and that case's payment stays as it was", async () => {
  const { disburseAid } = createProjectionActivities(db);
  const payment = aid('household-p3.p1', 'case-p3-first', 200000);
  await disburseAid(payment);
  const refused = await disburseAid({ ...payment, caseId: 'case-p3-second', amountCents: 900000 }).catch(
    (e: unknown) => e,
  );
  expect(refused).toMatchObject({ type: 'payment_id_taken', nonRetryable: true });
  expect(await db.aidDisbursement.findMany({ where: { paymentId: 'household-p3.p1' } })).toEqual([
    expect.objectContaining({ caseId: 'case-p3-first', amountCents: 200000 }),
  ]);
});

test("a household's aid paid in its other cases, per year, for the annual cap", async () => {
  const { projectCase, disburseAid, householdAidPaid } = createProjectionActivities(db);
  for (const caseId of ['case-p4-a', 'case-p4-b', 'case-p4-c'])
    await projectCase({
      ...input,
      caseId,
      case: { ...input.case!, id: caseId, householdKey: 'p4' },
      tasks: [],
      events: [],
    });
  await disburseAid(aid('case-p4-a.p1', 'case-p4-a', 100000));
  await disburseAid(aid('case-p4-a.p2', 'case-p4-a', 50000, 2027));
  await disburseAid(aid('case-p4-b.p1', 'case-p4-b', 30000));
  await disburseAid(aid('case-p4-c.p1', 'case-p4-c', 7000));
  await disburseAid(aid('other.p1', 'case-p1', 1));
  expect(await householdAidPaid({ householdKey: 'p4', exceptCaseId: 'case-p4-c' })).toEqual({
    '2026': 130000,
    '2027': 50000,
  });
  expect(await householdAidPaid({ householdKey: 'nobody', exceptCaseId: 'x' })).toEqual({});
});
