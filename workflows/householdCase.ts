import {
  ActivityFailure,
  ApplicationFailure,
  ParentClosePolicy,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  patched,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CaseRow } from '../activities/projection';
import {
  activeReferralIds,
  applyAction,
  applyReferralUpdate,
  caseView,
  completeTask as completeTaskTransition,
  countEarlierAid,
  isEnded,
  markPaid,
  markPaymentFailed,
  nextWake,
  publishCalendarYears,
  startCase,
  tick,
  validateAction,
  validateCompletion,
  type CaseView,
  type ReferralUpdate,
} from '../domain/journey/machine';
import {
  ActInputSchema,
  CompleteTaskInputSchema,
  type ActInput,
  type CaseState,
  type CompleteTaskInput,
  type Effect,
  type StartInput,
} from '../domain/journey/state';
import { claimCalendarYearsToAsk } from '../domain/journey/taskBook';
import { measureByCode } from '../domain/measures';
import { agencyReferral, calendarPublished, holdReferral, revokeReferral } from './agencyReferral';
import { CaseStage, HouseholdKey, RegionCode } from './searchAttributes';
import {
  calendarYears,
  createFlusher,
  disburseAid,
  drainHandlers,
  guard,
  householdAidPaid,
  nowIso,
  toFailure,
} from './shared';

// Messages, next to the workflow (wire name = variable name).
export const completeTask = defineUpdate<CaseView, [CompleteTaskInput]>('completeTask');
export const act = defineUpdate<ActResult, [ActInput]>('act');
export const referralUpdate = defineSignal<[ReferralUpdate]>('referralUpdate');
export const caseState = defineQuery<CaseView>('caseState');

/**
 * What an `addReferral` did: `started` the case (the founding referral, carried by the
 * update-with-start that started this case), `joined` it (a new referral recorded on an existing
 * case), or nothing at all (`duplicate`: the same referral was already recorded).
 */
export type ReferralOutcome = 'started' | 'joined' | 'duplicate';
export type ActResult = CaseView & { referral?: ReferralOutcome };

/**
 * `indexed`: keep the CaseStage/RegionCode/HouseholdKey search attributes current. The platform
 * registers them at start-up; the time-skipping test server cannot register any, so its tests omit it.
 */
export type HouseholdCaseInput = ({ start: StartInput } | { resume: CaseState }) & { indexed?: boolean };

/**
 * One household's journey, from referral to closure, safety-net handoff or withdrawal. Every rule is
 * in `domain/journey/machine`; this function owns the clock, the messages and the side effects.
 */
