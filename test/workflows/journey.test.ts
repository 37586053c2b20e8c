import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { resolveTool } from '../../scripts/tools';
import { CaseDriver } from '../support/caseDriver';
import { recordHistories } from '../support/histories';
import { quietLogger, quietTemporalRuntime } from '../support/quietRuntime';
import { actors, calendar, forms, household, testPolicy } from '../support/fixtures';
import { addWorkingDays, workingDaysBetween } from '../../domain/calendar/workingDays';
import { memoryActivities, type MemoryStore } from '../support/memoryActivities';
import type { Policy } from '../../domain/policy';
import {
  act as actUpdate,
  completeTask as completeTaskUpdate,
  householdCase,
  referralUpdate,
} from '../../workflows/householdCase';
import { caseStateAtSignOff } from '../support/pastCase';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;
let seq = 0;

beforeAll(async () => {
  quietTemporalRuntime();
  bundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: quietLogger,
  });
});

/**
 * Each test gets its own time-skipping server (about 120 ms to start). The server leaks its
 * time-skipping lock when a workflow is terminated with a workflow task or activity in flight, and
 * a leaked lock stops the clock for good: sharing one server let one test's end stall every later
 * test (reproduced in CI and locally: every test after the sixth stalled).
 */
async function withCase(
  fn: (c: CaseDriver, store: MemoryStore) => Promise<void>,
  policy: Policy = testPolicy(),
) {
  const taskQueue = `journey-${++seq}`;
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTool('temporal-test-server') } },
  });
  const store = memoryActivities();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: store.activities,
  });
  const driver = new CaseDriver(
    env.client,
    taskQueue,
    store,
    `household-test-${seq}-${Date.now()}`,
    household(),
    policy,
  );
  current = { driver, store };
  // A stalled case fails its own test with a report instead of running into jest's timeout.
  let watchdog: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    watchdog = setTimeout(() => {
      void describeStall(caseWorkflowIds(driver, store)).then((report) =>
        reject(new Error(`case stalled for ${STALL_MS / 1000} s:\n${report}`)),
      );
    }, STALL_MS);
  });
  try {
    await worker.runUntil(async () => {
      try {
        await Promise.race([fn(driver, store), stalled]);
        // `RECORD_HISTORIES=1 npx jest test/workflows/journey.test.ts` refreshes the replay corpus.
        if (process.env.RECORD_HISTORIES === '1') {
          await quiesce();
          const ids = caseWorkflowIds(driver, store);
          await recordHistories(env.client, expect.getState().currentTestName ?? `case-${seq}`, [...ids]);
        }
      } finally {
        // End what still runs once nothing is in flight, while the worker can still finish tasks.
        await quiesce();
        await Promise.all(
          caseWorkflowIds(driver, store).map((id) =>
            env.client.workflow
              .getHandle(id)
              .terminate('test over')
              .catch(() => undefined),
          ),
        );
      }
    });
  } finally {
    clearTimeout(watchdog);
    current = undefined;
    await env.teardown();
  }
}

const DAY = 24 * 3600_000;
const STALL_MS = 60_000;

/** Referral → intake → comparison → survey → deliberation → notice → sign-off: a filed case. */
async function fileCase(c: CaseDriver) {
  await c.refer(actors.unionStaff);
  await c.complete('intakeReview', forms.intakeAccept, actors.unionStaff);
  await c.complete('dataComparisonCivil', forms.civil, actors.civil);
  await c.complete('dataComparisonHr', forms.hr, actors.hr);
  await c.complete('householdSurvey', forms.surveyEligible, actors.unionStaff);
  await c.complete('collectiveDeliberation', forms.deliberationApprove, actors.unionStaff);
  await skip(8 * DAY);
  return c.complete('chairSignOff', forms.sign, actors.chair);
}

/** A filed case with union living aid in its plan, prepared by staff and approved by a supervisor. */
async function fileCaseAndPay(c: CaseDriver, amountCents: number) {
  await fileCase(c);
  return planAndPay(c, amountCents);
}

async function planAndPay(c: CaseDriver, amountCents: number) {
  await c.complete('assistancePlan', { route: 'assist', measures: ['union_living_aid'] }, actors.unionStaff);
  await c.act({ action: 'prepareAidPayment', measure: 'union_living_aid', amountCents }, actors.unionStaff);
  return c.complete('aidPaymentApproval', { decision: 'approve' }, actors.unionSupervisor);
}

test('happy path: referral to filing, plan, exit, follow-ups at 3 and 6 months, closure', async () => {
  await withCase(async (c, store) => {
    const start = await c.refer(actors.unionStaff);
    expect(start.stage).toBe('intake');
    expect(start.openTasks.map((t) => t.type)).toEqual(['intakeReview']);
    const afterIntake = await c.complete('intakeReview', forms.intakeAccept, actors.unionStaff);
    expect(afterIntake.stage).toBe('comparison');
    expect(afterIntake.openTasks.map((t) => t.type).sort()).toEqual([
      'dataComparisonCivil',
      'dataComparisonHr',
    ]);
    await c.complete('dataComparisonCivil', forms.civil, actors.civil);
    expect((await c.complete('dataComparisonHr', forms.hr, actors.hr)).stage).toBe('survey');
    const assessed = await c.complete('householdSurvey', forms.surveyEligible, actors.unionStaff);
    expect(assessed.tier).toBe('deep'); // gap 350000 - 150000 = ¥2,000 a month ≥ deep threshold
    expect(
      (await c.complete('collectiveDeliberation', forms.deliberationApprove, actors.unionStaff)).stage,
    ).toBe('public_notice');
    await skip(8 * DAY);
    expect((await c.view()).stage).toBe('sign_off');
    const filed = await c.complete('chairSignOff', forms.sign, actors.chair);
    expect(filed.stage).toBe('planning');
    expect(filed.fileNumber).toMatch(/^hl-harbin-daoli-2\d{3}-/);
    const plan = await c.complete(
      'assistancePlan',
      { route: 'assist', measures: ['union_living_aid'] },
      actors.unionStaff,
    );
    expect(plan.stage).toBe('assisting');
    await c.act({ action: 'proposeExit', note: 'wife employed, medical costs covered' }, actors.unionStaff);
    const exit = await c.complete(
      'exitApproval',
      { decision: 'approve', checklist: forms.checklistAll },
      actors.chair,
    );
    expect(exit.stage).toBe('gradual_exit');
    await skip(92 * DAY);
    await c.complete('followUpVisit', { visitedOn: '2026-06-01', outcome: 'stable' }, actors.unionStaff);
    expect((await c.view()).stage).toBe('gradual_exit');
    await skip(92 * DAY);
    const closed = await c.complete(
      'followUpVisit',
      { visitedOn: '2026-09-01', outcome: 'stable' },
      actors.unionStaff,
    );
    expect(closed.stage).toBe('closed');
    expect(await c.handle().result()).toMatchObject({ stage: 'closed' });
    expect(store.eventTypes(c.caseId)).toEqual(
      expect.arrayContaining(['case.filed', 'notice.passed', 'case.stage_changed']),
    );
    expect(store.cases.get(c.caseId)?.stage).toBe('closed');
  });
});

