import crypto from 'node:crypto';
import type { Claims } from '../../api/auth';
import { caseWorkflowId, householdKey } from '../../api/households';
import type { Actor } from '../../domain/agencies';
import { currentPolicyVersion, policies } from '../../domain/policy';
import { householdCase } from '../../workflows/householdCase';
import { demoUsers } from '../../scripts/demoUsers';
import { caseStateAtSignOff } from '../support/pastCase';
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
export async function referCase(stack: Stack, overrides: Record<string, unknown> = {}) {
  const body = referralBody(overrides);
  const res = await stack.http('POST', '/v1/referrals', {
    token: stack.token(claimsOf('union-staff')),
    body,
  });
  if (res.status !== 201) throw new Error(`referral failed: ${res.status} ${JSON.stringify(res.body)}`);
  const caseId = res.body.caseId as string;
  const task = await eventually(() =>
    stack.db.caseTask.findFirst({ where: { caseId, type: 'intakeReview', status: 'open' } }),
  );
  return { caseId, task, body, idNumber: body.household.idNumber as string };
}

const actor = (sub: string): Actor => {
  const c = claimsOf(sub);
  return { id: c.sub, agency: c.agency, roles: c.roles, region: c.region };
};

/**
 * A case that has already gone through intake, comparison, survey, deliberation and a public notice
 * (which alone takes 7 calendar days): the pure state machine runs those steps at past times, and
 * the workflow is started from that state (`resume`), exactly as after a continue-as-new. The
 * chair's sign-off task is then open, in real time, on the real stack.
 */
export async function caseAwaitingSignOff(stack: Stack, headName = '王建国') {
  const household = { idNumber: idNumber(), headName, regionCode: REGION };
  const key = householdKey(household.idNumber, stack.config.HOUSEHOLD_KEY_SECRET);
  const workflowId = caseWorkflowId(key);
  const s = caseStateAtSignOff({
    household,
    householdKey: key,
    workflowId,
    caseId: `case-${crypto.randomBytes(8).toString('hex')}`,
    policy: policies[currentPolicyVersion]!,
    nowMs: Date.now(),
    by: { union: actor('union-staff'), civil: actor('civil-affairs-staff'), hr: actor('hr-staff') },
  });
  await stack.client.workflow.start(householdCase, {
    workflowId,
    taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    args: [{ resume: s }],
  });
  const task = await eventually(() =>
    stack.db.caseTask.findFirst({ where: { caseId: s.caseId, type: 'chairSignOff', status: 'open' } }),
  );
  return { caseId: s.caseId, workflowId, task, idNumber: household.idNumber };
}
