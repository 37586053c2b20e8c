import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { resolveTool } from '../../scripts/tools';
import { CaseDriver } from '../support/caseDriver';
import { actors, forms, household, testPolicy } from '../support/fixtures';
import { memoryActivities, type MemoryStore } from '../support/memoryActivities';
import type { Policy } from '../../domain/policy';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;
let seq = 0;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTool('temporal-test-server') } },
  });
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows') });
});

afterAll(async () => {
  await env?.teardown();
});

async function withCase(fn: (c: CaseDriver, store: MemoryStore) => Promise<void>, policy: Policy = testPolicy()) {
  const taskQueue = `journey-${++seq}`;
  const store = memoryActivities();
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities: store.activities });
  const driver = new CaseDriver(env.client, taskQueue, store, `household-test-${seq}-${Date.now()}`, household(), policy);
  await worker.runUntil(fn(driver, store));
}

const DAY = 24 * 3600_000;

/** Referral → intake → comparison → survey → deliberation → notice → sign-off: a filed case. */
async function fileCase(c: CaseDriver) {
  await c.refer(actors.unionStaff);
  await c.complete('intakeReview', forms.intakeAccept, actors.unionStaff);
  await c.complete('dataComparisonCivil', forms.civil, actors.civil);
  await c.complete('dataComparisonHr', forms.hr, actors.hr);
  await c.complete('householdSurvey', forms.surveyEligible, actors.unionStaff);
  await c.complete('collectiveDeliberation', forms.deliberationApprove, actors.unionStaff);
  await env.sleep(8 * DAY);
  return c.complete('chairSignOff', forms.sign, actors.chair);
}

test('happy path: referral to filing, plan, exit, follow-ups at 3 and 6 months, closure', async () => {
  await withCase(async (c, store) => {
    const start = await c.refer(actors.unionStaff);
    expect(start.stage).toBe('intake');
    expect(start.openTasks.map((t) => t.type)).toEqual(['intakeReview']);
    const afterIntake = await c.complete('intakeReview', forms.intakeAccept, actors.unionStaff);
    expect(afterIntake.stage).toBe('comparison');
    expect(afterIntake.openTasks.map((t) => t.type).sort()).toEqual(['dataComparisonCivil', 'dataComparisonHr']);
    await c.complete('dataComparisonCivil', forms.civil, actors.civil);
    expect((await c.complete('dataComparisonHr', forms.hr, actors.hr)).stage).toBe('survey');
    const assessed = await c.complete('householdSurvey', forms.surveyEligible, actors.unionStaff);
    expect(assessed.tier).toBe('deep'); // gap 350000 - 150000 = ¥2,000 a month ≥ deep threshold
    expect((await c.complete('collectiveDeliberation', forms.deliberationApprove, actors.unionStaff)).stage).toBe('public_notice');
    await env.sleep(8 * DAY);
    expect((await c.view()).stage).toBe('sign_off');
    const filed = await c.complete('chairSignOff', forms.sign, actors.chair);
    expect(filed.stage).toBe('planning');
    expect(filed.fileNumber).toMatch(/^hl-harbin-daoli-2\d{3}-/);
    const plan = await c.complete('assistancePlan', { route: 'assist', measures: ['union_living_aid'] }, actors.unionStaff);
    expect(plan.stage).toBe('assisting');
    await c.act({ action: 'proposeExit', note: 'wife employed, medical costs covered' }, actors.unionStaff);
    const exit = await c.complete('exitApproval', { decision: 'approve', checklist: forms.checklistAll }, actors.chair);
    expect(exit.stage).toBe('gradual_exit');
    await env.sleep(92 * DAY);
    await c.complete('followUpVisit', { visitedOn: '2026-06-01', outcome: 'stable' }, actors.unionStaff);
    expect((await c.view()).stage).toBe('gradual_exit');
    await env.sleep(92 * DAY);
    const closed = await c.complete('followUpVisit', { visitedOn: '2026-09-01', outcome: 'stable' }, actors.unionStaff);
    expect(closed.stage).toBe('closed');
    expect(await c.handle().result()).toMatchObject({ stage: 'closed' });
    expect(store.eventTypes(c.caseId)).toEqual(expect.arrayContaining(['case.filed', 'notice.passed', 'case.stage_changed']));
    expect(store.cases.get(c.caseId)?.stage).toBe('closed');
  });
});
