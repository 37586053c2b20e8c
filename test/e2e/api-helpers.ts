import crypto from 'node:crypto';
import { createApiKey, type Claims } from '../../api/auth';
import { caseWorkflowId, householdKey } from '../../api/households';
import type { Actor } from '../../domain/agencies';
import { cnMainlandCalendar } from '../../domain/calendar/cn-mainland';
import type { Action } from '../../domain/journey/state';
import { currentPolicyVersion, policies } from '../../domain/policy';
import { householdCase } from '../../workflows/householdCase';
import { demoUsers } from '../../scripts/demoUsers';
import { forms } from '../support/fixtures';
import { pastCase } from '../support/pastCase';
import { eventually, type Stack } from '../support/stack';

/** Shared by the api-*.test.ts suites: demo principals, households, and cases at later stages. */
export const REGION = 'hl/harbin/daoli';
export const claimsOf = (sub: string): Omit<Claims, 'exp'> => {
  const u = demoUsers.find((d) => d.sub === sub);
  if (!u) throw new Error(`no demo user ${sub}`);
  return u;
};

let n = 0;
/** A valid, unique 18-character ID number (the check digit is not verified by the schema). */
export function idNumber(): string {
  n += 1;
  const digits = (crypto.randomInt(1e9).toString().padStart(9, '0') + String(n).padStart(4, '0')).slice(
    0,
    13,
  );
  return `2301${digits}X`;
}

export function referralBody(overrides: Record<string, unknown> = {}) {
  return {
    household: { idNumber: idNumber(), headName: '李秀芳', regionCode: REGION, ...overrides },
    referral: { source: 'enterprise_union', referrer: 'Harbin Bearing Works union' },
  };
}

/** Refers a new household over HTTP; returns the case ID, its first task and the body used. */
/** The case's open task of a type, once the projection shows it. */
export const openTask = (stack: Stack, caseId: string, type: string) =>
  eventually(() => stack.db.caseTask.findFirst({ where: { caseId, type, status: 'open' } }));

/** A staff API key of an agency in the demo region: its system's credentials. */
export const agencyKey = async (stack: Stack, agency: string) =>
  (await createApiKey(stack.db, { name: agency, agency, region: REGION, roles: ['staff'] })).key;

export async function referCase(stack: Stack, overrides: Record<string, unknown> = {}) {
  const body = referralBody(overrides);
  const res = await stack.http('POST', '/v1/referrals', {
    token: stack.token(claimsOf('union-staff')),
    body,
  });
  if (res.status !== 201) throw new Error(`referral failed: ${res.status} ${JSON.stringify(res.body)}`);
  const caseId = res.body.caseId as string;
  const task = await openTask(stack, caseId, 'intakeReview');
  return { caseId, task, body, idNumber: body.household.idNumber as string };
}

const actor = (sub: string): Actor => {
  const c = claimsOf(sub);
  return { id: c.sub, agency: c.agency, roles: c.roles, region: c.region };
};

/**
 * A case run by the pure state machine at past times (`daysAgo`, see `pastCase`) by the demo
 * principals, then handed to a real workflow (`resume`), exactly as after a continue-as-new: the
 * workflow and its projection take over with tasks, due times and events that lie in the past, which
 * the dev server cannot otherwise produce.
 */
export function caseInThePast(stack: Stack, headName: string, startedDaysAgo: number) {
  const household = { idNumber: idNumber(), headName, regionCode: REGION };
  const key = householdKey(household.idNumber, stack.config.HOUSEHOLD_KEY_SECRET);
  const workflowId = caseWorkflowId(key);
  const past = pastCase({
    household,
    householdKey: key,
    referral: { source: 'cadre', referrer: 'Daoli district union' },
    policy: policies[currentPolicyVersion]!,
    calendar: cnMainlandCalendar,
    workflowId,
    caseId: `case-${crypto.randomBytes(8).toString('hex')}`,
    referrer: actor('union-staff'),
    startedDaysAgo,
    now: Date.now,
  });
  const { s } = past;
  return {
    s,
    workflowId,
    idNumber: household.idNumber,
    done: (type: string, form: unknown, who: string, daysAgo: number) =>
      past.done(type, form, actor(who), daysAgo),
    act: (command: Action, who: string, daysAgo: number) => past.act(command, actor(who), daysAgo),
    tick: past.tick,
    /** Intake, comparison, survey, deliberation, then the 7-day public notice: at sign-off by `noticeEnd`. */
    toSignOff: (deliberationDaysAgo: number, noticeEndDaysAgo: number) =>
      past.toSignOff(
        { union: actor('union-staff'), civil: actor('civil-affairs-staff'), hr: actor('hr-staff') },
        deliberationDaysAgo,
        noticeEndDaysAgo,
      ),
    /** The chair signs (filing the case), then the plan puts it in assistance with `measures`. */
    assist(measures: string[], planDaysAgo: number) {
      past.done('chairSignOff', forms.sign, actor('union-chair'), planDaysAgo + 1);
      past.done('assistancePlan', { route: 'assist', measures }, actor('union-staff'), planDaysAgo);
    },
    resume: (taskQueue = stack.config.TEMPORAL_TASK_QUEUE) =>
      stack.client.workflow.start(householdCase, { workflowId, taskQueue, args: [{ resume: s }] }),
  };
}

/**
 * A case that has already gone through intake, comparison, survey, deliberation and a public notice
 * (which alone takes 7 calendar days): the chair's sign-off task is then open, in real time, on the
 * real stack.
 */
export async function caseAwaitingSignOff(stack: Stack, headName = '王建国') {
  const past = caseInThePast(stack, headName, 30);
  past.toSignOff(26, 60_000 / (24 * 3600_000));
  await past.resume();
  const task = await eventually(() =>
    stack.db.caseTask.findFirst({ where: { caseId: past.s.caseId, type: 'chairSignOff', status: 'open' } }),
  );
  return { caseId: past.s.caseId, workflowId: past.workflowId, task, idNumber: past.idNumber };
}

/**
 * A filed case whose plan (drawn up over HTTP) refers public rental housing to 住建 and pays union
 * living aid: the housing referral's acceptance task is open on the referral's own workflow.
 */
export async function caseWithHousingReferral(stack: Stack, headName = '王建国') {
  const signOff = await caseAwaitingSignOff(stack, headName);
  const { caseId } = signOff;
  const post = async (taskId: string, who: string, body: unknown) => {
    const res = await stack.http('POST', `/v1/tasks/${taskId}/complete`, {
      token: stack.token(claimsOf(who)),
      body,
    });
    if (res.status !== 200)
      throw new Error(`completing ${taskId}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  await post(signOff.task.id, 'union-chair', { type: 'chairSignOff', form: forms.sign });
  const plan = await openTask(stack, caseId, 'assistancePlan');
  const planned = await post(plan.id, 'union-staff', {
    type: 'assistancePlan',
    form: { route: 'assist', measures: ['public_rental_housing', 'union_living_aid'] },
  });
  const acceptance = await eventually(() =>
    stack.db.caseTask.findFirst({ where: { caseId, type: 'referralAcceptance', agency: 'housing' } }),
  );
  return { ...signOff, planned, acceptance };
}
