import type { FormOf } from '../../domain/taskTypes';
import type { Actor } from '../../domain/agencies';
import {
  startCase,
  assertFileable,
  fileCase,
  completeTask,
  applyAction,
  tick,
  nextWake,
  validateAction,
  validateCompletion,
  publishCalendarYears,
  type Rules,
} from '../../domain/journey/machine';
import type { CaseState } from '../../domain/journey/state';
import { DomainError } from '../../domain/journey/taskBook';
import { addWorkingDays, workingDaysBetween } from '../../domain/calendar/workingDays';
import { actors, calendar, forms, household, referral, testPolicy } from '../support/fixtures';

/** The pure state machine, without Temporal: the hard rules of DOMAIN.md, one test each. */
const T0 = '2026-03-02T01:00:00.000Z'; // Monday 09:00 in China
const DAY = 24 * 3600_000;

function newCase(now = T0): CaseState {
  return startCase(
    { household: household(), householdKey: 'k', referral, policy: testPolicy(), calendar },
    { workflowId: 'household-k', caseId: 'case-1' },
    now,
  );
}

function open(s: CaseState, type: string) {
  const t = Object.values(s.tasks).find((x) => x.type === type && x.status === 'open');
  if (!t) throw new Error(`no open ${type}`);
  return t;
}

function complete(
  s: CaseState,
  type: string,
  form: unknown,
  actor: Actor = actors.unionStaff,
  now = T0,
  rules: Rules = {},
) {
  completeTask(s, { taskId: open(s, type).id, actor, completion: { type, form } as never }, now, rules);
}

function toSignOff(): CaseState {
  const s = newCase();
  complete(s, 'intakeReview', forms.intakeAccept);
  complete(s, 'dataComparisonCivil', forms.civil, actors.civil);
  complete(s, 'dataComparisonHr', forms.hr, actors.hr);
  complete(s, 'householdSurvey', forms.surveyEligible);
  complete(s, 'collectiveDeliberation', forms.deliberationApprove);
  tick(s, '2026-03-10T00:00:00.000Z');
  return s;
}

const code = (fn: () => void) => {
  try {
    fn();
  } catch (e) {
    return (e as DomainError).code;
  }
  return 'no error';
};

describe('no X, no file (001: 不入户调查不建档…工会主席不签字不建档)', () => {
  test('a case that passed every step is fileable', () => {
    const s = toSignOff();
    expect(s.stage).toBe('sign_off');
    complete(s, 'chairSignOff', forms.sign, actors.chair, '2026-03-10T00:00:00.000Z');
    expect(s.filing?.fileNumber).toBe('hl-harbin-daoli-2026-case-1');
  });
  test('no household survey, no file', () => {
    const s = toSignOff();
    s.survey = null;
    expect(code(() => fileCase(s, T0))).toBe('no_survey_no_file');
  });
  test('no collective deliberation, no file', () => {
    const s = toSignOff();
    s.deliberation = null;
    expect(code(() => fileCase(s, T0))).toBe('no_deliberation_no_file');
  });
  test('no completed public notice, no file', () => {
    const s = toSignOff();
    s.notice!.passedAt = null;
    expect(code(() => assertFileable(s, { ignoreSignOff: true }))).toBe('no_notice_no_file');
  });
  test("no chair's signature, no file", () => {
    const s = toSignOff();
    expect(code(() => fileCase(s, T0))).toBe('no_signature_no_file');
  });
  test('only a chair signs off', () => {
    const s = toSignOff();
    expect(code(() => complete(s, 'chairSignOff', forms.sign, actors.unionSupervisor))).toBe('forbidden');
  });
});

test('no aid before filing (先建档、后帮扶)', () => {
  const s = toSignOff();
  expect(
    code(() =>
      applyAction(
        s,
        actors.unionStaff,
        { action: 'prepareAidPayment', measure: 'union_living_aid', amountCents: 100 },
        T0,
      ),
    ),
  ).toBe('not_filed');
});

