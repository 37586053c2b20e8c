import { z } from 'zod';
import { ActorSchema, RegionCodeSchema, type Actor } from '../agencies';
import type { WorkingDayCalendar } from '../calendar/workingDays';
import { DeadlineSchema, type Policy } from '../policy';
import { HardshipCauseSchema, TaskCompletionSchema } from '../taskTypes';
import type { Book } from './taskBook';

/** Where a case is in the journey (DOMAIN.md, "The household journey"). */
export const STAGES = [
  'intake',
  'comparison',
  'survey',
  'deliberation',
  'public_notice',
  'sign_off',
  'planning',
  'assisting',
  'exit_review',
  'gradual_exit',
  'safety_net_handoff',
  'not_eligible',
  'appeal_review',
  // endings
  'closed',
  'safety_net',
  'withdrawn',
  'ineligible',
] as const;
export type Stage = (typeof STAGES)[number];
export const TERMINAL_STAGES: readonly Stage[] = ['closed', 'safety_net', 'withdrawn', 'ineligible'];

export const ReferralSourceSchema = z.enum(['self_application', 'cadre', 'enterprise_union', 'agency']);

export const HouseholdSchema = z.object({
  /** 18-character resident ID number of the head of household (sensitive). */
  idNumber: z.string().regex(/^\d{17}[\dX]$/, 'must be an 18-character resident ID number'),
  headName: z.string().trim().min(1).max(100),
  regionCode: RegionCodeSchema,
  phone: z
    .string()
    .regex(/^\+?\d{6,15}$/, 'must be digits, optionally with a leading +')
    .optional(),
  address: z.string().trim().min(1).max(500).optional(),
});
export type Household = z.infer<typeof HouseholdSchema>;

export const ReferralSchema = z.object({
  source: ReferralSourceSchema,
  /** The referring agency or enterprise union, and its own reference for the household. */
  referrer: z.string().trim().min(1).max(200),
  externalRef: z.string().trim().min(1).max(200).optional(),
  note: z.string().trim().max(2000).optional(),
});
export type Referral = z.infer<typeof ReferralSchema>;

export const ActionSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('addReferral'), referral: ReferralSchema }),
  z.object({ action: z.literal('raiseObjection'), text: z.string().trim().min(1).max(2000) }),
  z.object({ action: z.literal('fileAppeal'), reason: z.string().trim().min(1).max(2000) }),
  z.object({ action: z.literal('withdraw'), reason: z.string().trim().min(1).max(2000) }),
  z.object({
    action: z.literal('prepareAidPayment'),
    measure: z.string().min(1),
    amountCents: z.number().int().min(1).max(100_000_000),
    note: z.string().trim().max(2000).optional(),
  }),
  z.object({ action: z.literal('proposeExit'), note: z.string().trim().min(1).max(2000) }),
  z.object({
    action: z.literal('reportNewHardship'),
    cause: HardshipCauseSchema,
    description: z.string().trim().min(1).max(2000),
  }),
  z.object({
    action: z.literal('returnForCorrection'),
    taskId: z.string().min(1),
    reason: z.string().trim().min(1),
  }),
  z.object({ action: z.literal('correctionReceived'), taskId: z.string().min(1) }),
  z.object({
    action: z.literal('extendDeadline'),
    taskId: z.string().min(1),
    by: DeadlineSchema,
    reason: z.string().trim().min(1),
  }),
  z.object({
    action: z.literal('revokeReferral'),
    referralId: z.string().min(1),
    reason: z.string().trim().min(1),
  }),
  z.object({ action: z.literal('hold'), reason: z.string().trim().min(1) }),
  z.object({ action: z.literal('resume') }),
  z.object({ action: z.literal('claim'), taskId: z.string().min(1) }),
  z.object({ action: z.literal('release'), taskId: z.string().min(1) }),
  z.object({ action: z.literal('reassign'), taskId: z.string().min(1), assignee: z.string().min(1) }),
  z.object({
    action: z.literal('comment'),
    taskId: z.string().min(1).optional(),
    text: z.string().trim().min(1),
  }),
  z.object({ action: z.literal('remind'), taskId: z.string().min(1) }),
  z.object({ action: z.literal('escalate'), taskId: z.string().min(1), reason: z.string().trim().min(1) }),
]);
export type Action = z.infer<typeof ActionSchema>;

/**
 * The timeline event each change records on its workflow, with its actor: the audit trail's
 * reconciler recognises a change that was made by that event (api/audit.ts), not by any other
 * event of the same person. `completeTask` is the completion Update.
 */
