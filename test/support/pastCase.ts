import type { Actor } from '../../domain/agencies';
import { applyAction, completeTask, startCase, tick } from '../../domain/journey/machine';
import type { Action, CaseState, Household, StartInput } from '../../domain/journey/state';
import type { Policy } from '../../domain/policy';
import { calendar, forms, referral } from './fixtures';

const DAY = 24 * 3600_000;

/** Who works a case up to sign-off: the union's staff, and civil affairs' and HR's comparers. */
export interface SignOffActors {
  union: Actor;
  civil: Actor;
  hr: Actor;
}

/**
 * A case run by the pure state machine at past times (days before `now()`), referred by `referrer`
 * when it started. A workflow started with `{ resume: s }` carries on from its state, as after a
 * continue-as-new, with tasks, due times and events in the past, which no server clock produces.
 */
export function pastCase(
  input: StartInput & {
    workflowId: string;
    caseId: string;
    referrer: Actor;
    startedDaysAgo: number;
    now: () => number;
    legacyIds?: boolean;
  },
) {
  const at = (daysAgo: number) => new Date(input.now() - daysAgo * DAY).toISOString();
  const { workflowId, caseId, legacyIds } = input;
  const s: CaseState = startCase(input, { workflowId, caseId, legacyIds }, at(input.startedDaysAgo));
  applyAction(
    s,
    input.referrer,
    { action: 'addReferral', referral: input.referral },
    at(input.startedDaysAgo),
  );
  return {
    s,
    /** Completes the open task of `type`. */
    done(type: string, form: unknown, actor: Actor, daysAgo: number) {
      const t = Object.values(s.tasks).find((x) => x.type === type && x.status === 'open')!;
      completeTask(s, { taskId: t.id, actor, completion: { type, form } as never }, at(daysAgo));
    },
    act: (command: Action, actor: Actor, daysAgo: number) => applyAction(s, actor, command, at(daysAgo)),
    tick: (daysAgo: number) => tick(s, at(daysAgo)),
    /** Intake, comparison, survey, deliberation, then the 7-day public notice: at sign-off by `noticeEnd`. */
    toSignOff(by: SignOffActors, deliberationDaysAgo: number, noticeEndDaysAgo: number) {
      const d = deliberationDaysAgo;
      this.done('intakeReview', forms.intakeAccept, by.union, d + 3);
      this.done('dataComparisonCivil', forms.civil, by.civil, d + 2);
      this.done('dataComparisonHr', forms.hr, by.hr, d + 2);
      this.done('householdSurvey', forms.surveyEligible, by.union, d + 1);
      this.done('collectiveDeliberation', forms.deliberationApprove, by.union, d);
      this.tick(noticeEndDaysAgo);
      if (s.stage !== 'sign_off') throw new Error(`fixture case is at ${s.stage}, not sign_off`);
    },
  };
}

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
  by: SignOffActors;
  legacyIds?: boolean;
}): CaseState {
  const { by, nowMs, ...ids } = opts;
  const c = pastCase({
    ...ids,
    calendar,
    referral,
    referrer: by.union,
    startedDaysAgo: 30,
    now: () => nowMs,
  });
  c.toSignOff(by, 26, 60_000 / DAY);
  return c.s;
}
