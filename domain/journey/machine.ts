import { regionWithin, type Actor } from '../agencies';
import { addCalendarDays, localDateOf, type WorkingDayCalendar } from '../calendar/workingDays';
import { measureByCode } from '../measures';
import { forms, taskTypeInfo, type FormOf, type TaskType } from '../taskTypes';
import type {
  Action,
  AgencyReferral,
  AidPayment,
  CaseState,
  CompleteTaskInput,
  Referral,
  Stage,
  StartInput,
  Tier,
} from './state';
import { TERMINAL_STAGES, isActiveReferralStatus } from './state';
import {
  DomainError,
  activeTasks,
  addMonths,
  assignTask,
  cancelTask,
  closeTask,
  addCalendarYears,
  clockStoodAt,
  correctionReceived,
  derivedId,
  dueAfter,
  dueFrom,
  forgetFallbackDue,
  recountFallbackDue,
  noteClockSet,
  remainingUntil,
  resumeClocks,
  extendDeadline,
  getActiveTask,
  nextTaskWake,
  nudgeTask,
  openTask,
  record,
  returnForCorrection,
  shiftClocks,
  shiftIso,
  tickTasks,
  type Task,
} from './taskBook';

/**
 * The household journey as a pure state machine. The workflow owns the clock and the I/O; every
 * rule of DOMAIN.md lives here, so it is unit-tested without a server and replayed deterministically.
 */

/** `legacyIds`: derive task, payment and referral IDs from the workflow ID (histories before case-scoped IDs). */
export function startCase(
  input: StartInput,
  ids: { workflowId: string; caseId: string; legacyIds?: boolean },
  now: string,
): CaseState {
  const state: CaseState = {
    workflowId: ids.workflowId,
    caseId: ids.caseId,
    ...(ids.legacyIds ? {} : { idPrefix: ids.caseId }),
    regionCode: input.household.regionCode,
    tasks: {},
    taskSeq: 0,
    eventSeq: 0,
    outbox: [],
    dirtyTasks: [],
    lastEventAt: null,
    policy: input.policy,
    calendar: input.calendar,
    hold: null,
    household: input.household,
    householdKey: input.householdKey,
    stage: 'intake',
    openedAt: now,
    // Referrals arrive through the `addReferral` action, the first one in the same call that starts the case.
    referrals: [],
    consent: null,
    comparison: { civil: null, hr: null },
    survey: null,
    deliberation: null,
    notice: null,
    signOff: null,
    filing: null,
    plan: null,
    agencyReferrals: {},
    referralSeq: 0,
    payments: {},
    paymentSeq: 0,
    paidByYear: {},
    schedule: {
      nextCadreVisitAt: null,
      nextQuarterlyReviewAt: null,
      followUps: [],
      appealDeadline: null,
      programDeadlineHandled: false,
    },
    exit: null,
    reopenCount: 0,
    ending: null,
    effects: [],
  };
  record(state, 'case.opened', now, {
    source: input.referral.source,
    referrer: input.referral.referrer,
    policyVersion: input.policy.version,
  });
  openTask(state, { type: 'intakeReview', agency: 'union' }, now);
  return state;
}

export function isEnded(state: CaseState): boolean {
  return TERMINAL_STAGES.includes(state.stage);
}

function moveTo(state: CaseState, stage: Stage, now: string, data: Record<string, unknown> = {}): void {
  const from = state.stage;
  state.stage = stage;
  record(state, 'case.stage_changed', now, { from, to: stage, ...data });
}

function end(state: CaseState, stage: Stage, reason: string, now: string): void {
  for (const t of activeTasks(state)) cancelTask(state, t, now, `case ended: ${stage}`);
  for (const r of Object.values(state.agencyReferrals)) {
    if (isActiveReferralStatus(r.status))
      state.effects.push({ kind: 'revokeReferral', referralId: r.id, reason: `case ended: ${stage}` });
  }
  state.ending = { at: now, reason };
  moveTo(state, stage, now, { reason });
}

// ---------------------------------------------------------------- permissions

function assertInRegion(state: CaseState, actor: Actor): void {
  if (!regionWithin(state.regionCode, actor.region))
    throw new DomainError('forbidden', `actor ${actor.id} does not cover region ${state.regionCode}`);
}

function assertAgency(actor: Actor, agency: string, what: string): void {
  if (actor.agency !== agency)
    throw new DomainError('forbidden', `${what} belongs to agency ${agency}, not ${actor.agency}`);
}

function assertRole(actor: Actor, role: string, what: string): void {
  if (!actor.roles.includes(role as never))
    throw new DomainError('forbidden', `${what} needs the ${role} role`);
}

function isSupervisorOf(actor: Actor, agency: string): boolean {
  return (
    (actor.agency === agency && actor.roles.includes('supervisor')) || actor.roles.includes('coordinator')
  );
}

// ---------------------------------------------------------------- task completion

/**
 * Rule changes that would alter what a running case does: the workflow sets `legacy…` (from
 * `patched()`) while replaying histories recorded before them; everyone else gets today's rules.
 */