test('no consent, no comparison: the intake form refuses to proceed without it', () => {
  const s = newCase();
  const form = { decision: 'accept', consent: { dataComparison: false, sharingWithAgencies: true } };
  expect(code(() => complete(s, 'intakeReview', form))).toBe('invalid_form');
  expect(s.stage).toBe('intake');
});

test('a task deadline that spans the 2026 Spring Festival lands on the right working day', () => {
  // Opened Friday 2026-02-13; 5 working days: Sat 14 (调休 make-up day), then 24, 25, 26, 27 Feb.
  const s = newCase('2026-02-13T02:00:00.000Z');
  expect(open(s, 'intakeReview').dueAt).toBe('2026-02-27T15:59:59.999Z');
  expect(nextWake(s)).toBe(Date.parse('2026-02-26T15:59:59.999Z')); // reminder 24 h before
});

test('the wrong agency cannot complete a task, and a foreign region cannot either', () => {
  const s = newCase();
  expect(code(() => complete(s, 'intakeReview', forms.intakeAccept, actors.civil))).toBe('forbidden');
  expect(code(() => complete(s, 'intakeReview', forms.intakeAccept, actors.otherRegion))).toBe('forbidden');
});

test('the tier follows the monthly gap: accident-caused, relative, deep, or not eligible', () => {
  const tierFor = (form: FormOf<'householdSurvey'>) => {
    const s = newCase();
    complete(s, 'intakeReview', forms.intakeAccept);
    complete(s, 'dataComparisonCivil', forms.civil, actors.civil);
    complete(s, 'dataComparisonHr', forms.hr, actors.hr);
    complete(s, 'householdSurvey', form);
    return [s.survey?.tier, s.stage];
  };
  expect(tierFor(forms.surveyEligible)).toEqual(['deep', 'deliberation']);
  expect(tierFor({ ...forms.surveyEligible, accidentCaused: true })).toEqual(['accident', 'deliberation']);
  expect(
    tierFor({ ...forms.surveyEligible, expenditureItems: [{ category: 'medical', monthlyCents: 200000 }] }),
  ).toEqual(['relative', 'deliberation']);
  expect(tierFor(forms.surveyIneligible)).toEqual([null, 'not_eligible']);
});

test('a new hardship reported at any time in the gradual-exit period reopens assistance, history kept', () => {
  const s = toSignOff();
  complete(s, 'chairSignOff', forms.sign, actors.chair, '2026-03-10T00:00:00.000Z');
  complete(s, 'assistancePlan', { route: 'assist', measures: ['job_placement'] });
  applyAction(s, actors.unionStaff, { action: 'proposeExit', note: 'employed' }, T0);
  complete(s, 'exitApproval', { decision: 'approve', checklist: forms.checklistAll }, actors.chair);
  expect(s.stage).toBe('gradual_exit');
  expect(
    code(() =>
      applyAction(
        s,
        actors.civil,
        { action: 'reportNewHardship', cause: 'accident', description: 'injured at work' },
        T0,
      ),
    ),
  ).toBe('forbidden');
  applyAction(
    s,
    actors.unionStaff,
    { action: 'reportNewHardship', cause: 'accident', description: 'injured at work' },
    '2026-04-01T00:00:00.000Z',
  );
  expect(s.stage).toBe('planning');
  expect(s.reopenCount).toBe(1);
  expect(s.filing?.fileNumber).toBe('hl-harbin-daoli-2026-case-1'); // same case, same file
  expect(s.schedule.followUps).toEqual([]);
  expect(s.outbox.map((e) => e.type)).toContain('case.reopened');
});

test('a case keeps the policy it started under', () => {
  const s = startCase(
    {
      household: household(),
      householdKey: 'k',
      referral,
      policy: testPolicy({ version: '2025.9', publicNoticeCalendarDays: 5 }),
      calendar,
    },
    { workflowId: 'household-k', caseId: 'case-2' },
    T0,
  );
  expect(s.policy.version).toBe('2025.9');
  expect(s.policy.publicNoticeCalendarDays).toBe(5);
});