test('not eligible: no monthly gap, no appeal within the window → ineligible', async () => {
  await withCase(async (c) => {
    await c.refer(actors.unionStaff);
    await c.complete('intakeReview', forms.intakeAccept, actors.unionStaff);
    await c.complete('dataComparisonCivil', forms.civil, actors.civil);
    await c.complete('dataComparisonHr', forms.hr, actors.hr);
    const v = await c.complete('householdSurvey', forms.surveyIneligible, actors.unionStaff);
    expect(v.stage).toBe('not_eligible');
    await skip(30 * DAY); // 15 working days pass
    expect(await c.handle().result()).toMatchObject({
      stage: 'ineligible',
      ending: { reason: expect.stringContaining('no appeal') },
    });
  });
});

test('an appeal within the window opens a review; upheld, the case is surveyed again', async () => {
  await withCase(async (c) => {
    await c.refer(actors.unionStaff);
    await c.complete('intakeReview', forms.intakeAccept, actors.unionStaff);
    await c.complete('dataComparisonCivil', forms.civil, actors.civil);
    await c.complete('dataComparisonHr', forms.hr, actors.hr);
    await c.complete('householdSurvey', forms.surveyIneligible, actors.unionStaff);
    await skip(3 * DAY);
    const appealed = await c.act(
      { action: 'fileAppeal', reason: 'medical bills were left out of the survey' },
      actors.unionStaff,
    );
    expect(appealed.stage).toBe('appeal_review');
    expect(
      await rejection(
        c.complete('appealReview', { decision: 'uphold', reason: 'bills verified' }, actors.unionStaff),
      ),
    ).toMatch(/supervisor/);
    const upheld = await c.complete(
      'appealReview',
      { decision: 'uphold', reason: 'bills verified' },
      actors.unionSupervisor,
    );
    expect(upheld.stage).toBe('survey');
    expect((await c.complete('householdSurvey', forms.surveyEligible, actors.unionStaff)).stage).toBe(
      'deliberation',
    );
  });
});

test('an objection during the public notice sends the case back to verification', async () => {
  await withCase(async (c, store) => {
    await c.refer(actors.unionStaff);
    await c.complete('intakeReview', forms.intakeAccept, actors.unionStaff);
    await c.complete('dataComparisonCivil', forms.civil, actors.civil);
    await c.complete('dataComparisonHr', forms.hr, actors.hr);
    await c.complete('householdSurvey', forms.surveyEligible, actors.unionStaff);
    await c.complete('collectiveDeliberation', forms.deliberationApprove, actors.unionStaff);
    await skip(2 * DAY);
    const back = await c.act(
      { action: 'raiseObjection', text: 'neighbour reports a second flat' },
      actors.unionStaff,
    );
    expect(back.stage).toBe('survey');
    await skip(8 * DAY); // the old notice's end passes: nothing may be signed from it
    expect((await c.view()).stage).toBe('survey');
    expect(await rejection(c.act({ action: 'raiseObjection', text: 'again' }, actors.unionStaff))).toMatch(
      /not_in_public_notice/,
    );
    await c.complete('householdSurvey', forms.surveyEligible, actors.unionStaff);
    await c.complete('collectiveDeliberation', forms.deliberationApprove, actors.unionStaff);
    await skip(8 * DAY);
    expect((await c.complete('chairSignOff', forms.sign, actors.chair)).stage).toBe('planning');
    expect(store.eventTypes(c.caseId).filter((t) => t === 'notice.objection')).toHaveLength(1);
  });
});

test('an agency declines a referral with a coded reason; the case sees it', async () => {
  await withCase(async (c, store) => {
    await fileCase(c);
    await c.complete(
      'assistancePlan',
      { route: 'assist', measures: ['public_rental_housing', 'medical_assistance'] },
      actors.unionStaff,
    );
    const housingTask = await waitFor(() =>
      store.openTasks(c.caseId, 'referralAcceptance').find((t) => t.agency === 'housing'),
    );
    const wrongAgency = c.client.workflow
      .getHandle(housingTask.workflowId)
      .executeUpdate(completeTaskUpdate, {
        args: [
          {
            taskId: housingTask.id,
            actor: actors.medical,
            completion: { type: 'referralAcceptance', form: { decision: 'accept' } },
          },
        ],
      });
    expect(await rejection(wrongAgency)).toMatch(/forbidden: this referral belongs to agency housing/);
    await c.client.workflow.getHandle(housingTask.workflowId).executeUpdate(completeTaskUpdate, {
      args: [
        {
          taskId: housingTask.id,
          actor: actors.housing,
          completion: {
            type: 'referralAcceptance',
            form: { decision: 'decline', reasonCode: 'quota_exhausted' },
          },
        },
      ],
    });
    const view = await waitFor(async () => {
      const v = await c.view();
      return v.referrals.find((r) => r.measure === 'public_rental_housing' && r.status === 'declined')
        ? v
        : undefined;
    });
    expect(view.referrals.find((r) => r.measure === 'public_rental_housing')).toMatchObject({
      agency: 'housing',
      status: 'declined',
      outcome: { reasonCode: 'quota_exhausted' },
    });
    expect(view.referrals.find((r) => r.measure === 'medical_assistance')?.status).toBe('pending');
  });
});

