import type { Actor } from '../../domain/agencies';
import { applyAction, completeTask, startCase, tick } from '../../domain/journey/machine';
import type { CaseState, Household } from '../../domain/journey/state';
import type { Policy } from '../../domain/policy';
import { calendar, forms, referral } from './fixtures';

const DAY = 24 * 3600_000;

/**
 * A case that went through intake, comparison, survey, deliberation and its 7-day public notice in
 * the past (the pure state machine, at past times): its chair's sign-off is open at `nowMs`. A
 * workflow started with `{ resume: state }` carries on from there, as after a continue-as-new.
 */
export function caseStateAtSignOff(opts: {
  household: Household;
  householdKey: string;
  workflowId: string;
  caseId: string;
  policy: Policy;
  nowMs: number;
  by: { union: Actor; civil: Actor; hr: Actor };
  legacyIds?: boolean;
}): CaseState {
  const at = (d: number) => new Date(opts.nowMs - d * DAY).toISOString();
  const s = startCase(
    { household: opts.household, householdKey: opts.householdKey, referral, policy: opts.policy, calendar },
    { workflowId: opts.workflowId, caseId: opts.caseId, legacyIds: opts.legacyIds },
    at(30),
  );
  applyAction(s, opts.by.union, { action: 'addReferral', referral }, at(30));
  const done = (type: string, form: unknown, actor: Actor, d: number) => {
    const t = Object.values(s.tasks).find((x) => x.type === type && x.status === 'open')!;
    completeTask(s, { taskId: t.id, actor, completion: { type, form } as never }, at(d));
  };
  done('intakeReview', forms.intakeAccept, opts.by.union, 29);
  done('dataComparisonCivil', forms.civil, opts.by.civil, 28);
  done('dataComparisonHr', forms.hr, opts.by.hr, 28);
  done('householdSurvey', forms.surveyEligible, opts.by.union, 27);
  done('collectiveDeliberation', forms.deliberationApprove, opts.by.union, 26);
  tick(s, new Date(opts.nowMs - 60_000).toISOString());
  if (s.stage !== 'sign_off') throw new Error(`fixture case is at ${s.stage}, not sign_off`);
  return s;
}