export interface Rules {
  /** Before: a quarterly review could propose an exit or the safety net in any stage, and an
   * approved exit left open reviews and cadre visits behind. */
  legacyExitRules?: boolean;
  /** Before: 补正 and holds kept milliseconds left, and a hold shifted every clock by all of it. */
  legacyClocks?: boolean;
  /** Before: a referral joined a case in any region, and the same referral sent twice was added twice. */
  legacyReferrals?: boolean;
  /** Before: a payment counted against the cap of the year it was prepared in. */
  legacyPaymentYear?: boolean;
}

/**
 * The Update validator: the whole transition, dry-run on a copy, so that nothing the handler would
 * reject gets past it and nothing is written when it throws.
 */
export function validateCompletion(state: CaseState, input: CompleteTaskInput, now: string): void {
  completeTask(structuredCloneLite(state), input, now);
}

/** The checks before a completion touches anything: the task, the actor, the form, the hard rules. */
function checkCompletion(state: CaseState, input: CompleteTaskInput): Task {
  if (isEnded(state)) throw new DomainError('case_ended', `the case has ended (${state.stage})`);
  assertInRegion(state, input.actor);
  const task = getActiveTask(state, input.taskId);
  if (task.status !== 'open')
    throw new DomainError('task_not_open', `task ${task.id} is awaiting a correction`);
  if (input.completion.type !== task.type)
    throw new DomainError(
      'wrong_task_type',
      `task ${task.id} is a ${task.type}, not a ${input.completion.type}`,
    );
  assertAgency(input.actor, task.agency, `task ${task.id}`);
  const role = taskTypeInfo[task.type].role;
  if (role) assertRole(input.actor, role, `a ${task.type}`);
  if (task.assignee && task.assignee !== input.actor.id)
    throw new DomainError('task_claimed', `task ${task.id} is claimed by ${task.assignee}`);
  const parsed = forms[task.type].safeParse(input.completion.form);
  if (!parsed.success)
    throw new DomainError(
      'invalid_form',
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  if (task.type === 'aidPaymentApproval') {
    const payment = state.payments[String(task.context.paymentId)];
    if (payment && payment.preparedBy === input.actor.id)
      throw new DomainError(
        'maker_checker',
        'the approver of a payment must not be the person who prepared it',
      );
    // The annual cap is checked again on approval, by the year it is paid (the handler).
  }
  if (task.type === 'chairSignOff' && (parsed.data as FormOf<'chairSignOff'>).decision === 'sign')
    assertFileable(state, { ignoreSignOff: true });
  return task;
}

export function completeTask(
  state: CaseState,
  input: CompleteTaskInput,
  now: string,
  rules: Rules = {},
): void {
  const task = checkCompletion(state, input);
  const form = forms[task.type].parse(input.completion.form);
  checkOutcome(state, task, form, now, rules);
  closeTask(state, task, now, input.actor, form);
  const handler = onCompleted[task.type] as (
    s: CaseState,
    t: Task,
    f: unknown,
    now: string,
    a: Actor,
    r: Rules,
  ) => void;
  handler(state, task, form, now, input.actor, rules);
}

/**
 * The refusals a completion's outcome can meet (the annual cap, the stage a review's proposal
 * needs), checked before the task is closed: a refused completion changes nothing, validator or not.
 */
function checkOutcome(s: CaseState, task: Task, form: unknown, now: string, r: Rules): void {
  if (task.type === 'aidPaymentApproval') {
    const p = s.payments[String(task.context.paymentId)];
    if (p && (form as FormOf<'aidPaymentApproval'>).decision !== 'reject')
      assertWithinCap(s, p.amountCents, paymentYear(s, p, now, r), p.id);
  } else if (task.type === 'quarterlyReview') {
    const { recommendation } = form as FormOf<'quarterlyReview'>;
    if (recommendation === 'propose_exit') {
      // As the proposeExit action: only from assistance (not from a handoff or a gradual exit).
      if (!r.legacyExitRules) assertAssisting(s);
      assertNoExitProposed(s);
    } else if (recommendation === 'safety_net' && !r.legacyExitRules && !IN_ASSISTANCE.includes(s.stage))
      throw new DomainError(
        'not_in_assistance',
        `the safety net is proposed for a case in assistance, not in ${s.stage}`,
      );
  }
}

type Handlers = {
  [T in TaskType]: (s: CaseState, t: Task, f: FormOf<T>, now: string, a: Actor, r: Rules) => void;
};

const onCompleted: Handlers = {
  intakeReview(s, _t, f, now) {
    s.consent = f.consent;
    if (f.decision === 'withdraw') return end(s, 'withdrawn', f.reason ?? 'withdrawn at intake', now);
    // 信息比对 by civil affairs and HR, in parallel.
    openTask(s, { type: 'dataComparisonCivil', agency: 'civil_affairs' }, now);
    openTask(s, { type: 'dataComparisonHr', agency: 'hr' }, now);
    moveTo(s, 'comparison', now);
  },
  dataComparisonCivil(s, _t, f, now) {
    s.comparison.civil = f;
    if (s.comparison.hr) startSurvey(s, now, 'after comparison');
  },
  dataComparisonHr(s, _t, f, now) {
    s.comparison.hr = f;
    if (s.comparison.civil) startSurvey(s, now, 'after comparison');
  },
  householdSurvey(s, _t, f, now) {
    const income = f.incomeItems.reduce((a, i) => a + i.monthlyCents, 0);
    const spending = f.expenditureItems.reduce((a, i) => a + i.monthlyCents, 0);
    const gapCents = spending - income;
    const tier: Tier | null =
      gapCents <= 0
        ? null
        : f.accidentCaused
          ? 'accident'
          : gapCents >= s.policy.deepHardshipGapCents
            ? 'deep'
            : 'relative';
    s.survey = { result: f, gapCents, tier, causes: f.causes };
    record(s, 'case.assessed', now, { gapCents, tier, causes: f.causes });
    if (!tier) return notEligible(s, now, 'income covers rigid expenditure (no monthly gap)');
    openTask(s, { type: 'collectiveDeliberation', agency: 'union' }, now);
    moveTo(s, 'deliberation', now, { tier });
  },
  collectiveDeliberation(s, _t, f, now) {
    if (f.decision === 'reject')
      return notEligible(s, now, f.reason ?? 'rejected by collective deliberation');
    s.deliberation = { approvedAt: now };
    // 公示: the notice runs for calendar days; objections during it send the case back.
    const endsAt = addCalendarDays(now, s.policy.publicNoticeCalendarDays, s.calendar);
    s.notice = { startedAt: now, endsAt, objections: s.notice?.objections ?? 0, passedAt: null };
    noteClockSet(s, 'notice', now);
    moveTo(s, 'public_notice', now, { endsAt });
  },
  chairSignOff(s, _t, f, now, actor) {
    if (f.decision === 'reject') return notEligible(s, now, f.reason ?? 'rejected at sign-off');
    s.signOff = { signedAt: now, by: actor.id };
    fileCase(s, now);
  },
  assistancePlan(s, _t, f, now) {
    if (f.route === 'safety_net') return startSafetyNetHandoff(s, now, f.reason);
    s.plan = { measures: [...new Set([...(s.plan?.measures ?? []), ...f.measures])], decidedAt: now };
    for (const code of f.measures) {
      const m = measureByCode(code)!;
      if (m.kind === 'referral') startReferral(s, code, m.agency, now);
    }
    record(s, 'plan.decided', now, { measures: f.measures });
    moveTo(s, 'assisting', now);
  },
  // Referral tasks live in the referral child workflow, never on the case itself.
  referralAcceptance() {
    throw new DomainError('wrong_workflow', 'referral tasks are completed on the referral');
  },
  referralOutcome() {
    throw new DomainError('wrong_workflow', 'referral tasks are completed on the referral');
  },
  aidPaymentApproval(s, t, f, now, actor, r) {
    const p = s.payments[String(t.context.paymentId)]!;
    if (f.decision === 'reject') {
      p.status = 'rejected';
      record(s, 'payment.rejected', now, { paymentId: p.id, reason: f.reason }, actor);
      return;
    }
    const year = paymentYear(s, p, now, r); // within the cap (checkOutcome)
    p.year = year;
    p.status = 'approved';
    p.approvedBy = actor.id;
    record(s, 'payment.approved', now, { paymentId: p.id, amountCents: p.amountCents, year }, actor);
    s.effects.push({
      kind: 'disburse',
      paymentId: p.id,
      amountCents: p.amountCents,
      year: p.year,
      measure: p.measure,
      approvedBy: actor.id,
    });
  },
  cadreVisit() {},
  quarterlyReview(s, _t, f, now, a) {
    // The stage each recommendation needs was checked before the review closed (checkOutcome).
    if (f.recommendation === 'propose_exit') proposeExit(s, now, f.notes, a);
    else if (f.recommendation === 'safety_net') startSafetyNetHandoff(s, now, f.notes);
  },
  exitApproval(s, _t, f, now, _a, r) {
    if (f.decision === 'reject') return moveTo(s, 'assisting', now, { reason: f.reason });
    // 渐退期: recurring assistance stops (its open reviews and visits too); return visits at the policy's offsets.
    if (!r.legacyExitRules)
      for (const t of [...activeTasks(s, 'quarterlyReview'), ...activeTasks(s, 'cadreVisit')])
        cancelTask(s, t, now, 'exit approved (渐退期)');
    s.exit = { approvedAt: now };
    s.schedule.nextCadreVisitAt = null;
    s.schedule.nextQuarterlyReviewAt = null;
    s.schedule.followUps = s.policy.followUpVisitMonths.map((month) => ({
      month,
      at: addMonths(now, month),
      opened: false,
    }));
    noteClockSet(s, 'followUps', now);
    moveTo(s, 'gradual_exit', now, { followUps: s.schedule.followUps.map((f) => f.at) });
  },
  followUpVisit(s, t, f, now, a) {
    if (f.outcome === 'new_hardship') return reopen(s, now, f.hardship!.cause, f.hardship!.description, a);
    const last = Math.max(...s.policy.followUpVisitMonths);
    if (Number(t.context.month) === last)
      end(s, 'closed', 'out of hardship after the gradual-exit period (销档)', now);
  },
  safetyNetCertificate(s, _t, f, now) {
    record(s, 'safety_net.certificate_issued', now, {
      certificateNo: f.certificateNo,
      submittedTo: f.submittedTo,
    });
    openTask(s, { type: 'safetyNetEnrolment', agency: 'civil_affairs' }, now);
  },
  safetyNetEnrolment(s, _t, f, now) {
    if (f.decision === 'enrolled')
      return end(s, 'safety_net', `enrolled in ${f.programme} by civil affairs (兜底)`, now);
    record(s, 'safety_net.refused', now, { reasonCode: f.reasonCode });
    openTask(s, { type: 'assistancePlan', agency: 'union' }, now);
    moveTo(s, s.filing ? 'planning' : 'not_eligible', now);
  },
  appealReview(s, _t, f, now) {
    if (f.decision === 'dismiss') return end(s, 'ineligible', `appeal dismissed: ${f.reason}`, now);
    startSurvey(s, now, 'appeal upheld');
  },
};

function startSurvey(s: CaseState, now: string, why: string): void {
  s.survey = null;
  s.deliberation = null;
  s.signOff = null;
  s.schedule.appealDeadline = null;
  openTask(s, { type: 'householdSurvey', agency: 'union' }, now);
  moveTo(s, 'survey', now, { why });
}

function notEligible(s: CaseState, now: string, reason: string): void {
  const window = { workingDays: s.policy.appealWindowWorkingDays };
  s.schedule.appealDeadline = dueFrom(s, 'appealDeadline', now, window, now);
  noteClockSet(s, 'appealDeadline', now);
  record(s, 'case.not_eligible', now, { reason, appealDeadline: s.schedule.appealDeadline });
  moveTo(s, 'not_eligible', now, { reason });
}

/** The four "no X, no file" rules (001: 不入户调查不建档…工会主席不签字不建档). */
export function assertFileable(s: CaseState, opts: { ignoreSignOff?: boolean } = {}): void {
  if (!s.survey?.tier) throw new DomainError('no_survey_no_file', 'no household survey, no file');
  if (!s.deliberation)
    throw new DomainError('no_deliberation_no_file', 'no collective deliberation, no file');
  if (!s.notice?.passedAt) throw new DomainError('no_notice_no_file', 'no completed public notice, no file');
  if (!opts.ignoreSignOff && !s.signOff)
    throw new DomainError('no_signature_no_file', "no chair's signature, no file");
}

export function fileCase(s: CaseState, now: string): void {
  assertFileable(s);
  const year = localDateOf(now, s.calendar).slice(0, 4);
  const fileNumber = `${s.regionCode.replace(/\//g, '-')}-${year}-${s.caseId.slice(0, 8)}`;
  s.filing = { fileNumber, filedAt: now };
  startVisitsAndReviews(s, now);
  record(s, 'case.filed', now, { fileNumber, tier: s.survey!.tier });
  openTask(s, { type: 'assistancePlan', agency: 'union' }, now);
  moveTo(s, 'planning', now);
}

function startVisitsAndReviews(s: CaseState, now: string): void {
  s.schedule.nextCadreVisitAt = addMonths(now, s.policy.cadreVisitIntervalMonths);
  s.schedule.nextQuarterlyReviewAt = addMonths(now, s.policy.quarterlyReviewIntervalMonths);
  noteClockSet(s, 'nextCadreVisitAt', now);
  noteClockSet(s, 'nextQuarterlyReviewAt', now);
}

function startReferral(s: CaseState, measure: string, agency: string, now: string): void {
  s.referralSeq += 1;
  const id = derivedId(s, 'r', s.referralSeq);
  s.agencyReferrals[id] = {
    id,
    measure,
    agency,
    status: 'pending',
    waitlistPosition: null,
    outcome: null,
    updatedAt: now,
  };
  s.effects.push({ kind: 'startReferral', referralId: id, measure, agency });
  record(s, 'referral.sent', now, { referralId: id, measure, agency });
}

/** Stages of an assisted household: where the programme deadline or a review may hand it to the safety net. */
const IN_ASSISTANCE: readonly Stage[] = ['planning', 'assisting', 'exit_review'];

function assertAssisting(s: CaseState): void {
  if (s.stage !== 'assisting')
    throw new DomainError('not_assisting', 'an exit is proposed for a case in assistance');
}

function assertNoExitProposed(s: CaseState): void {
  if (activeTasks(s, 'exitApproval').length)
    throw new DomainError('exit_already_proposed', 'an exit proposal is already open');
}

/** Opens the exit approval (checked first: `assertAssisting` unless legacy, `assertNoExitProposed`). */
function proposeExit(s: CaseState, now: string, note: string, actor: Actor): void {
  openTask(s, { type: 'exitApproval', agency: 'union' }, now);
  record(s, 'exit.proposed', now, { note }, actor);
  moveTo(s, 'exit_review', now);
}

function startSafetyNetHandoff(s: CaseState, now: string, reason: string): void {
  if (activeTasks(s, 'safetyNetCertificate').length || activeTasks(s, 'safetyNetEnrolment').length) return;
  openTask(s, { type: 'safetyNetCertificate', agency: 'union' }, now);
  moveTo(s, 'safety_net_handoff', now, { reason });
}

/** 返困: a new hardship restarts assistance on the same case; its history is kept. */
function reopen(s: CaseState, now: string, cause: string, description: string, actor: Actor): void {
  for (const t of activeTasks(s, 'followUpVisit')) cancelTask(s, t, now, 'assistance reopened');
  s.reopenCount += 1;
  s.exit = null;
  s.schedule.followUps = [];
  startVisitsAndReviews(s, now);
  record(s, 'case.reopened', now, { cause, description, reopenCount: s.reopenCount }, actor);
  openTask(s, { type: 'assistancePlan', agency: 'union' }, now);
  moveTo(s, 'planning', now, { reason: 'new hardship' });
}

function yearOf(s: CaseState, now: string): number {
  return Number(localDateOf(now, s.calendar).slice(0, 4));
}

/** Aid counts against the cap of the year it is paid in: prepared in December, approved in January, it is January's. */
function paymentYear(s: CaseState, p: AidPayment, now: string, r: Rules): number {
  return r.legacyPaymentYear ? p.year : yearOf(s, now);
}

function assertWithinCap(s: CaseState, amountCents: number, year: number, excludeId?: string): void {
  const committed = Object.values(s.payments)
    .filter(
      (p) =>
        p.year === year && p.id !== excludeId && ['pending_approval', 'approved', 'paid'].includes(p.status),
    )
    .reduce((a, p) => a + p.amountCents, s.earlierCasesPaidByYear?.[year] ?? 0);
  if (committed + amountCents > s.policy.annualAidCapCents)
    throw new DomainError(
      'over_annual_cap',
      `union aid of ${amountCents} fen would exceed the annual cap of ${s.policy.annualAidCapCents} fen for ${year} (${committed} fen already paid or pending)`,
    );
}

// ---------------------------------------------------------------- other actions

/** `caseId`: the case the caller addressed; a household's later case answers for it as ended. */
export function validateAction(s: CaseState, actor: Actor, cmd: Action, now: string, caseId?: string): void {
  if (caseId !== undefined && caseId !== s.caseId)
    throw new DomainError('case_ended', `case ${caseId} has ended`);
  applyAction(structuredCloneLite(s), actor, cmd, now, { dryRun: true });
}

/** Validators must not mutate state: actions are dry-run on a copy. */
function structuredCloneLite<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export function applyAction(
  s: CaseState,
  actor: Actor,
  cmd: Action,
  now: string,
  opts: Rules & { dryRun?: boolean } = {},
): void {
  if (isEnded(s)) throw new DomainError('case_ended', `the case has ended (${s.stage})`);
  if (cmd.action !== 'addReferral') assertInRegion(s, actor);
  const union = (what: string) => assertAgency(actor, 'union', what);
  switch (cmd.action) {
    case 'addReferral':
      if (!opts.legacyReferrals) {
        // Neutral: where the case is, and what it is at, is not the referrer's to know.
        if (!regionWithin(s.regionCode, actor.region))
          throw new DomainError(
            'handled_by_another_region',
            "this household's case is handled by another region; contact the joint office",
          );
        // A re-imported file or a re-sent referral adds nothing: no second referral, event or webhook.
        if (s.referrals.some((r) => sameReferral(r, cmd.referral))) return;
      }
      s.referrals.push({ ...cmd.referral, at: now });
      record(
        s,
        'case.referral_received',
        now,
        { source: cmd.referral.source, referrer: cmd.referral.referrer, joined: s.referrals.length > 1 },
        actor,
      );
      return;
    case 'raiseObjection':
      union('recording an objection');
      if (s.stage !== 'public_notice')
        throw new DomainError('not_in_public_notice', 'objections are taken only during the public notice');
      s.notice!.objections += 1;
      record(s, 'notice.objection', now, { text: cmd.text }, actor);
      return startSurvey(s, now, 'objection during public notice');
    case 'fileAppeal':
      union('recording an appeal');
      if (s.stage !== 'not_eligible')
        throw new DomainError('not_appealable', 'only a not-eligible decision can be appealed');
      openTask(s, { type: 'appealReview', agency: 'union' }, now);
      record(s, 'case.appealed', now, { reason: cmd.reason }, actor);
      s.schedule.appealDeadline = null;
      return moveTo(s, 'appeal_review', now);
    case 'withdraw':
      union('withdrawing a case');
      record(s, 'case.withdrawal_requested', now, { reason: cmd.reason }, actor);
      return end(s, 'withdrawn', cmd.reason, now);
    case 'prepareAidPayment': {
      union('preparing union aid');
      if (!s.filing) throw new DomainError('not_filed', 'no aid before filing (先建档、后帮扶)');
      const m = measureByCode(cmd.measure);
      if (!m || m.kind !== 'union_aid')
        throw new DomainError('invalid_measure', `${cmd.measure} is not a union aid measure`);
      const year = yearOf(s, now);
      assertWithinCap(s, cmd.amountCents, year);
      s.paymentSeq += 1;
      const id = derivedId(s, 'p', s.paymentSeq);
      s.payments[id] = {
        id,
        measure: cmd.measure,
        amountCents: cmd.amountCents,
        year,
        preparedBy: actor.id,
        approvedBy: null,
        status: 'pending_approval',
        preparedAt: now,
      };
      record(
        s,
        'payment.prepared',
        now,
        { paymentId: id, measure: cmd.measure, amountCents: cmd.amountCents, year },
        actor,
      );
      openTask(s, { type: 'aidPaymentApproval', agency: 'union', context: { paymentId: id } }, now);
      return;
    }
    case 'proposeExit':
      union('proposing an exit');
      assertAssisting(s);
      assertNoExitProposed(s);
      return proposeExit(s, now, cmd.note, actor);
    case 'reportNewHardship':
      union('reporting a new hardship');
      if (s.stage !== 'gradual_exit')
        throw new DomainError(
          'not_in_gradual_exit',
          'a new hardship reopens a case in its gradual-exit period',
        );
      return reopen(s, now, cmd.cause, cmd.description, actor);
    case 'returnForCorrection': {
      const t = getActiveTask(s, cmd.taskId);
      assertAgency(actor, t.agency, `task ${t.id}`);
      returnForCorrection(s, cmd.taskId, cmd.reason, now, actor, opts.legacyClocks);
      return;
    }
    case 'correctionReceived': {
      const t = getActiveTask(s, cmd.taskId);
      assertAgency(actor, t.agency, `task ${t.id}`);
      correctionReceived(s, cmd.taskId, now, actor);
      return;
    }
    case 'extendDeadline': {
      const t = getActiveTask(s, cmd.taskId);
      if (!isSupervisorOf(actor, t.agency))
        throw new DomainError(
          'forbidden',
          'extending a deadline needs a coordinator or the agency supervisor',
        );
      extendDeadline(s, cmd.taskId, cmd.by, cmd.reason, now, actor);
      return;
    }
    case 'revokeReferral': {
      union('revoking a referral');
      const r = s.agencyReferrals[cmd.referralId];
      if (!r) throw new DomainError('referral_not_found', `referral ${cmd.referralId} is not on this case`);
      if (!isActiveReferralStatus(r.status))
        throw new DomainError('referral_closed', `referral ${r.id} is ${r.status}`);
      s.effects.push({ kind: 'revokeReferral', referralId: r.id, reason: cmd.reason });
      record(s, 'referral.revoke_requested', now, { referralId: r.id, reason: cmd.reason }, actor);
      return;
    }
    case 'hold':
      if (!actor.roles.includes('coordinator'))
        throw new DomainError('forbidden', 'putting a case on hold needs a coordinator');
      if (s.hold) throw new DomainError('already_on_hold', 'the case is already on hold');
      s.hold = { since: now, reason: cmd.reason };
      holdReferrals(s, true);
      record(s, 'case.held', now, { reason: cmd.reason }, actor);
      return;
    case 'resume': {
      if (!actor.roles.includes('coordinator'))
        throw new DomainError('forbidden', 'resuming a case needs a coordinator');
      if (!s.hold) throw new DomainError('not_on_hold', 'the case is not on hold');
      const ms = Date.parse(now) - Date.parse(s.hold.since);
      if (opts.dryRun) s.hold = null;
      else if (opts.legacyClocks) {
        s.hold = null;
        shiftAllClocks(s, ms);
      } else {
        resumeAllClocks(s, now);
        s.hold = null;
      }
      holdReferrals(s, false);
      record(s, 'case.resumed', now, { heldMs: ms }, actor);
      return;
    }
    case 'claim':
    case 'release':
    case 'reassign': {
      const t = getActiveTask(s, cmd.taskId);
      if (cmd.action === 'reassign') {
        if (!isSupervisorOf(actor, t.agency))
          throw new DomainError('forbidden', 'reassigning needs a coordinator or the agency supervisor');
        return assignTask(s, t, cmd.assignee, 'reassigned', now, actor);
      }
      assertAgency(actor, t.agency, `task ${t.id}`);
      if (cmd.action === 'claim') {
        if (t.assignee && t.assignee !== actor.id)
          throw new DomainError('task_claimed', `task ${t.id} is claimed by ${t.assignee}`);
        return assignTask(s, t, actor.id, 'claimed', now, actor);
      }
      if (t.assignee !== actor.id && !isSupervisorOf(actor, t.agency))
        throw new DomainError('forbidden', `task ${t.id} is not claimed by ${actor.id}`);
      return assignTask(s, t, null, 'released', now, actor);
    }
    case 'comment':
      if (cmd.taskId) getActiveTask(s, cmd.taskId);
      record(s, 'case.comment', now, { text: cmd.text }, actor, cmd.taskId);
      return;
    case 'remind':
    case 'escalate': {
      const t = getActiveTask(s, cmd.taskId);
      if (!isSupervisorOf(actor, t.agency))
        throw new DomainError('forbidden', `${cmd.action} needs a coordinator or the agency supervisor`);
      return nudgeTask(s, t, cmd.action, cmd.action === 'escalate' ? cmd.reason : null, now, actor);
    }
  }
}

/** One referral's identity: its source and referrer, and its external reference or else its note. */
function sameReferral(a: Referral, b: Referral): boolean {
  if (a.source !== b.source || a.referrer !== b.referrer) return false;
  return a.externalRef !== undefined || b.externalRef !== undefined
    ? a.externalRef === b.externalRef
    : a.note === b.note;
}

/** The referrals still in an agency's hands (undecided, accepted or waitlisted). */
export function activeReferralIds(s: CaseState): string[] {
  return Object.values(s.agencyReferrals)
    .filter((r) => isActiveReferralStatus(r.status))
    .map((r) => r.id);
}

/** A hold stops the referrals' clocks too: the agencies' deadlines wait with the case. */
function holdReferrals(s: CaseState, hold: boolean): void {
  for (const referralId of activeReferralIds(s)) s.effects.push({ kind: 'holdReferral', referralId, hold });
}

/**
 * Ends a hold: tasks as `resumeClocks`; schedule items each by the held time they lived through,
 * the appeal window recounted in working days, the rest in calendar time. Call while still held.
 */
function resumeAllClocks(s: CaseState, now: string): void {
  resumeClocks(s, now);
  const resume = (iso: string | null, key: string, workingDays = false) =>
    iso === null
      ? null
      : dueAfter(s, key, now, remainingUntil(iso, clockStoodAt(s, key, now), workingDays, s.calendar), now);
  const sch = s.schedule;
  sch.nextCadreVisitAt = resume(sch.nextCadreVisitAt, 'nextCadreVisitAt');
  sch.nextQuarterlyReviewAt = resume(sch.nextQuarterlyReviewAt, 'nextQuarterlyReviewAt');
  sch.appealDeadline = resume(sch.appealDeadline, 'appealDeadline', true);
  sch.followUps = sch.followUps.map((f) => ({ ...f, at: resume(f.at, 'followUps')! }));
  if (s.notice && !s.notice.passedAt) s.notice.endsAt = resume(s.notice.endsAt, 'notice')!;
}

/** Before `resumeAllClocks` (replayed histories): every clock shifted by the whole hold. */
function shiftAllClocks(s: CaseState, ms: number): void {
  shiftClocks(s, ms);
  const sch = s.schedule;
  sch.nextCadreVisitAt = shiftIso(sch.nextCadreVisitAt, ms);
  sch.nextQuarterlyReviewAt = shiftIso(sch.nextQuarterlyReviewAt, ms);
  sch.appealDeadline = shiftIso(sch.appealDeadline, ms);
  sch.followUps = sch.followUps.map((f) => ({ ...f, at: shiftIso(f.at, ms)! }));
  if (s.notice && !s.notice.passedAt) s.notice.endsAt = shiftIso(s.notice.endsAt, ms)!;
}

// ---------------------------------------------------------------- referral outcomes (from child workflows)

export interface ReferralUpdate {
  referralId: string;
  status: AgencyReferral['status'];
  waitlistPosition?: number | null;
  outcome?: Record<string, unknown> | null;
}

/**
 * Applies a referral child's report. A report of a referral this case never sent (a child of the
 * household's earlier case signals the same workflow ID) changes nothing; `recordUnknown` notes it.
 */
export function applyReferralUpdate(
  s: CaseState,
  u: ReferralUpdate,
  now: string,
  opts: { recordUnknown?: boolean } = {},
): void {
  const r = s.agencyReferrals[u.referralId];
  if (!r) {
    if (opts.recordUnknown)
      record(s, 'referral.update_ignored', now, {
        referralId: u.referralId,
        status: u.status,
        reason: 'not a referral of this case',
      });
    return;
  }
  r.status = u.status;
  r.waitlistPosition = u.waitlistPosition ?? r.waitlistPosition;
  r.outcome = u.outcome ?? r.outcome;
  r.updatedAt = now;
  record(s, `referral.${u.status}`, now, {
    referralId: r.id,
    measure: r.measure,
    agency: r.agency,
    waitlistPosition: r.waitlistPosition,
    outcome: r.outcome,
  });
}

/** The disbursement refused the payment: nothing was paid, and it no longer counts against the cap. */
export function markPaymentFailed(s: CaseState, paymentId: string, reason: string, now: string): void {
  const p = s.payments[paymentId];
  if (!p || p.status === 'paid') return;
  p.status = 'failed';
  record(s, 'payment.failed', now, { paymentId, amountCents: p.amountCents, year: p.year, reason });
}

/** Aid paid to the household in its earlier cases, counted against this case's annual cap. */
export function countEarlierAid(s: CaseState, byYear: Record<string, number>, now: string): void {
  s.earlierCasesPaidByYear = byYear;
  if (Object.keys(byYear).length) record(s, 'case.earlier_aid_counted', now, { paidByYear: byYear });
}

export function markPaid(s: CaseState, paymentId: string, now: string): void {
  const p = s.payments[paymentId];
  if (!p || p.status === 'paid') return;
  p.status = 'paid';
  s.paidByYear[p.year] = (s.paidByYear[p.year] ?? 0) + p.amountCents;
  record(s, 'payment.paid', now, {
    paymentId,
    amountCents: p.amountCents,
    year: p.year,
    paidThisYear: s.paidByYear[p.year],
  });
}

// ---------------------------------------------------------------- time

/**
 * Calendar years published since the case started (the case asked for years it lacked): merged
 * into its calendar, and every due counted on weekdays for them counted again.
 */
export function publishCalendarYears(
  s: CaseState,
  published: WorkingDayCalendar['years'],
  now: string,
): void {
  for (const key of addCalendarYears(s, published, now)) {
    if (key === 'appealDeadline' && s.schedule.appealDeadline && s.stage === 'not_eligible')
      s.schedule.appealDeadline = recountFallbackDue(s, key, now);
    else forgetFallbackDue(s, key);
  }
}

/** Everything that is due by `now`: task clocks, notice end, visits, reviews, follow-ups, windows. */
export function tick(s: CaseState, now: string): void {
  if (isEnded(s) || s.hold) return;
  tickTasks(s, now);
  const t = Date.parse(now);
  const due = (iso: string | null) => iso !== null && t >= Date.parse(iso);
  if (s.stage === 'public_notice' && s.notice && !s.notice.passedAt && due(s.notice.endsAt)) {
    s.notice.passedAt = now;
    record(s, 'notice.passed', now, { objections: s.notice.objections });
    openTask(s, { type: 'chairSignOff', agency: 'union' }, now);
    moveTo(s, 'sign_off', now);
  }
  if (s.stage === 'not_eligible' && due(s.schedule.appealDeadline)) {
    s.schedule.appealDeadline = null;
    end(s, 'ineligible', 'not eligible; no appeal within the window', now);
    return;
  }
  while (due(s.schedule.nextCadreVisitAt)) {
    openTask(s, { type: 'cadreVisit', agency: 'union' }, now);
    s.schedule.nextCadreVisitAt = addMonths(s.schedule.nextCadreVisitAt!, s.policy.cadreVisitIntervalMonths);
  }
  while (due(s.schedule.nextQuarterlyReviewAt)) {
    openTask(s, { type: 'quarterlyReview', agency: 'union' }, now);
    s.schedule.nextQuarterlyReviewAt = addMonths(
      s.schedule.nextQuarterlyReviewAt!,
      s.policy.quarterlyReviewIntervalMonths,
    );
  }
  for (const f of s.schedule.followUps) {
    if (!f.opened && due(f.at)) {
      f.opened = true;
      openTask(s, { type: 'followUpVisit', agency: 'union', context: { month: f.month } }, now);
    }
  }
  const deadline = programDeadlineAt(s);
  if (deadline && !s.schedule.programDeadlineHandled && due(deadline)) {
    s.schedule.programDeadlineHandled = true;
    if (IN_ASSISTANCE.includes(s.stage)) {
      record(s, 'case.program_deadline_reached', now, { deadline: s.policy.programDeadline });
      startSafetyNetHandoff(s, now, 'not out of hardship by the program deadline');
    }
  }
}

function programDeadlineAt(s: CaseState): string | null {
  if (!s.policy.programDeadline || !s.filing) return null;
  // The end of that local day.
  const offset = s.calendar.timeZoneOffsetMinutes;
  return new Date(Date.parse(`${s.policy.programDeadline}T23:59:59.999Z`) - offset * 60_000).toISOString();
}

/** The next instant at which `tick` has something to do, or undefined when only people can move the case. */
export function nextWake(s: CaseState): number | undefined {
  if (isEnded(s) || s.hold) return undefined;
  const times: number[] = [];
  const add = (iso: string | null | undefined) => iso && times.push(Date.parse(iso));
  const taskWake = nextTaskWake(s);
  if (taskWake !== undefined) times.push(taskWake);
  if (s.stage === 'public_notice' && s.notice && !s.notice.passedAt) add(s.notice.endsAt);
  if (s.stage === 'not_eligible') add(s.schedule.appealDeadline);
  add(s.schedule.nextCadreVisitAt);
  add(s.schedule.nextQuarterlyReviewAt);
  for (const f of s.schedule.followUps) if (!f.opened) add(f.at);
  if (!s.schedule.programDeadlineHandled) add(programDeadlineAt(s));
  return times.length ? Math.min(...times) : undefined;
}

/** The view returned by the workflow's query and by Updates: stage and open tasks. */
export function caseView(s: CaseState) {
  return {
    caseId: s.caseId,
    workflowId: s.workflowId,
    stage: s.stage,
    tier: s.survey?.tier ?? null,
    fileNumber: s.filing?.fileNumber ?? null,
    onHold: s.hold !== null,
    policyVersion: s.policy.version,
    openTasks: activeTasks(s).map((t) => ({
      id: t.id,
      type: t.type,
      agency: t.agency,
      status: t.status,
      dueAt: t.dueAt,
      assignee: t.assignee,
    })),
    referrals: Object.values(s.agencyReferrals),
    payments: Object.values(s.payments),
    paidByYear: s.paidByYear,
    referralCount: s.referrals.length,
    reopenCount: s.reopenCount,
    ending: s.ending,
  };
}
export type CaseView = ReturnType<typeof caseView>;