test('a referral can be waitlisted (公租房轮候) then granted, and the union can revoke another', async () => {
  await withCase(async (c, store) => {
    await fileCase(c);
    await c.complete(
      'assistancePlan',
      { route: 'assist', measures: ['public_rental_housing', 'skills_training'] },
      actors.unionStaff,
    );
    const housing = await waitFor(() =>
      store.openTasks(c.caseId, 'referralAcceptance').find((t) => t.agency === 'housing'),
    );
    const h = c.client.workflow.getHandle(housing.workflowId);
    await h.executeUpdate(completeTaskUpdate, {
      args: [
        {
          taskId: housing.id,
          actor: actors.housing,
          completion: { type: 'referralAcceptance', form: { decision: 'waitlist', position: 12 } },
        },
      ],
    });
    const outcomeTask = await waitFor(() =>
      store.openTasks(c.caseId, 'referralOutcome').find((t) => t.agency === 'housing'),
    );
    await h.executeUpdate(completeTaskUpdate, {
      args: [
        {
          taskId: outcomeTask.id,
          actor: actors.housing,
          completion: {
            type: 'referralOutcome',
            form: { result: 'granted', benefit: 'two-room flat, rent ¥120/month' },
          },
        },
      ],
    });
    const hr = await waitFor(async () =>
      (await c.view()).referrals.find((r) => r.measure === 'skills_training'),
    );
    await c.act(
      { action: 'revokeReferral', referralId: hr.id, reason: 'household member found work' },
      actors.unionStaff,
    );
    const v = await waitFor(async () => {
      const view = await c.view();
      const statuses = view.referrals.map((r) => r.status).sort();
      return statuses.join() === 'granted,revoked' ? view : undefined;
    });
    expect(v.referrals.find((r) => r.measure === 'public_rental_housing')).toMatchObject({
      status: 'granted',
      waitlistPosition: 12,
    });
    expect(store.openTasks(c.caseId, 'referralAcceptance')).toHaveLength(0);
  });
});

test('an overdue task is reminded, then escalated to its target; a coordinator extends it', async () => {
  await withCase(async (c, store) => {
    await c.refer(actors.unionStaff);
    const task = c.task('intakeReview');
    // The server's clock, not this process's: time skipping has moved it on.
    await skip(Date.parse(task.dueAt) - (await env.currentTimeMs()) - 12 * 3600_000);
    expect(taskEvents(store, task.id)).toEqual(['task.opened', 'task.reminded']);
    await skip(13 * 3600_000);
    const escalated = store.events.find((e) => e.taskId === task.id && e.type === 'task.escalated');
    expect(escalated?.data).toMatchObject({ to: { agency: 'union', role: 'supervisor' } });
    expect(store.tasks.get(task.id)?.escalatedTo).toEqual({ agency: 'union', role: 'supervisor' });
    expect(store.tasks.get(task.id)?.status).toBe('open'); // nothing is dropped
    expect(
      await rejection(
        c.act(
          { action: 'extendDeadline', taskId: task.id, by: { workingDays: 3 }, reason: 'staff sick' },
          actors.unionStaff,
        ),
      ),
    ).toMatch(/coordinator/);
    await c.act(
      { action: 'extendDeadline', taskId: task.id, by: { workingDays: 3 }, reason: 'staff sick' },
      actors.coordinator,
    );
    expect(Date.parse(store.tasks.get(task.id)!.dueAt)).toBeGreaterThan(await env.currentTimeMs());
    expect(store.tasks.get(task.id)?.escalatedAt).toBeNull();
  });
});

test('union aid: maker ≠ checker, within the annual cap, paid exactly once', async () => {
  await withCase(async (c, store) => {
    await fileCase(c);
    await c.complete(
      'assistancePlan',
      { route: 'assist', measures: ['union_living_aid'] },
      actors.unionStaff,
    );
    await c.act(
      { action: 'prepareAidPayment', measure: 'union_living_aid', amountCents: 3_000_000 },
      actors.unionSupervisor,
    );
    // The preparer may not approve their own payment.
    expect(
      await rejection(c.complete('aidPaymentApproval', { decision: 'approve' }, actors.unionSupervisor)),
    ).toMatch(/must not be the person who prepared/);
    // A second payment that would take the year over ¥50,000 is refused.
    expect(
      await rejection(
        c.act(
          { action: 'prepareAidPayment', measure: 'union_living_aid', amountCents: 2_500_000 },
          actors.unionStaff,
        ),
      ),
    ).toMatch(/annual cap/);
    const approver = { ...actors.unionStaff2, roles: ['staff', 'supervisor'] as ('staff' | 'supervisor')[] };
    const paid = await c.complete('aidPaymentApproval', { decision: 'approve' }, approver);
    expect(paid.payments[0]).toMatchObject({
      status: 'paid',
      amountCents: 3_000_000,
      preparedBy: 'u-sup',
      approvedBy: 'u-staff-2',
    });
    expect(Object.values(paid.paidByYear)).toEqual([3_000_000]);
    expect([...store.disbursed.values()]).toEqual([3_000_000]);
    await c.act(
      { action: 'prepareAidPayment', measure: 'golden_autumn_education', amountCents: 2_000_000 },
      actors.unionStaff,
    );
    expect((await c.view()).payments.map((p) => p.status)).toEqual(['paid', 'pending_approval']);
  });
});

test('a new hardship at the 3-month visit reopens assistance on the same case', async () => {
  await withCase(async (c, store) => {
    await fileCase(c);
    await c.complete('assistancePlan', { route: 'assist', measures: ['job_placement'] }, actors.unionStaff);
    await c.act({ action: 'proposeExit', note: 'employed' }, actors.unionStaff);
    await c.complete('exitApproval', { decision: 'approve', checklist: forms.checklistAll }, actors.chair);
    await skip(92 * DAY);
    const v = await c.complete(
      'followUpVisit',
      {
        visitedOn: '2026-06-01',
        outcome: 'new_hardship',
        hardship: { cause: 'illness', description: 'diagnosed with cancer' },
      },
      actors.unionStaff,
    );
    expect(v.stage).toBe('planning');
    expect(v.reopenCount).toBe(1);
    expect(v.caseId).toBe(c.caseId);
    await skip(92 * DAY); // the 6-month follow-up was cancelled with the exit
    expect(store.openTasks(c.caseId, 'followUpVisit')).toHaveLength(0);
    expect(store.eventTypes(c.caseId)).toEqual(expect.arrayContaining(['case.filed', 'case.reopened']));
  });
});

test('exit approval needs every item of "two haves, five guarantees"', async () => {
  await withCase(async (c) => {
    await fileCase(c);
    await c.complete('assistancePlan', { route: 'assist', measures: ['job_placement'] }, actors.unionStaff);
    await c.act({ action: 'proposeExit', note: 'employed' }, actors.unionStaff);
    expect(
      await rejection(
        c.complete(
          'exitApproval',
          { decision: 'approve', checklist: { ...forms.checklistAll, housing: false } },
          actors.chair,
        ),
      ),
    ).toMatch(/two haves, five guarantees/);
  });
});