test('the Update validator checks the annual cap in the current year, before anything is written', () => {
  const s = toSignOff();
  complete(s, 'chairSignOff', forms.sign, actors.chair, '2026-03-10T00:00:00.000Z');
  applyAction(
    s,
    actors.unionStaff,
    { action: 'prepareAidPayment', measure: 'union_living_aid', amountCents: 4_000_000 },
    T0,
  );
  const before = JSON.stringify(s);
  const over = { action: 'prepareAidPayment', measure: 'union_living_aid', amountCents: 1_500_000 } as const;
  expect(code(() => validateAction(s, actors.unionStaff, over, T0))).toBe('over_annual_cap');
  expect(JSON.stringify(s)).toBe(before); // validators never change state
  // The next calendar year has its own cap.
  expect(code(() => validateAction(s, actors.unionStaff, over, '2027-01-05T01:00:00.000Z'))).toBe('no error');
});

describe('quarterly reviews and exits', () => {
  const Q1 = '2026-06-10T01:00:00.000Z'; // the first quarterly review is due
  const Q2 = '2026-09-10T01:00:00.000Z'; // the second, with the 6-month cadre visit
  /** A filed, assisted case with a quarterly review and a cadre visit open. */
  function assisted(): CaseState {
    const s = toSignOff();
    complete(s, 'chairSignOff', forms.sign, actors.chair, '2026-03-10T00:00:00.000Z');
    complete(s, 'assistancePlan', { route: 'assist', measures: ['job_placement'] });
    tick(s, Q1);
    complete(s, 'quarterlyReview', { recommendation: 'continue', notes: 'Q1' }, actors.unionStaff, Q1);
    tick(s, Q2);
    expect(
      Object.values(s.tasks)
        .filter((t) => t.status === 'open')
        .map((t) => t.type),
    ).toEqual(expect.arrayContaining(['quarterlyReview', 'cadreVisit']));
    return s;
  }
  const review = (s: CaseState, recommendation: string) => ({
    taskId: open(s, 'quarterlyReview').id,
    actor: actors.unionStaff,
    completion: { type: 'quarterlyReview', form: { recommendation, notes: 'n' } } as never,
  });

  test('a review proposing a second exit is refused before it closes, nothing changed: by the validator and by the transition itself', () => {
    const s = assisted();
    applyAction(s, actors.unionStaff, { action: 'proposeExit', note: 'employed' }, Q2);
    const before = JSON.stringify(s);
    expect(code(() => validateCompletion(s, review(s, 'propose_exit'), Q2))).toBe('not_assisting');
    expect(code(() => completeTask(s, review(s, 'propose_exit'), Q2))).toBe('not_assisting');
    // Replayed histories skip the stage rule; the open proposal still refuses it, before the close.
    expect(code(() => completeTask(s, review(s, 'propose_exit'), Q2, { legacyExitRules: true }))).toBe(
      'exit_already_proposed',
    );
    expect(JSON.stringify(s)).toBe(before);
    expect(code(() => validateCompletion(s, review(s, 'continue'), Q2))).toBe('no error');
  });

  test('a review proposes an exit or the safety net only for a case in assistance', () => {
    const handoff = assisted();
    applyAction(handoff, actors.unionStaff, { action: 'proposeExit', note: 'x' }, Q2);
    const notYet = { decision: 'reject', reason: 'not yet', checklist: forms.checklistAll };
    complete(handoff, 'exitApproval', notYet, actors.chair, Q2);
    complete(handoff, 'cadreVisit', { visitedOn: '2026-09-10', notes: 'ok' }, actors.unionStaff, Q2);
    // From assistance, the safety net is a review's choice; then no review may propose an exit.
    complete(
      handoff,
      'quarterlyReview',
      { recommendation: 'safety_net', notes: 'no capacity' },
      actors.unionStaff,
      Q2,
    );
    expect(handoff.stage).toBe('safety_net_handoff');
    tick(handoff, '2026-12-10T01:00:00.000Z');
    expect(code(() => validateCompletion(handoff, review(handoff, 'propose_exit'), Q2))).toBe(
      'not_assisting',
    );
    expect(handoff.stage).toBe('safety_net_handoff');
    // Before the fix (replayed histories), the same review moved the case out of the handoff.
    const legacy = JSON.parse(JSON.stringify(handoff)) as CaseState;
    completeTask(legacy, review(legacy, 'propose_exit'), Q2, { legacyExitRules: true });
    expect(legacy.stage).toBe('exit_review');
  });

  test('an approved exit cancels open reviews and cadre visits; none is left to move the gradual exit', () => {
    const s = assisted();
    applyAction(s, actors.unionStaff, { action: 'proposeExit', note: 'employed' }, Q2);
    complete(s, 'exitApproval', { decision: 'approve', checklist: forms.checklistAll }, actors.chair, Q2);
    expect(s.stage).toBe('gradual_exit');
    const cancelled = Object.values(s.tasks)
      .filter((t) => t.status === 'cancelled')
      .map((t) => t.type);
    expect(cancelled.sort()).toEqual(['cadreVisit', 'quarterlyReview']);
    expect(Object.values(s.tasks).filter((t) => t.status === 'open')).toEqual([]);
  });

  test('a stale review cannot hand a gradual-exit case to the safety net', () => {
    const s = assisted();
    applyAction(s, actors.unionStaff, { action: 'proposeExit', note: 'employed' }, Q2);
    complete(s, 'exitApproval', { decision: 'approve', checklist: forms.checklistAll }, actors.chair, Q2, {
      legacyExitRules: true, // a case whose review stayed open through its exit
    });
    expect(s.stage).toBe('gradual_exit');
    expect(code(() => validateCompletion(s, review(s, 'safety_net'), Q2))).toBe('not_in_assistance');
    expect(code(() => validateCompletion(s, review(s, 'propose_exit'), Q2))).toBe('not_assisting');
    expect(s.stage).toBe('gradual_exit');
  });
});

