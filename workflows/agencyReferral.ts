import {
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  patched,
  setHandler,
} from '@temporalio/workflow';
import { regionWithin, type Actor } from '../domain/agencies';
import type { WorkingDayCalendar } from '../domain/calendar/workingDays';
import type { AgencyReferral, CompleteTaskInput, ActInput } from '../domain/journey/state';
import { ActInputSchema, CompleteTaskInputSchema } from '../domain/journey/state';
import {
  DomainError,
  activeTasks,
  addCalendarYears,
  assignTask,
  cancelTask,
  closeTask,
  correctionReceived,
  extendDeadline,
  getActiveTask,
  nextTaskWake,
  nudgeTask,
  openTask,
  record,
  resumeClocks,
  returnForCorrection,
  shiftClocks,
  tickTasks,
  type Book,
} from '../domain/journey/taskBook';
import type { Policy } from '../domain/policy';
import { forms, type FormOf } from '../domain/taskTypes';
import { createFlusher, drainHandlers, guard, nowIso, toFailure } from './shared';

export interface AgencyReferralInput {
  referralId: string;
  caseId: string;
  parentWorkflowId: string;
  measure: string;
  agency: string;
  regionCode: string;
  waitlist: boolean;
  policy: Policy;
  calendar: WorkingDayCalendar;
  /** The case was on hold when it sent the referral: the referral starts held (absent before). */
  held?: boolean;
  /** Calendar years the case has flagged as missing (`calendar.year_missing` is once per case). */
  calendarYearsFlagged?: string[];
}

export interface ReferralView {
  referralId: string;
  measure: string;
  agency: string;
  status: AgencyReferral['status'];
  waitlistPosition: number | null;
  outcome: Record<string, unknown> | null;
  openTasks: Array<{ id: string; type: string; dueAt: string; status: string }>;
}

export const completeReferralTask = defineUpdate<ReferralView, [CompleteTaskInput]>('completeTask');
export const referralAct = defineUpdate<ReferralView, [ActInput]>('act');
export const revokeReferral = defineSignal<[string]>('revokeReferral');
/** The case was put on hold (true) or resumed (false): the referral's clocks follow. */
export const holdReferral = defineSignal<[boolean]>('holdReferral');
/** Calendar years the case merged since it sent the referral: the referral's deadlines count them too. */
export const calendarPublished = defineSignal<[WorkingDayCalendar['years']]>('calendarPublished');
export const referralState = defineQuery<ReferralView>('referralState');

/**
 * A measure owned by another agency (e.g. public rental housing with 住建): the agency accepts,
 * declines with a coded reason, or waitlists within its deadline, then reports the outcome. Every
 * change is signalled to the household case, which may have continued-as-new meanwhile.
 */