test('safety-net handoff from the plan: certificate by the union, enrolment by civil affairs', async () => {
  await withCase(async (c) => {
    await fileCase(c);
    const v = await c.complete(
      'assistancePlan',
      { route: 'safety_net', reason: 'no working capacity' },
      actors.unionStaff,
    );
    expect(v.stage).toBe('safety_net_handoff');
    await c.complete(
      'safetyNetCertificate',
      { certificateNo: 'HB-2026-001', issuedOn: '2026-04-01', submittedTo: 'Jingyu street office' },
      actors.unionStaff,
    );
    await c.complete(
      'safetyNetEnrolment',
      { decision: 'enrolled', programme: 'minimum_living_allowance' },
      actors.civil,
    );
    expect(await c.handle().result()).toMatchObject({ stage: 'safety_net' });
  });
});

test('safety-net handoff when the programme deadline passes with the household still assisted', async () => {
  // Each test's server starts its clock at the real time.
  const deadline = new Date(Date.now() + 200 * DAY).toISOString().slice(0, 10);
  await withCase(
    async (c, store) => {
      await fileCase(c);
      await c.complete('assistancePlan', { route: 'assist', measures: ['job_placement'] }, actors.unionStaff);
      await skip(210 * DAY);
      expect((await c.view()).stage).toBe('safety_net_handoff');
      expect(store.eventTypes(c.caseId)).toContain('case.program_deadline_reached');
    },
    testPolicy({ programDeadline: deadline }),
  );
});

test('withdrawal ends the case with its reason and cancels open tasks', async () => {
  await withCase(async (c, store) => {
    await c.refer(actors.unionStaff);
    await c.complete('intakeReview', forms.intakeAccept, actors.unionStaff);
    const v = await c.act(
      { action: 'withdraw', reason: 'household moved to another province' },
      actors.unionStaff,
    );
    expect(v).toMatchObject({
      stage: 'withdrawn',
      ending: { reason: 'household moved to another province' },
      openTasks: [],
    });
    expect([...store.tasks.values()].filter((t) => t.status === 'cancelled')).toHaveLength(2);
  });
});

test('a task returned for missing documents (补正) stops its clock until they arrive', async () => {
  await withCase(async (c, store) => {
    await c.refer(actors.unionStaff);
    const task = c.task('intakeReview');
    await c.act(
      { action: 'returnForCorrection', taskId: task.id, reason: 'hukou booklet missing' },
      actors.unionStaff,
    );
    await skip(20 * DAY); // would be long overdue if the clock ran
    expect(store.events.some((e) => e.taskId === task.id && e.type === 'task.escalated')).toBe(false);
    expect(await rejection(c.complete('intakeReview', forms.intakeAccept, actors.unionStaff))).toMatch(
      /awaiting a correction/,
    );
    await c.act({ action: 'correctionReceived', taskId: task.id }, actors.unionStaff);
    // The working days left when it stopped, counted again from the day the documents arrived.
    const stopped = eventAt(store, task.id, 'task.returned_for_correction');
    const restarted = eventAt(store, task.id, 'task.correction_received');
    expect(store.tasks.get(task.id)!.dueAt).toBe(recounted(task.dueAt, stopped, restarted));
  });
});

test('a case on hold keeps its timers still, and they resume shifted by the hold', async () => {
  await withCase(async (c, store) => {
    await c.refer(actors.unionStaff);
    const task = c.task('intakeReview');
    await c.act({ action: 'hold', reason: 'household in hospital' }, actors.coordinator);
    await skip(30 * DAY);
    expect(store.events.some((e) => e.taskId === task.id && e.type === 'task.reminded')).toBe(false);
    await c.act({ action: 'resume' }, actors.coordinator);
    const [held, resumed] = ['case.held', 'case.resumed'].map(
      (t) => store.events.find((e) => e.type === t)!.at,
    );
    expect(store.tasks.get(task.id)!.dueAt).toBe(recounted(task.dueAt, held!, resumed!));
  });
});

test('continue-as-new carries open tasks, schedule and paid-to-date totals', async () => {
  await withCase(
    async (c) => {
      await fileCaseAndPay(c, 1_000_000);
      const firstRun = (await c.handle().describe()).runId;
      await skip(200 * DAY); // quarterly reviews and visits push the history past 50 events
      const desc = await c.handle().describe();
      expect(desc.runId).not.toBe(firstRun);
      const v = await c.view();
      expect(v.caseId).toBe(c.caseId);
      expect(Object.values(v.paidByYear).reduce((a, b) => a + b, 0)).toBe(1_000_000);
      expect(v.openTasks.map((t) => t.type)).toEqual(
        expect.arrayContaining(['quarterlyReview', 'cadreVisit']),
      );
      // The carried-over tasks are still workable in the new run.
      const review = v.openTasks.find((t) => t.type === 'quarterlyReview')!;
      const after = await c.handle().executeUpdate(completeTaskUpdate, {
        args: [
          {
            taskId: review.id,
            actor: actors.unionStaff,
            completion: { type: 'quarterlyReview', form: { recommendation: 'continue', notes: 'stable' } },
          },
        ],
      });
      expect(after.openTasks.find((t) => t.id === review.id)).toBeUndefined();
    },
    testPolicy({ maxHistoryEvents: 50 }),
  );
});

test('two concurrent referrals for one household make one case', async () => {
  await withCase(async (c) => {
    const [a, b] = await Promise.all([
      c.refer(actors.unionStaff, { source: 'cadre', referrer: 'street union' }),
      c.refer(actors.civil, {
        source: 'agency',
        referrer: 'civil affairs verification system',
        externalRef: 'CA-77',
      }),
    ]);
    expect(a.caseId).toBe(b.caseId);
    // The one whose update-with-start started the case says so; the other joined it.
    expect([a.referral, b.referral].sort()).toEqual(['joined', 'started']);
    const v = await c.view();
    expect(v.referralCount).toBe(2);
    expect(v.openTasks.filter((t) => t.type === 'intakeReview')).toHaveLength(1);
  });
});