describe('stopped clocks (补正, holds) count working days', () => {
  const at = (local: string) => new Date(Date.parse(`${local}+08:00`)).toISOString();
  const coordinator = actors.coordinator;

  test('a working-day deadline returned for documents with 3 working days left gets 3 working days after the 国庆 holiday', () => {
    const s = newCase(at('2026-09-21T09:00:00')); // Monday; 5 working days → due Tue 29 Sep
    const id = open(s, 'intakeReview').id;
    expect(s.tasks[id]!.dueAt).toBe(at('2026-09-29T23:59:59.999'));
    const legacy = JSON.parse(JSON.stringify(s)) as CaseState;
    const ret = { action: 'returnForCorrection', taskId: id, reason: 'hukou booklet missing' } as const;
    applyAction(s, actors.unionStaff, ret, at('2026-09-23T10:00:00')); // Thu 24, Mon 28, Tue 29 left
    applyAction(
      s,
      actors.unionStaff,
      { action: 'correctionReceived', taskId: id },
      at('2026-09-30T10:00:00'),
    );
    // Oct 1–7 are holidays: Thu 8, Fri 9 and Sat 10 (调休 workday).
    expect(s.tasks[id]!.dueAt).toBe(at('2026-10-10T23:59:59.999'));
    // The milliseconds kept before landed inside the holiday with no working day left.
    applyAction(legacy, actors.unionStaff, ret, at('2026-09-23T10:00:00'), { legacyClocks: true });
    applyAction(
      legacy,
      actors.unionStaff,
      { action: 'correctionReceived', taskId: id },
      at('2026-09-30T10:00:00'),
    );
    expect(legacy.tasks[id]!.dueAt).toBe(at('2026-10-06T23:59:59.999'));
  });

  test('a hold gives a task opened during it only the held time it lived through, in working days', () => {
    const s = newCase(at('2026-03-02T09:00:00'));
    const intake = open(s, 'intakeReview').id; // due Mon 9 Mar: 5 working days left when held
    applyAction(
      s,
      coordinator,
      { action: 'hold', reason: 'household in hospital' },
      at('2026-03-02T10:00:00'),
    );
    // Work is still accepted while held: the comparison tasks open on its 28th day.
    complete(s, 'intakeReview', forms.intakeAccept, actors.unionStaff, at('2026-03-30T09:00:00'));
    const civil = open(s, 'dataComparisonCivil').id;
    const opened = s.tasks[civil]!.dueAt;
    const resumeAt = at('2026-03-31T09:00:00');
    const legacy = JSON.parse(JSON.stringify(s)) as CaseState;
    applyAction(s, coordinator, { action: 'resume' }, resumeAt);
    expect(s.tasks[civil]!.dueAt).toBe(addWorkingDays(resumeAt, 10, calendar));
    expect(s.tasks[intake]!.status).toBe('completed');
    // Before, it gained the whole hold (29 days less an hour), a day of which it had lived.
    applyAction(legacy, coordinator, { action: 'resume' }, resumeAt, { legacyClocks: true });
    expect(Date.parse(legacy.tasks[civil]!.dueAt) - Date.parse(opened)).toBe(29 * DAY - 3600_000);
  });

  test('a task alive through the whole hold keeps its working days; a visit scheduled during it moves by what it lived', () => {
    const s = toSignOff(); // the sign-off is open from 2026-03-10
    const signOff = open(s, 'chairSignOff').id;
    const left = workingDaysBetween(at('2026-03-11T09:00:00'), s.tasks[signOff]!.dueAt, calendar);
    applyAction(s, coordinator, { action: 'hold', reason: 'audit' }, at('2026-03-11T09:00:00'));
    expect(s.stage).toBe('sign_off');
    const resumeAt = at('2026-04-10T09:00:00');
    const chairDue = addWorkingDays(resumeAt, left, calendar);
    applyAction(s, coordinator, { action: 'resume' }, resumeAt);
    expect(s.tasks[signOff]!.dueAt).toBe(chairDue);
    // Held again, and filed on the 29th day of a 30-day hold: its schedule lived one day of it.
    applyAction(s, coordinator, { action: 'hold', reason: 'audit' }, at('2026-04-10T10:00:00'));
    complete(s, 'chairSignOff', forms.sign, actors.chair, at('2026-05-09T10:00:00'));
    const visit = s.schedule.nextCadreVisitAt!;
    applyAction(s, coordinator, { action: 'resume' }, at('2026-05-10T10:00:00'));
    expect(Date.parse(s.schedule.nextCadreVisitAt!) - Date.parse(visit)).toBe(DAY);
  });
});

