import { z } from 'zod';
import { TASK_TYPES, TaskType } from './taskTypes';

/**
 * Policy parameters as versioned data. A case carries the whole policy it started under in its
 * workflow state, so changing this file never changes the rules of a running case.
 * Numbers the seeds do not fix are region defaults (see DOMAIN.md).
 */
export const DeadlineSchema = z.union([
  z.object({ workingDays: z.number().int().min(1) }),
  z.object({ calendarDays: z.number().int().min(1) }),
]);
export type Deadline = z.infer<typeof DeadlineSchema>;

export const EscalationTargetSchema = z.object({
  /** `owner`: the agency owning the task; otherwise an agency code (e.g. the union's joint office). */
  agency: z.string().default('owner'),
  role: z.enum(['supervisor', 'coordinator']).default('supervisor'),
});

export const PolicySchema = z.object({
  version: z.string().min(1),
  taskDeadlines: z.record(z.enum(TASK_TYPES as [TaskType, ...TaskType[]]), DeadlineSchema),
  /** Reminder sent this many hours before a task is due. */
  reminderBeforeHours: z.number().int().min(1),
  escalation: z.object({
    default: EscalationTargetSchema,
    byTaskType: z.record(z.string(), EscalationTargetSchema).default({}),
  }),
  /** 公示: default 7 calendar days. */
  publicNoticeCalendarDays: z.number().int().min(1),
  /** 004: up to ¥50,000 a year per household, in fen. */
  annualAidCapCents: z.number().int().min(0),
  /** 004: at least two visits a year. */
  cadreVisitIntervalMonths: z.number().int().min(1).max(6),
  /** 001: every case is re-checked each quarter. */
  quarterlyReviewIntervalMonths: z.number().int().min(1),
  /** 004: gradual-exit return visits at 3 and 6 months; the last good one closes the file. */
  followUpVisitMonths: z.array(z.number().int().min(1)).min(1),
  /** 申诉: an ineligible decision can be appealed within this many working days. */
  appealWindowWorkingDays: z.number().int().min(1),
  /** Households still in assistance at this date are handed to the safety net (兜底). */
  programDeadline: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .nullable(),
  /** Monthly gap (expenditure − income) at or above which a household is in deep hardship. */
  deepHardshipGapCents: z.number().int().min(1),
  /** A case with no event for this many days is reported as stuck. */
  stuckAfterDays: z.number().int().min(1),
  /** Continue-as-new once the history passes this many events (the server also suggests it). */
  maxHistoryEvents: z.number().int().min(50),
});
export type Policy = z.infer<typeof PolicySchema>;

export const defaultPolicy: Policy = PolicySchema.parse({
  version: '2026.1',
  taskDeadlines: {
    intakeReview: { workingDays: 5 },
    dataComparisonCivil: { workingDays: 10 },
    dataComparisonHr: { workingDays: 10 },
    householdSurvey: { workingDays: 15 },
    collectiveDeliberation: { workingDays: 10 },
    chairSignOff: { workingDays: 5 },
    assistancePlan: { workingDays: 10 },
    referralAcceptance: { workingDays: 5 },
    referralOutcome: { workingDays: 30 },
    aidPaymentApproval: { workingDays: 5 },
    cadreVisit: { calendarDays: 60 },
    quarterlyReview: { workingDays: 10 },
    exitApproval: { workingDays: 10 },
    followUpVisit: { calendarDays: 30 },
    safetyNetCertificate: { workingDays: 10 },
    safetyNetEnrolment: { workingDays: 20 },
    appealReview: { workingDays: 15 },
  },
  reminderBeforeHours: 24,
  escalation: { default: { agency: 'owner', role: 'supervisor' }, byTaskType: {} },
  publicNoticeCalendarDays: 7,
  annualAidCapCents: 5_000_000,
  cadreVisitIntervalMonths: 6,
  quarterlyReviewIntervalMonths: 3,
  followUpVisitMonths: [3, 6],
  appealWindowWorkingDays: 15,
  programDeadline: null,
  deepHardshipGapCents: 150_000,
  stuckAfterDays: 30,
  maxHistoryEvents: 4000,
});

/** Versions a region has published; new cases start under `currentPolicyVersion`. */
export const policies: Record<string, Policy> = { [defaultPolicy.version]: defaultPolicy };
export const currentPolicyVersion = defaultPolicy.version;