test('a referral sent again joins nothing twice; a referrer of another region learns nothing of the case', async () => {
  await withCase(async (c, store) => {
    const integrator = { source: 'agency', referrer: 'civil affairs system', externalRef: 'CA-77' } as const;
    expect((await c.refer(actors.unionStaff)).referral).toBe('started');
    const joined = await c.refer(actors.civil, integrator);
    const again = await c.refer(actors.civil, integrator);
    expect(joined.referral).toBe('joined');
    expect(again).toEqual({ ...joined, referral: 'duplicate' });
    expect(again.referralCount).toBe(2);
    // The founding referral sent again is a duplicate too, not a new start.
    expect((await c.refer(actors.unionStaff)).referral).toBe('duplicate');
    const elsewhere = c.refer(actors.otherRegion, { source: 'cadre', referrer: 'Qiqihar street union' });
    expect(await rejection(elsewhere)).toBe(
      "handled_by_another_region: this household's case is handled by another region; contact the joint office",
    );
    await quiesce();
    expect(store.eventTypes(c.caseId).filter((t) => t === 'case.referral_received')).toHaveLength(2);
  });
});

test('a 3-year case: quarterly reviews and twice-yearly visits keep coming across continue-as-new', async () => {
  await withCase(
    async (c) => {
      await fileCase(c);
      await c.complete('assistancePlan', { route: 'assist', measures: ['job_placement'] }, actors.unionStaff);
      const firstRun = (await c.handle().describe()).runId;
      const runs = new Set([firstRun]);
      let reviews = 0;
      const started = Date.now();
      for (let quarter = 0; quarter < 12; quarter++) {
        await skip(92 * DAY);
        runs.add((await c.handle().describe()).runId);
        const v = await c.view();
        for (const t of v.openTasks.filter((x) => x.type === 'quarterlyReview' || x.type === 'cadreVisit')) {
          const form =
            t.type === 'quarterlyReview'
              ? { recommendation: 'continue', notes: `Q${quarter}` }
              : { visitedOn: '2027-01-01', notes: 'visited' };
          await c.handle().executeUpdate(completeTaskUpdate, {
            args: [{ taskId: t.id, actor: actors.unionStaff, completion: { type: t.type, form } as never }],
          });
          await quiesce(); // the Update may have tipped the history over: let continue-as-new finish
          if (t.type === 'quarterlyReview') reviews++;
        }
      }
      threeYearMs = Date.now() - started;
      const v = await c.view();
      expect(reviews).toBeGreaterThanOrEqual(11);
      expect(runs.size).toBeGreaterThan(2); // the history was handed to fresh runs along the way
      expect(v.caseId).toBe(c.caseId);
      expect(v.stage).toBe('assisting');
      expect(v.openTasks.filter((t) => t.type === 'quarterlyReview')).toHaveLength(0);
    },
    testPolicy({ maxHistoryEvents: 200 }),
  );
});

test('a stuck referral: a coordinator extends its deadline; the agency returns it for documents, then accepts', async () => {
  await withCase(async (c, store) => {
    await fileCase(c);
    await c.complete('assistancePlan', { route: 'assist', measures: ['rent_subsidy'] }, actors.unionStaff);
    const task = await waitFor(() => store.openTasks(c.caseId, 'referralAcceptance')[0]);
    const referral = c.client.workflow.getHandle(task.workflowId);
    await skip(Date.parse(task.dueAt) - (await env.currentTimeMs()) + 3600_000);
    expect(store.tasks.get(task.id)?.escalatedTo).toEqual({ agency: 'housing', role: 'supervisor' });
    const extend = {
      action: 'extendDeadline',
      taskId: task.id,
      by: { workingDays: 5 },
      reason: 'quota review',
    } as const;
    expect(
      await rejection(
        referral.executeUpdate(actUpdate, { args: [{ actor: actors.housing, command: extend }] }),
      ),
    ).toMatch(/supervisor/);
    await referral.executeUpdate(actUpdate, { args: [{ actor: actors.coordinator, command: extend }] });
    expect(store.tasks.get(task.id)?.escalatedAt).toBeNull();
    await referral.executeUpdate(actUpdate, {
      args: [
        {
          actor: actors.housing,
          command: { action: 'returnForCorrection', taskId: task.id, reason: 'lease contract missing' },
        },
      ],
    });
    expect(store.tasks.get(task.id)?.status).toBe('awaiting_correction');
    await referral.executeUpdate(actUpdate, {
      args: [{ actor: actors.housing, command: { action: 'correctionReceived', taskId: task.id } }],
    });
    await referral.executeUpdate(completeTaskUpdate, {
      args: [
        {
          taskId: task.id,
          actor: actors.housing,
          completion: { type: 'referralAcceptance', form: { decision: 'accept' } },
        },
      ],
    });
    await waitFor(async () => (await c.view()).referrals.find((r) => r.status === 'accepted'));
  });
});

test("a hold stops the referrals' clocks too, and resuming shifts their deadlines", async () => {
  await withCase(async (c, store) => {
    const task = await fileAndReferToMedicalInsurance(c, store);
    await c.act({ action: 'hold', reason: 'household hospitalised' }, actors.coordinator);
    await waitFor(() =>
      store.events.find((e) => e.workflowId === task.workflowId && e.type === 'referral.held'),
    );
    await skip(40 * DAY);
    expect(store.events.some((e) => e.taskId === task.id && e.type === 'task.escalated')).toBe(false);
    await c.act({ action: 'resume' }, actors.coordinator);
    const resumed = await waitFor(() =>
      store.events.find((e) => e.workflowId === task.workflowId && e.type === 'referral.resumed'),
    );
    const held = store.events.find((e) => e.workflowId === task.workflowId && e.type === 'referral.held')!;
    expect(store.tasks.get(task.id)!.dueAt).toBe(recounted(task.dueAt, held.at, resumed.at));
  });
});

test('a referral sent while the case is on hold starts held, and gets its whole deadline after the resume', async () => {
  await withCase(async (c, store) => {
    await fileCase(c);
    await c.act({ action: 'hold', reason: 'household hospitalised' }, actors.coordinator);
    // Work is still accepted while held: the plan sends a referral to medical insurance.
    await c.complete(
      'assistancePlan',
      { route: 'assist', measures: ['medical_assistance'] },
      actors.unionStaff,
    );
    const task = await waitFor(() => store.openTasks(c.caseId, 'referralAcceptance')[0]);
    await waitFor(() =>
      store.events.find((e) => e.workflowId === task.workflowId && e.type === 'referral.held'),
    );
    await skip(20 * DAY);
    expect(taskEvents(store, task.id)).toEqual(['task.opened']);
    await c.act({ action: 'resume' }, actors.coordinator);
    const resumed = await waitFor(() =>
      store.events.find((e) => e.workflowId === task.workflowId && e.type === 'referral.resumed'),
    );
    expect(store.tasks.get(task.id)!.dueAt).toBe(recounted(task.dueAt, task.createdAt, resumed.at));
  });
});