describe('a calendar year the case lacks (2027: no State Council notice yet)', () => {
  const at = (local: string) => new Date(Date.parse(`${local}+08:00`)).toISOString();
  const year2027 = { holidays: ['2027-01-01', '2027-01-04'], makeupWorkdays: [] };

  test('a deadline crossing it is counted on weekdays, flagged once for the case, and recounted once published', () => {
    const s = newCase(at('2026-12-28T09:00:00')); // intake: 5 working days → Mon 4 Jan 2027 on weekdays
    const intake = open(s, 'intakeReview');
    expect(intake.dueAt).toBe(at('2027-01-04T23:59:59.999'));
    complete(s, 'intakeReview', forms.intakeAccept, actors.unionStaff, at('2026-12-29T09:00:00'));
    const flagged = s.outbox.filter((e) => e.type === 'calendar.year_missing');
    expect(flagged).toEqual([
      expect.objectContaining({ taskId: intake.id, data: expect.objectContaining({ year: '2027' }) }),
    ]);
    expect(Object.keys(s.weekdayFallbackDues!).sort()).toEqual(
      [open(s, 'dataComparisonCivil').id, open(s, 'dataComparisonHr').id].sort(),
    );
    // Published: 1 and 4 January are holidays. Both comparisons (10 working days from 29 Dec) recount.
    publishCalendarYears(s, { '2027': year2027 }, at('2026-12-30T09:00:00'));
    const cal = { ...calendar, years: { ...calendar.years, '2027': year2027 } };
    expect(open(s, 'dataComparisonCivil').dueAt).toBe(addWorkingDays(at('2026-12-29T09:00:00'), 10, cal));
    expect(open(s, 'dataComparisonCivil').dueAt).toBe(at('2027-01-14T23:59:59.999'));
    expect(s.calendar.years['2027']).toEqual(year2027);
    expect(s.missingCalendarYears).toEqual({});
    expect(s.outbox.filter((e) => e.type === 'task.due_recounted')).toHaveLength(2);
  });

  test('a due set again in calendar days is not recounted; the appeal window is', () => {
    const cal = { ...calendar, years: { ...calendar.years, '2027': year2027 } };
    const s = newCase(at('2026-12-28T09:00:00'));
    const intake = open(s, 'intakeReview').id;
    const extend = {
      action: 'extendDeadline',
      taskId: intake,
      by: { calendarDays: 30 },
      reason: 'r',
    } as const;
    applyAction(s, actors.coordinator, extend, at('2026-12-28T10:00:00'));
    const extended = s.tasks[intake]!.dueAt;
    publishCalendarYears(s, { '2027': year2027 }, at('2026-12-28T11:00:00'));
    expect(s.tasks[intake]!.dueAt).toBe(extended);

    const ne = newCase(at('2026-12-28T09:00:00'));
    complete(ne, 'intakeReview', forms.intakeAccept, actors.unionStaff, at('2026-12-28T10:00:00'));
    complete(ne, 'dataComparisonCivil', forms.civil, actors.civil, at('2026-12-28T10:00:00'));
    complete(ne, 'dataComparisonHr', forms.hr, actors.hr, at('2026-12-28T10:00:00'));
    complete(ne, 'householdSurvey', forms.surveyIneligible, actors.unionStaff, at('2026-12-28T12:00:00'));
    expect(ne.stage).toBe('not_eligible');
    const weekdaysOnly = ne.schedule.appealDeadline; // 15 working days, across New Year
    publishCalendarYears(ne, { '2027': year2027 }, at('2026-12-29T09:00:00'));
    expect(ne.schedule.appealDeadline).toBe(addWorkingDays(at('2026-12-28T12:00:00'), 15, cal));
    expect(ne.schedule.appealDeadline).not.toBe(weekdaysOnly);
  });
});

