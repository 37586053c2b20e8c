import { createProjectionActivities } from '../../activities/projection';
import { createDb, type Db } from '../../db/client';
import { createTestDatabase, dropTestDatabase } from '../support/stack';
import type { ProjectionInput } from '../../activities/projection';

/** Activities are retried: the same projection or payment delivered twice must write once. */
let url: string;
let db: Db;
beforeAll(async () => {
  url = await createTestDatabase();
  db = createDb(url, 2);
});
afterAll(async () => {
  await db.$disconnect();
  await dropTestDatabase(url);
});

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
    {
      id: 'household-p1.t1',
      type: 'intakeReview',
      agency: 'union',
      regionCode: 'hl/harbin/daoli',
      workflowId: 'household-p1',
      status: 'open',
      assignee: null,
      createdAt: at,
      dueAt: '2026-03-09T15:59:59.999Z',
      remindAt: '2026-03-08T15:59:59.999Z',
      remindedAt: null,
      escalatedAt: null,
      escalatedTo: null,
      pausedRemainingMs: null,
      context: {},
      completedAt: null,
      completedBy: null,
      result: null,
    },
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

test('a payment delivered twice is paid once', async () => {
  const { disburseAid } = createProjectionActivities(db);
  const payment = {
    paymentId: 'household-p1.p1',
    caseId: 'case-p1',
    measure: 'union_living_aid',
    amountCents: 300000,
    year: 2026,
    approvedBy: 'u-sup',
  };
  const first = await disburseAid(payment);
  const again = await disburseAid(payment);
  expect(first.firstTime).toBe(true);
  expect(again).toEqual({ paidAt: first.paidAt, firstTime: false });
  expect(await db.aidDisbursement.aggregate({ _sum: { amountCents: true }, _count: true })).toEqual({
    _sum: { amountCents: 300000 },
    _count: 1,
  });
});