export async function householdCase(input: HouseholdCaseInput): Promise<CaseView> {
  const info = workflowInfo();
  // A household's cases share the workflow ID: new cases derive their IDs from the caseId (a UUID).
  const state: CaseState =
    'resume' in input
      ? input.resume
      : startCase(
          input.start,
          {
            workflowId: info.workflowId,
            caseId: info.firstExecutionRunId,
            legacyIds: !patched('case-scoped-ids'),
          },
          nowIso(),
        );
  let changes = 0;
  // Updates this run's handlers have taken up (local, so replay counts them alike): a new case's
  // first one is the update-with-start that founded it.
  let updatesHandled = 0;
  const flush = createFlusher(state, () => caseRow(state));

  let indexedStage: string | null = null;
  async function settle(): Promise<void> {
    while (state.effects.length) await runEffect(state.effects.shift()!);
    await askForCalendarYears();
    if (input.indexed && indexedStage !== state.stage) {
      indexedStage = state.stage;
      upsertSearchAttributes([
        { key: CaseStage, value: state.stage },
        { key: RegionCode, value: state.regionCode },
        { key: HouseholdKey, value: state.householdKey },
      ]);
    }
    await flush();
  }

  /** Years a deadline needed and the case's calendar lacks: published since? (recorded in history) */
  async function askForCalendarYears(): Promise<void> {
    const years = claimCalendarYearsToAsk(state, nowIso());
    if (!years.length || !patched('calendar-refresh')) return;
    const known = new Set(Object.keys(state.calendar.years));
    publishCalendarYears(state, await calendarYears({ calendarId: state.calendar.id, years }), nowIso());
    const added = Object.fromEntries(Object.entries(state.calendar.years).filter(([y]) => !known.has(y)));
    // The referrals started with the case's calendar of the time: they count the new years too.
    if (Object.keys(added).length && patched('forward-calendar-years'))
      for (const r of activeReferralIds(state))
        await getExternalWorkflowHandle(r)
          .signal(calendarPublished, added)
          .catch(() => undefined); // already finished: nothing left to count
  }

  async function runEffect(e: Effect): Promise<void> {
    switch (e.kind) {
      case 'startReferral':
        await startChild(agencyReferral, {
          workflowId: e.referralId,
          // The case may continue-as-new while a referral runs; the child reports by signal.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          args: [
            {
              referralId: e.referralId,
              caseId: state.caseId,
              parentWorkflowId: state.workflowId,
              measure: e.measure,
              agency: e.agency,
              regionCode: state.regionCode,
              waitlist: measureByCode(e.measure)?.waitlist ?? false,
              policy: state.policy,
              calendar: state.calendar,
              // Started while the case is on hold: its clocks start stopped too.
              held: state.hold !== null,
              // Calendar years the case has flagged already: flagged once per case.
              calendarYearsFlagged: Object.keys(state.missingCalendarYears ?? {}),
            },
          ],
        });
        return;
      case 'revokeReferral':
        try {
          await getExternalWorkflowHandle(e.referralId).signal(revokeReferral, e.reason);
        } catch {
          // Already finished: its outcome has reached us, nothing to revoke.
        }
        return;
      case 'holdReferral':
        try {
          await getExternalWorkflowHandle(e.referralId).signal(holdReferral, e.hold);
        } catch {
          // Already finished: nothing left to hold.
        }
        return;
      case 'disburse':
        try {
          await disburseAid({ ...e, caseId: state.caseId });
        } catch (err) {
          // Refused for good (its ID was paid to another case): not paid, and never marked so.
          if (
            err instanceof ActivityFailure &&
            err.cause instanceof ApplicationFailure &&
            err.cause.nonRetryable
          )
            return markPaymentFailed(state, e.paymentId, err.cause.message, nowIso());
          throw err;
        }
        markPaid(state, e.paymentId, nowIso());
        return;
    }
  }

  setHandler(
    completeTask,
    async (cmd) => {
      updatesHandled++;
      try {
        completeTaskTransition(state, cmd, nowIso(), {
          legacyExitRules: !patched('exit-rules'),
          legacyPaymentYear: !patched('payment-year-at-approval'),
        });
      } catch (err) {
        toFailure(err);
      }
      changes++;
      await settle();
      return caseView(state);
    },
    {
      validator: guard((cmd: CompleteTaskInput) =>
        validateCompletion(state, CompleteTaskInputSchema.parse(cmd), nowIso()),
      ),
    },
  );

  setHandler(
    act,
    async (cmd): Promise<ActResult> => {
      const founding = updatesHandled++ === 0 && 'start' in input;
      const referralsBefore = state.referrals.length;
      try {
        applyAction(state, cmd.actor, cmd.command, nowIso(), {
          legacyClocks: !patched('working-day-clocks'),
          legacyReferrals: !patched('referral-rules'),
        });
      } catch (err) {
        toFailure(err);
      }
      const referral: ReferralOutcome | undefined =
        cmd.command.action !== 'addReferral'
          ? undefined
          : state.referrals.length === referralsBefore
            ? 'duplicate'
            : founding
              ? 'started'
              : 'joined';
      changes++;
      await settle();
      return { ...caseView(state), ...(referral ? { referral } : {}) };
    },
    {
      validator: guard((cmd: ActInput) => {
        const parsed = ActInputSchema.parse(cmd);
        validateAction(state, parsed.actor, parsed.command, nowIso(), parsed.caseId);
      }),
    },
  );

  setHandler(referralUpdate, async (u) => {
    const unknown = !(u.referralId in state.agencyReferrals);
    applyReferralUpdate(state, u, nowIso(), {
      recordUnknown: unknown && patched('record-unknown-referral-updates'),
    });
    changes++;
    await settle();
  });

  setHandler(caseState, () => caseView(state));

  // The annual cap is per household: count what its earlier cases were paid (case-scoped IDs only,
  // so histories recorded before replay unchanged).
  if ('start' in input && state.idPrefix !== undefined)
    countEarlierAid(
      state,
      await householdAidPaid({ householdKey: state.householdKey, exceptCaseId: state.caseId }),
      nowIso(),
    );
  await settle();
  while (!isEnded(state)) {
    const wake = nextWake(state);
    if (wake === undefined || wake > Date.now()) {
      const seen = changes;
      await condition(() => changes !== seen, wake === undefined ? undefined : wake - Date.now());
    }
    tick(state, nowIso());
    await settle();
    const { continueAsNewSuggested, historyLength } = workflowInfo();
    if ((continueAsNewSuggested || historyLength > state.policy.maxHistoryEvents) && !isEnded(state)) {
      // Hand the whole state (open tasks, schedule, paid-to-date totals) to a fresh run.
      await drainHandlers(settle);
      return continueAsNew<typeof householdCase>({ resume: state, indexed: input.indexed });
    }
  }
  await drainHandlers(settle);
  return caseView(state);
}

function maskId(id: string): string {
  return `${id.slice(0, 3)}***********${id.slice(-4)}`;
}

/** The row the database projection keeps for this case. */
export function caseRow(s: CaseState): CaseRow {
  const view = caseView(s);
  return {
    id: s.caseId,
    workflowId: s.workflowId,
    householdKey: s.householdKey,
    regionCode: s.regionCode,
    stage: s.stage,
    tier: s.survey?.tier ?? null,
    causes: s.survey?.causes ?? [],
    headName: s.household.headName,
    idNumberMasked: maskId(s.household.idNumber),
    fileNumber: s.filing?.fileNumber ?? null,
    openedAt: s.openedAt,
    filedAt: s.filing?.filedAt ?? null,
    endedAt: s.ending?.at ?? null,
    onHold: s.hold !== null,
    policyVersion: s.policy.version,
    lastEventAt: s.lastEventAt ?? s.openedAt,
    eventSeq: s.eventSeq,
    facts: {
      idNumber: s.household.idNumber,
      phone: s.household.phone ?? null,
      address: s.household.address ?? null,
      comparison: s.comparison,
      survey: s.survey,
      consent: s.consent,
    },
    summary: {
      referrals: s.referrals,
      agencyReferrals: view.referrals,
      payments: view.payments,
      paidByYear: s.paidByYear,
      earlierCasesPaidByYear: s.earlierCasesPaidByYear ?? {},
      plan: s.plan,
      notice: s.notice,
      schedule: s.schedule,
      reopenCount: s.reopenCount,
      ending: s.ending,
      hold: s.hold,
    },
  };
}