/** A working-day deadline stopped at `stoppedAt`, started again at `restartedAt`: the days left, recounted. */
function recounted(dueAt: string, stoppedAt: string, restartedAt: string): string {
  return addWorkingDays(restartedAt, workingDaysBetween(stoppedAt, dueAt, calendar), calendar);
}

/** A task's own events (not `calendar.*` flags, which depend on the day the suite runs). */
function taskEvents(store: MemoryStore, taskId: string): string[] {
  return store.events.filter((e) => e.taskId === taskId && e.type.startsWith('task.')).map((e) => e.type);
}

function eventAt(store: MemoryStore, taskId: string, type: string): string {
  return store.events.find((e) => e.taskId === taskId && e.type === type)!.at;
}

test('a household referred again after its case ended (返困) gets a new case: own IDs, both timelines, one annual cap', async () => {
  await withCase(async (c, store) => {
    // Both cases in one calendar year whenever the suite runs: they start on the coming 2 March.
    await env.sleep(untilNextLocal(await env.currentTimeMs(), 3, 2));
    await fileCaseAndPay(c, 3_000_000);
    const withdrawn = await c.act(
      { action: 'withdraw', reason: 'moved in with relatives' },
      actors.unionStaff,
    );
    expect(withdrawn.stage).toBe('withdrawn');
    // (Not `result()`: on this server, awaiting a result skips time freely.)
    await waitFor(async () => (await c.handle().describe()).status.name === 'COMPLETED');
    const first = c.caseId;
    const firstTasks = [...store.tasks.values()].filter((t) => t.caseId === first).map((t) => t.id);

    // The same household, referred again: a new case under the same workflow ID.
    await fileCase(c);
    const second = c.caseId;
    expect(second).not.toBe(first);
    const plan = await c.complete(
      'assistancePlan',
      { route: 'assist', measures: ['union_living_aid', 'job_placement'] },
      actors.unionStaff,
    );
    expect(plan.referrals.map((r) => r.id)).toEqual([`${second}.r1`]);
    // The first case's ¥30,000 of this year counts: ¥25,000 more would pass the ¥50,000 cap.
    const prepare = (amountCents: number) =>
      c.act({ action: 'prepareAidPayment', measure: 'union_living_aid', amountCents }, actors.unionStaff);
    expect(await rejection(prepare(2_500_000))).toMatch(/over_annual_cap/);
    await prepare(2_000_000);
    const paid = await c.complete('aidPaymentApproval', { decision: 'approve' }, actors.unionSupervisor);
    expect(paid.payments).toEqual([
      expect.objectContaining({ id: `${second}.p1`, status: 'paid', amountCents: 2_000_000 }),
    ]);
    expect([...store.disbursed.entries()]).toEqual([
      [`${first}.p1`, 3_000_000],
      [`${second}.p1`, 2_000_000],
    ]);

    // Each case keeps its own tasks and its whole timeline, each numbered from 1.
    const secondTasks = [...store.tasks.values()].filter((t) => t.caseId === second).map((t) => t.id);
    expect(secondTasks.filter((id) => firstTasks.includes(id))).toEqual([]);
    expect(secondTasks.filter((id) => id.startsWith(`${second}.t`)).length).toBeGreaterThanOrEqual(8);
    expect(store.eventTypes(first)).toEqual(
      expect.arrayContaining(['case.opened', 'payment.paid', 'case.withdrawal_requested']),
    );
    expect(store.eventTypes(second)).toEqual(
      expect.arrayContaining(['case.opened', 'case.earlier_aid_counted', 'payment.paid']),
    );
    for (const id of [first, second])
      expect(store.events.find((e) => e.caseId === id && e.seq === 1)).toMatchObject({ type: 'case.opened' });

    // An action meant for the ended case is refused, not applied to its successor.
    const meantForFirst = c.handle().executeUpdate(actUpdate, {
      args: [{ actor: actors.unionStaff, command: { action: 'withdraw', reason: 'x' }, caseId: first }],
    });
    expect(await rejection(meantForFirst)).toMatch(/^case_ended/);
    // A report of a referral this case never sent (an earlier case's child) is noted, not applied.
    await c.handle().signal(referralUpdate, { referralId: `${first}.r1`, status: 'granted' });
    await waitFor(() =>
      store.events.find((e) => e.caseId === second && e.type === 'referral.update_ignored'),
    );
    const v = await c.view();
    expect(v.stage).toBe('assisting');
    expect(v.referrals.map((r) => r.status)).toEqual(['pending']);
  });
});

test('a quarterly review cannot propose a second exit (refused whole, nothing half-done); an approved exit cancels open reviews and visits', async () => {
  await withCase(async (c, store) => {
    await fileCase(c);
    await c.complete('assistancePlan', { route: 'assist', measures: ['job_placement'] }, actors.unionStaff);
    await skip(92 * DAY);
    await c.complete('quarterlyReview', { recommendation: 'continue', notes: 'Q1' }, actors.unionStaff);
    await skip(92 * DAY); // the second review and the 6-month cadre visit
    const review = c.task('quarterlyReview');
    const visit = c.task('cadreVisit');
    await c.act({ action: 'proposeExit', note: 'wife employed' }, actors.unionStaff);
    const again = c.complete(
      'quarterlyReview',
      { recommendation: 'propose_exit', notes: 'exit' },
      actors.unionStaff,
    );
    expect(await rejection(again)).toMatch(/^not_assisting/);
    // The refused review is untouched, in the case and in the projection.
    expect((await c.view()).openTasks.map((t) => t.id)).toContain(review.id);
    expect(store.tasks.get(review.id)?.status).toBe('open');
    const exit = await c.complete(
      'exitApproval',
      { decision: 'approve', checklist: forms.checklistAll },
      actors.chair,
    );
    expect(exit.stage).toBe('gradual_exit');
    expect(exit.openTasks).toEqual([]);
    expect([review.id, visit.id].map((id) => store.tasks.get(id)?.status)).toEqual([
      'cancelled',
      'cancelled',
    ]);
  });
});