export const eventsRecordedBy: Record<Action['action'] | 'completeTask', readonly string[]> = {
  addReferral: ['case.referral_received'],
  raiseObjection: ['notice.objection'],
  fileAppeal: ['case.appealed'],
  withdraw: ['case.withdrawal_requested'],
  prepareAidPayment: ['payment.prepared'],
  proposeExit: ['exit.proposed'],
  reportNewHardship: ['case.reopened'],
  returnForCorrection: ['task.returned_for_correction'],
  correctionReceived: ['task.correction_received'],
  extendDeadline: ['task.deadline_extended'],
  revokeReferral: ['referral.revoke_requested'],
  hold: ['case.held'],
  resume: ['case.resumed'],
  claim: ['task.claimed'],
  release: ['task.released'],
  reassign: ['task.reassigned'],
  comment: ['case.comment'],
  remind: ['task.reminded'],
  escalate: ['task.escalated'],
  completeTask: ['task.completed'],
};

export const CompleteTaskInputSchema = z.object({
  taskId: z.string().min(1),
  actor: ActorSchema,
  completion: TaskCompletionSchema,
});
export type CompleteTaskInput = z.infer<typeof CompleteTaskInputSchema>;
export const ActInputSchema = z.object({
  actor: ActorSchema,
  command: ActionSchema,
  /** The case the caller means: an earlier case of the household (same workflow ID) is refused. */
  caseId: z.string().min(1).optional(),
});
export type ActInput = z.infer<typeof ActInputSchema>;

export type Tier = 'deep' | 'relative' | 'accident';

export type ReferralStatus =
  'pending' | 'accepted' | 'waitlisted' | 'declined' | 'granted' | 'refused' | 'revoked' | 'expired';

/** Referral statuses still in an agency's hands (undecided, accepted or waitlisted). */
export const ACTIVE_REFERRAL_STATUSES: ReferralStatus[] = ['pending', 'accepted', 'waitlisted'];

export const isActiveReferralStatus = (status: string): boolean =>
  (ACTIVE_REFERRAL_STATUSES as string[]).includes(status);

export interface AgencyReferral {
  id: string;
  measure: string;
  agency: string;
  status: ReferralStatus;
  waitlistPosition: number | null;
  outcome: Record<string, unknown> | null;
  updatedAt: string;
}

export interface AidPayment {
  id: string;
  measure: string;
  amountCents: number;
  year: number;
  preparedBy: string;
  approvedBy: string | null;
  /** `failed`: the disbursement refused it (its ID was paid to another case); nothing was paid. */
  status: 'pending_approval' | 'approved' | 'paid' | 'rejected' | 'failed';
  preparedAt: string;
}

export interface CaseState extends Book {
  household: Household;
  householdKey: string;
  stage: Stage;
  openedAt: string;
  referrals: Array<Referral & { at: string }>;
  consent: { dataComparison: boolean; sharingWithAgencies: boolean } | null;
  comparison: { civil: unknown; hr: unknown };
  survey: { result: Record<string, unknown>; gapCents: number; tier: Tier | null; causes: string[] } | null;
  deliberation: { approvedAt: string } | null;
  notice: { startedAt: string; endsAt: string; objections: number; passedAt: string | null } | null;
  signOff: { signedAt: string; by: string } | null;
  filing: { fileNumber: string; filedAt: string } | null;
  plan: { measures: string[]; decidedAt: string } | null;
  agencyReferrals: Record<string, AgencyReferral>;
  referralSeq: number;
  payments: Record<string, AidPayment>;
  paymentSeq: number;
  paidByYear: Record<string, number>;
  /**
   * Union aid paid to the household in its earlier cases, per year, read when this case started:
   * the annual cap is per household. Absent in cases started before it was kept.
   */
  earlierCasesPaidByYear?: Record<string, number>;
  schedule: {
    nextCadreVisitAt: string | null;
    nextQuarterlyReviewAt: string | null;
    followUps: Array<{ month: number; at: string; opened: boolean }>;
    appealDeadline: string | null;
    programDeadlineHandled: boolean;
  };
  exit: { approvedAt: string } | null;
  reopenCount: number;
  ending: { at: string; reason: string } | null;
  effects: Effect[];
}

/** Side effects the workflow carries out after a transition (through activities or child workflows). */
export type Effect =
  | { kind: 'startReferral'; referralId: string; measure: string; agency: string }
  | { kind: 'revokeReferral'; referralId: string; reason: string }
  | { kind: 'holdReferral'; referralId: string; hold: boolean }
  | {
      kind: 'disburse';
      paymentId: string;
      amountCents: number;
      year: number;
      measure: string;
      approvedBy: string;
    };

export interface StartInput {
  household: Household;
  householdKey: string;
  referral: Referral;
  policy: Policy;
  calendar: WorkingDayCalendar;
}

export type { Actor };