describe('referrals joining an open case', () => {
  const refer = (s: CaseState, r: Record<string, unknown>, actor: Actor = actors.unionStaff) =>
    applyAction(s, actor, { action: 'addReferral', referral: { ...referral, ...r } as never }, T0);
  const referralEvents = (s: CaseState) => s.outbox.filter((e) => e.type === 'case.referral_received');

  test('a referrer from another region is refused with a neutral error, and the case is left as it was', () => {
    const s = newCase();
    refer(s, {});
    const before = JSON.stringify(s);
    const elsewhere = {
      action: 'addReferral',
      referral: { ...referral, referrer: 'Qiqihar union' },
    } as const;
    expect(code(() => validateAction(s, actors.otherRegion, elsewhere, T0))).toBe(
      'handled_by_another_region',
    );
    expect(code(() => applyAction(s, actors.otherRegion, elsewhere, T0))).toBe('handled_by_another_region');
    expect(JSON.stringify(s)).toBe(before);
    // Histories recorded before the rule replay as they ran.
    applyAction(s, actors.otherRegion, elsewhere, T0, { legacyReferrals: true });
    expect(s.referrals).toHaveLength(2);
  });

  test('the same referral sent again adds nothing: by source, referrer and external reference, else note', () => {
    const s = newCase();
    refer(s, { source: 'agency', referrer: 'civil affairs system', externalRef: 'CA-77' });
    refer(s, { source: 'agency', referrer: 'civil affairs system', externalRef: 'CA-77', note: 'again' });
    refer(s, { source: 'enterprise_union', referrer: 'Bearing Works', note: 'laid off in May' });
    refer(s, { source: 'enterprise_union', referrer: 'Bearing Works', note: 'laid off in May' });
    expect(s.referrals).toHaveLength(2);
    expect(referralEvents(s)).toHaveLength(2);
    // Another reference, another note or another referrer is another referral.
    refer(s, { source: 'agency', referrer: 'civil affairs system', externalRef: 'CA-78' });
    refer(s, { source: 'enterprise_union', referrer: 'Bearing Works', note: 'wife ill' });
    refer(s, { source: 'enterprise_union', referrer: 'Harbin Bearing Works', note: 'laid off in May' });
    expect(s.referrals).toHaveLength(5);
    expect(referralEvents(s)).toHaveLength(5);
  });
});