test('a payment whose ID was paid to another case (a case from before case-scoped IDs) is never marked paid', async () => {
  await withCase(async (c, store) => {
    const s = caseStateAtSignOff({
      household: c.household,
      householdKey: c.workflowId,
      workflowId: c.workflowId,
      caseId: `legacy-${c.workflowId}`,
      policy: c.policy,
      nowMs: await env.currentTimeMs(),
      by: { union: actors.unionStaff, civil: actors.civil, hr: actors.hr },
      legacyIds: true,
    });
    // The household's earlier case was paid under the ID this case numbers its first payment with.
    const taken = `${c.workflowId}.p1`;
    await store.activities.disburseAid({
      paymentId: taken,
      caseId: 'earlier-case',
      measure: 'union_living_aid',
      amountCents: 800_000,
      year: 2026,
      approvedBy: 'u-sup',
    });
    await c.client.workflow.start(householdCase, {
      workflowId: c.workflowId,
      taskQueue: c.taskQueue,
      args: [{ resume: s }],
    });
    c.caseId = s.caseId;
    await waitFor(() => store.openTasks(c.caseId, 'chairSignOff')[0]);
    await c.complete('chairSignOff', forms.sign, actors.chair);
    const v = await planAndPay(c, 1_000_000);
    expect(v.payments).toEqual([expect.objectContaining({ id: taken, status: 'failed' })]);
    expect(v.paidByYear).toEqual({});
    expect(store.disbursed.get(taken)).toBe(800_000);
    expect(store.eventTypes(c.caseId)).toContain('payment.failed');
    expect(store.eventTypes(c.caseId)).not.toContain('payment.paid');
  });
});

test("a deadline in a year the case's calendar lacks is flagged; once the year is published the case recounts it, and later deadlines land on the right day", async () => {
  await withCase(async (c, store) => {
    await env.sleep(untilNextLocal(await env.currentTimeMs(), 3, 2));
    const { year, known } = await withoutThisYear(c); // this year's notice is not out when the case starts
    const intake = (await c.refer(actors.unionStaff)).openTasks[0]!;
    const flags = () => store.events.filter((e) => e.type.startsWith('calendar.'));
    await waitFor(() => flags().length > 0);
    expect(flags()).toEqual([
      expect.objectContaining({
        type: 'calendar.year_missing',
        taskId: intake.id,
        data: expect.objectContaining({ year, weekdayFallback: true }),
      }),
    ]);

    // The notice comes out (a week off from 16 March); the case asks again when it next needs the year.
    const notice = { holidays: [16, 17, 18, 19, 20].map((d) => `${year}-03-${d}`), makeupWorkdays: [] };
    store.publishCalendarYear(calendar.id, year, notice);
    const published = { ...calendar, years: { ...known, [year]: notice } };
    await skip(2 * DAY);
    const compared = await c.complete('intakeReview', forms.intakeAccept, actors.unionStaff);
    const opened = eventAt(store, intake.id, 'task.completed');
    const civil = compared.openTasks.find((t) => t.type === 'dataComparisonCivil')!;
    expect(civil.dueAt).toBe(addWorkingDays(opened, 10, published));
    expect(civil.dueAt).not.toBe(addWorkingDays(opened, 10, c.calendar)); // weekdays alone: too early
    expect(store.events.filter((e) => e.type === 'task.due_recounted').map((e) => e.taskId)).toContain(
      civil.id,
    );
    expect(flags().map((e) => e.type)).toEqual(['calendar.year_missing', 'calendar.year_published']);

    // A later deadline counts the published holidays from the start.
    await c.complete('dataComparisonCivil', forms.civil, actors.civil);
    const surveyed = await c.complete('dataComparisonHr', forms.hr, actors.hr);
    const survey = surveyed.openTasks.find((t) => t.type === 'householdSurvey')!;
    expect(survey.dueAt).toBe(addWorkingDays(eventAt(store, survey.id, 'task.opened'), 15, published));
    expect(store.events.filter((e) => e.type === 'task.due_recounted' && e.taskId === survey.id)).toEqual([]);
  });
});

test('a missing calendar year is flagged once per case, its referrals included', async () => {
  await withCase(async (c, store) => {
    const { year } = await withoutThisYear(c);
    const referralTask = await fileAndReferToMedicalInsurance(c, store);
    await quiesce();
    const flags = store.events.filter((e) => e.type === 'calendar.year_missing');
    expect(flags.map((e) => [e.workflowId, e.data.year])).toEqual([[c.workflowId, year]]);
    expect(referralTask.workflowId).not.toBe(c.workflowId);
  });
});

test('a calendar year published after a referral started reaches the referral: its deadline is recounted', async () => {
  await withCase(async (c, store) => {
    await env.sleep(untilNextLocal(await env.currentTimeMs(), 3, 2));
    const { year, known } = await withoutThisYear(c);
    await fileCase(c);
    await c.complete(
      'assistancePlan',
      { route: 'assist', measures: ['medical_assistance', 'union_living_aid'] },
      actors.unionStaff,
    );
    const referralTask = await waitFor(() => store.openTasks(c.caseId, 'referralAcceptance')[0]);
    const opened = eventAt(store, referralTask.id, 'task.opened');
    expect(referralTask.dueAt).toBe(addWorkingDays(opened, 5, c.calendar)); // weekdays alone

    // The notice comes out: the five days after the referral opened are holidays.
    const day = (n: number) =>
      new Date(Date.parse(opened) + 8 * 3600_000 + n * DAY).toISOString().slice(0, 10);
    const notice = { holidays: [1, 2, 3, 4, 5].map(day), makeupWorkdays: [] };
    expect(notice.holidays.every((d) => d.startsWith(year))).toBe(true);
    store.publishCalendarYear(calendar.id, year, notice);
    const published = { ...calendar, years: { ...known, [year]: notice } };
    // A day later the case needs the year again (a payment's approval deadline) and asks for it.
    await skip(DAY + 3600_000);
    await c.act(
      { action: 'prepareAidPayment', measure: 'union_living_aid', amountCents: 100_000 },
      actors.unionStaff,
    );
    const recounted = await waitFor(() =>
      store.events.find((e) => e.type === 'task.due_recounted' && e.taskId === referralTask.id),
    );
    expect(recounted.workflowId).toBe(referralTask.workflowId);
    expect(store.tasks.get(referralTask.id)?.dueAt).toBe(addWorkingDays(opened, 5, published));
    expect(Date.parse(store.tasks.get(referralTask.id)!.dueAt)).toBeGreaterThan(
      Date.parse(referralTask.dueAt),
    );
  });
});