export async function agencyReferral(input: AgencyReferralInput): Promise<ReferralView> {
  const book: Book = {
    workflowId: input.referralId,
    caseId: input.caseId,
    regionCode: input.regionCode,
    tasks: {},
    taskSeq: 0,
    eventSeq: 0,
    outbox: [],
    dirtyTasks: [],
    lastEventAt: null,
    policy: input.policy,
    calendar: input.calendar,
    hold: input.held ? { since: nowIso(), reason: 'case on hold' } : null,
    // The case asks for missing years; the referral only counts on what it was given.
    missingCalendarYears: Object.fromEntries(
      (input.calendarYearsFlagged ?? []).map((y) => [y, { askedAt: nowIso() }]),
    ),
  };
  let status: AgencyReferral['status'] = 'pending';
  let waitlistPosition: number | null = null;
  let outcome: Record<string, unknown> | null = null;
  let changes = 0;
  const flush = createFlusher(book, () => null);
  const ended = () => ['declined', 'granted', 'refused', 'revoked'].includes(status);
  const view = (): ReferralView => ({
    referralId: input.referralId,
    measure: input.measure,
    agency: input.agency,
    status,
    waitlistPosition,
    outcome,
    openTasks: activeTasks(book).map((t) => ({ id: t.id, type: t.type, dueAt: t.dueAt, status: t.status })),
  });

  async function report(): Promise<void> {
    await flush();
    try {
      await getExternalWorkflowHandle(input.parentWorkflowId).signal('referralUpdate', {
        referralId: input.referralId,
        status,
        waitlistPosition,
        outcome,
      });
    } catch {
      // The case has ended; the referral's own record in the database is all that remains to keep.
    }
  }

  function assertActor(actor: Actor): void {
    if (actor.agency !== input.agency)
      throw new DomainError(
        'forbidden',
        `this referral belongs to agency ${input.agency}, not ${actor.agency}`,
      );
    if (!regionWithin(input.regionCode, actor.region))
      throw new DomainError('forbidden', `actor ${actor.id} does not cover region ${input.regionCode}`);
  }

  function validate(cmd: CompleteTaskInput) {
    const parsed = CompleteTaskInputSchema.parse(cmd);
    assertActor(parsed.actor);
    const task = getActiveTask(book, parsed.taskId);
    if (task.status !== 'open')
      throw new DomainError('task_not_open', `task ${task.id} is awaiting a correction`);
    if (parsed.completion.type !== task.type)
      throw new DomainError(
        'wrong_task_type',
        `task ${task.id} is a ${task.type}, not a ${parsed.completion.type}`,
      );
    if (task.assignee && task.assignee !== parsed.actor.id)
      throw new DomainError('task_claimed', `task ${task.id} is claimed by ${task.assignee}`);
    const form = forms[task.type].parse(parsed.completion.form);
    if (
      task.type === 'referralAcceptance' &&
      (form as FormOf<'referralAcceptance'>).decision === 'waitlist' &&
      !input.waitlist
    )
      throw new DomainError('no_waitlist', `measure ${input.measure} has no waiting list`);
    return { task, form, actor: parsed.actor };
  }

  setHandler(
    completeReferralTask,
    async (cmd) => {
      const now = nowIso();
      try {
        const { task, form, actor } = validate(cmd);
        closeTask(book, task, now, actor, form);
        if (task.type === 'referralAcceptance') {
          const f = form as FormOf<'referralAcceptance'>;
          if (f.decision === 'decline') {
            status = 'declined';
            outcome = { reasonCode: f.reasonCode, note: f.note ?? null };
          } else {
            status = f.decision === 'accept' ? 'accepted' : 'waitlisted';
            waitlistPosition = f.decision === 'waitlist' ? f.position : null;
            openTask(book, { type: 'referralOutcome', agency: input.agency }, now);
          }
        } else {
          const f = form as FormOf<'referralOutcome'>;
          status = f.result;
          outcome = f;
        }
        record(book, `referral.${status}`, now, { measure: input.measure, waitlistPosition, outcome }, actor);
      } catch (err) {
        toFailure(err);
      }
      changes++;
      await report();
      return view();
    },
    { validator: guard((cmd: CompleteTaskInput) => void validate(cmd)) },
  );

  /** `legacyClocks`: 补正 keeps milliseconds left, as in histories recorded before working-day pauses. */
  function applyAct(book: Book, cmd: ActInput, now: string, legacyClocks = false): void {
    const { actor, command } = ActInputSchema.parse(cmd);
    // Coordinators (union joint office) unblock referrals too: extend, remind, escalate, reassign.
    const coordinating = actor.roles.includes('coordinator') && regionWithin(input.regionCode, actor.region);
    const supervising = coordinating || (actor.agency === input.agency && actor.roles.includes('supervisor'));
    if (!(
      coordinating && ['extendDeadline', 'remind', 'escalate', 'reassign', 'comment'].includes(command.action)
    ))
      assertActor(actor);
    switch (command.action) {
      case 'claim':
      case 'release': {
        const t = getActiveTask(book, command.taskId);
        if (command.action === 'claim' && t.assignee && t.assignee !== actor.id)
          throw new DomainError('task_claimed', `task ${t.id} is claimed by ${t.assignee}`);
        const claim = command.action === 'claim';
        return assignTask(book, t, claim ? actor.id : null, claim ? 'claimed' : 'released', now, actor);
      }
      case 'reassign':
        if (!supervising)
          throw new DomainError('forbidden', 'reassigning needs a coordinator or the agency supervisor');
        return assignTask(
          book,
          getActiveTask(book, command.taskId),
          command.assignee,
          'reassigned',
          now,
          actor,
        );
      case 'returnForCorrection':
        returnForCorrection(book, command.taskId, command.reason, now, actor, legacyClocks);
        return;
      case 'correctionReceived':
        correctionReceived(book, command.taskId, now, actor);
        return;
      case 'extendDeadline':
        if (!supervising)
          throw new DomainError(
            'forbidden',
            'extending a deadline needs a coordinator or the agency supervisor',
          );
        extendDeadline(book, command.taskId, command.by, command.reason, now, actor);
        return;
      case 'remind':
      case 'escalate': {
        if (!supervising)
          throw new DomainError(
            'forbidden',
            `${command.action} needs a coordinator or the agency supervisor`,
          );
        const reason = command.action === 'escalate' ? command.reason : null;
        return nudgeTask(book, getActiveTask(book, command.taskId), command.action, reason, now, actor);
      }
      case 'comment':
        record(book, 'case.comment', now, { text: command.text }, actor, command.taskId);
        return;
      default:
        throw new DomainError('unsupported_action', `${command.action} is not an action on a referral`);
    }
  }

  setHandler(
    referralAct,
    async (cmd) => {
      try {
        applyAct(book, cmd, nowIso(), !patched('working-day-clocks'));
      } catch (err) {
        toFailure(err);
      }
      changes++;
      await flush();
      return view();
    },
    // Validators must not change state: dry-run the action on a copy.
    {
      validator: guard((cmd: ActInput) => applyAct(JSON.parse(JSON.stringify(book)) as Book, cmd, nowIso())),
    },
  );

  setHandler(revokeReferral, async (reason) => {
    if (ended()) return;
    const now = nowIso();
    for (const t of activeTasks(book)) cancelTask(book, t, now, `referral revoked: ${reason}`);
    status = 'revoked';
    outcome = { reason };
    record(book, 'referral.revoked', now, { reason });
    changes++;
    await report();
  });

  setHandler(holdReferral, async (on) => {
    const now = nowIso();
    if (on && !book.hold) {
      book.hold = { since: now, reason: 'case on hold' };
      record(book, 'referral.held', now, {});
    } else if (!on && book.hold) {
      const ms = Date.parse(now) - Date.parse(book.hold.since);
      if (patched('working-day-clocks')) resumeClocks(book, now);
      else shiftClocks(book, ms);
      book.hold = null;
      record(book, 'referral.resumed', now, { heldMs: ms });
    } else return;
    changes++;
    await flush();
  });

  setHandler(calendarPublished, async (years) => {
    addCalendarYears(book, years, nowIso());
    changes++;
    await flush();
  });

  setHandler(referralState, view);

  if (book.hold) record(book, 'referral.held', book.hold.since, {});
  openTask(book, { type: 'referralAcceptance', agency: input.agency }, nowIso());
  await flush();
  while (!ended()) {
    const wake = nextTaskWake(book);
    const seen = changes;
    await condition(() => changes !== seen, wake === undefined ? undefined : Math.max(1, wake - Date.now()));
    tickTasks(book, nowIso());
    await flush();
  }
  await drainHandlers(flush);
  return view();
}