describe('union aid counts against the year it is paid in', () => {
  const at = (local: string) => new Date(Date.parse(`${local}+08:00`)).toISOString();
  const filed = () => {
    const s = toSignOff();
    complete(s, 'chairSignOff', forms.sign, actors.chair, '2026-03-10T00:00:00.000Z');
    return s;
  };
  const prepare = (s: CaseState, amountCents: number, now: string) =>
    applyAction(
      s,
      actors.unionStaff,
      { action: 'prepareAidPayment', measure: 'union_living_aid', amountCents },
      now,
    );
  const approval = (s: CaseState, paymentId = Object.keys(s.payments).at(-1)!) => ({
    taskId: Object.values(s.tasks).find((t) => t.status === 'open' && t.context.paymentId === paymentId)!.id,
    actor: actors.unionSupervisor,
    completion: { type: 'aidPaymentApproval', form: { decision: 'approve' } } as never,
  });

  test('prepared in December and approved in January, a payment is January’s, and January’s cap is checked again', () => {
    const s = filed();
    prepare(s, 2_500_000, at('2026-12-30T09:00:00')); // within 2026's cap
    const december = Object.keys(s.payments)[0]!;
    prepare(s, 3_000_000, at('2027-01-04T09:00:00'));
    completeTask(s, approval(s), at('2027-01-04T10:00:00'));
    // On 5 January 2027 already has ¥30,000 paid: the December one's ¥25,000 would pass the cap.
    expect(code(() => validateCompletion(s, approval(s, december), at('2027-01-05T10:00:00')))).toBe(
      'over_annual_cap',
    );
    // The transition itself checks the cap before it closes the approval task: nothing half-written.
    const before = JSON.stringify(s);
    expect(code(() => completeTask(s, approval(s, december), at('2027-01-05T10:00:00')))).toBe(
      'over_annual_cap',
    );
    expect(JSON.stringify(s)).toBe(before);
    prepare(s, 1_500_000, at('2026-12-31T09:00:00'));
    completeTask(s, approval(s), at('2027-01-05T10:00:00'));
    expect(Object.values(s.payments).map((p) => [p.year, p.status])).toEqual([
      [2026, 'pending_approval'],
      [2027, 'approved'],
      [2027, 'approved'],
    ]);
    expect(s.effects.map((e) => (e.kind === 'disburse' ? e.year : null))).toEqual([2027, 2027]);
  });

  test('before (replayed histories) the year was the one it was prepared in', () => {
    const s = filed();
    prepare(s, 1_000_000, at('2026-12-30T09:00:00'));
    completeTask(s, approval(s), at('2027-01-04T10:00:00'), { legacyPaymentYear: true });
    expect(Object.values(s.payments)[0]!.year).toBe(2026);
  });
});

test("a task escalated by hand goes to the policy's escalation target, as an overdue one does", () => {
  const policy = testPolicy({
    escalation: {
      default: { agency: 'owner', role: 'supervisor' },
      byTaskType: { intakeReview: { agency: 'union', role: 'coordinator' } },
    },
  });
  const s = startCase(
    { household: household(), householdKey: 'k', referral, policy, calendar },
    { workflowId: 'household-k', caseId: 'case-3' },
    T0,
  );
  const id = open(s, 'intakeReview').id;
  applyAction(s, actors.coordinator, { action: 'escalate', taskId: id, reason: 'no answer' }, T0);
  expect(s.tasks[id]!.escalatedTo).toEqual({ agency: 'union', role: 'coordinator' });
});