test('union aid prepared in December and approved in January is paid against January’s annual cap', async () => {
  await withCase(async (c) => {
    await env.sleep(untilNextLocal(await env.currentTimeMs(), 12, 10));
    await fileCase(c);
    await c.complete(
      'assistancePlan',
      { route: 'assist', measures: ['union_living_aid'] },
      actors.unionStaff,
    );
    await skip(untilNextLocal(await env.currentTimeMs(), 12, 30));
    const prepared = await c.act(
      { action: 'prepareAidPayment', measure: 'union_living_aid', amountCents: 1_200_000 },
      actors.unionStaff,
    );
    const december = prepared.payments[0]!.year;
    await skip(untilNextLocal(await env.currentTimeMs(), 1, 5));
    const paid = await c.complete('aidPaymentApproval', { decision: 'approve' }, actors.unionSupervisor);
    expect(paid.payments[0]).toMatchObject({ status: 'paid', year: december + 1 });
    expect(paid.paidByYear).toEqual({ [december + 1]: 1_200_000 });
  });
});

/** The case `refer` starts carries a calendar without the current year (its notice not yet out). */
async function withoutThisYear(c: CaseDriver) {
  const year = String(new Date((await env.currentTimeMs()) + 8 * 3600_000).getUTCFullYear());
  const { [year]: _notYet, ...known } = calendar.years;
  c.calendar = { ...calendar, years: known };
  return { year, known };
}

/** A filed case whose plan refers it to medical insurance: the referral's acceptance task. */
async function fileAndReferToMedicalInsurance(c: CaseDriver, store: MemoryStore) {
  await fileCase(c);
  await c.complete(
    'assistancePlan',
    { route: 'assist', measures: ['medical_assistance'] },
    actors.unionStaff,
  );
  return waitFor(() => store.openTasks(c.caseId, 'referralAcceptance')[0]);
}

/** Milliseconds from `nowMs` to the next given month and day, 09:00 China time. */
function untilNextLocal(nowMs: number, month: number, day: number): number {
  const year = new Date(nowMs).getUTCFullYear();
  const at = (y: number) => Date.UTC(y, month - 1, day, 1);
  return (at(year) > nowMs ? at(year) : at(year + 1)) - nowMs;
}

let threeYearMs = 0;
afterAll(() => {
  if (threeYearMs)
    process.stdout.write(
      `simulated 3-year case (12 quarters, continuing-as-new along the way) ran in ${threeYearMs} ms under time skipping\n`,
    );
});

let current: { driver: CaseDriver; store: MemoryStore } | undefined;

/**
 * Waits until the case and its referrals have no workflow task or activity in progress: skipped
 * time must never overtake work a busy CPU has not finished (timeouts would fire in skipped time
 * and the case would stall), and an Update sent while the case is continuing-as-new would race it.
 */
async function quiesce(): Promise<void> {
  if (!current) return;
  const ids = caseWorkflowIds(current.driver, current.store);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const busy = await Promise.all(
      ids.map(async (id) => {
        const d = await env.client.workflow.getHandle(id).describe();
        return (
          d.status.name === 'RUNNING' &&
          (Boolean(d.raw.pendingWorkflowTask) || (d.raw.pendingActivities?.length ?? 0) > 0)
        );
      }),
    );
    if (!busy.some(Boolean) || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Moves the test server's clock by `ms`, one timer at a time, letting the case settle after each.
 * Real time leaves every workflow task done long before the next timer is due; skipping many timers
 * in one go does not, and the test server wedges a run whose task cancels a timer that fired while
 * that task was in progress (sdk-java #2606, #3088), which a slow CI machine hits.
 */
async function skip(ms: number): Promise<void> {
  const target = (await env.currentTimeMs()) + ms;
  for (;;) {
    await quiesce();
    const now = await env.currentTimeMs();
    if (now >= target) return;
    const next = current ? await nextTimerAt(caseWorkflowIds(current.driver, current.store)) : undefined;
    const until = next === undefined ? target : Math.min(target, Math.max(next + 1, now + 1));
    await env.sleep(until - now);
  }
}

/** When the earliest timer still pending in these workflows' current runs is due (server time). */
async function nextTimerAt(ids: string[]): Promise<number | undefined> {
  const ms = (t?: { seconds?: unknown; nanos?: number | null } | null) =>
    Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  let earliest: number | undefined;
  for (const id of ids) {
    const h = env.client.workflow.getHandle(id);
    if ((await h.describe()).status.name !== 'RUNNING') continue;
    const pending = new Map<string, number>();
    for (const e of (await h.fetchHistory()).events ?? []) {
      const started = e.timerStartedEventAttributes;
      if (started?.timerId) pending.set(started.timerId, ms(e.eventTime) + ms(started.startToFireTimeout));
      const done = e.timerFiredEventAttributes?.timerId ?? e.timerCanceledEventAttributes?.timerId;
      if (done) pending.delete(done);
    }
    for (const at of pending.values()) earliest = earliest === undefined ? at : Math.min(earliest, at);
  }
  return earliest;
}

function caseWorkflowIds(driver: CaseDriver, store: MemoryStore): string[] {
  return [...new Set([driver.workflowId, ...[...store.tasks.values()].map((t) => t.workflowId)])];
}

/** What each of the case's workflows is waiting on: the report of a stalled test. */
async function describeStall(ids: string[]): Promise<string> {
  const lines = await Promise.all(
    ids.map(async (id) => {
      try {
        const h = env.client.workflow.getHandle(id);
        const d = await h.describe();
        const acts = (d.raw.pendingActivities ?? []).map((a) =>
          `${a.activityType?.name}#${a.attempt} ${a.lastFailure?.message ?? ''}`.trim(),
        );
        const events = (await h.fetchHistory()).events ?? [];
        const tail = events
          .slice(-6)
          .map((e) => String(e.eventType))
          .join(',');
        return `${id}: ${d.status.name}, ${d.historyLength} events, workflow task ${
          d.raw.pendingWorkflowTask ? 'pending' : 'none'
        }, activities [${acts.join('; ')}], last events ${tail}`;
      } catch (err) {
        return `${id}: ${(err as Error).message}`;
      }
    }),
  );
  return lines.join('\n');
}

/** The business error an Update was rejected with: `type: message` of its ApplicationFailure. */
async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const cause = (err as { cause?: { type?: string; message?: string } }).cause;
    return `${cause?.type}: ${cause?.message}`;
  }
  return 'not rejected';
}

async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
