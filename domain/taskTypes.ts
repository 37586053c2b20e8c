import { z } from 'zod';
import { MeasureCodeSchema } from './measures';

/**
 * Every human task of the journey: who owns it, which role may complete it, its completion form,
 * and which case facts its worker needs to see. One schema per type, shared by the HTTP validation,
 * the OpenAPI document and the workflow's Update validator.
 */
const cents = z.number().int().min(0).max(1_000_000_000);
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD');
const text = z.string().trim().min(1).max(2000);

export const HardshipCauseSchema = z.enum([
  'illness',
  'disability',
  'disaster',
  'accident',
  'unemployment',
  'schooling',
  'single_parent',
  'other',
]);
export const ReasonCodeSchema = z.enum([
  'not_eligible',
  'documents_missing',
  'duplicate_benefit',
  'no_capacity',
  'quota_exhausted',
  'household_declined',
  'other',
]);

export const forms = {
  intakeReview: z
    .object({
      decision: z.enum(['accept', 'withdraw']),
      consent: z.object({ dataComparison: z.boolean(), sharingWithAgencies: z.boolean() }),
      reason: text.optional(),
    })
    .refine((f) => f.decision === 'withdraw' || (f.consent.dataComparison && f.consent.sharingWithAgencies), {
      message:
        'accepting needs the household’s consent to data comparison and to sharing (no consent, no comparison)',
      path: ['consent'],
    })
    .refine((f) => f.decision === 'accept' || f.reason, {
      message: 'a withdrawal needs a reason',
      path: ['reason'],
    }),
  dataComparisonCivil: z.object({
    monthlyIncomeCents: cents,
    realEstateCount: z.number().int().min(0),
    vehicleCount: z.number().int().min(0),
    depositsCents: cents,
    currentAllowances: z.array(
      z.enum(['minimum_living_allowance', 'special_hardship', 'temporary_assistance']),
    ),
    notes: text.optional(),
  }),
  dataComparisonHr: z.object({
    employedMembers: z.number().int().min(0),
    unemployedMembers: z.number().int().min(0),
    socialInsurance: z.object({ pension: z.boolean(), medical: z.boolean(), unemployment: z.boolean() }),
    notes: text.optional(),
  }),
  householdSurvey: z.object({
    visitedOn: isoDate,
    members: z.number().int().min(1).max(30),
    livingConditions: text,
    incomeItems: z.array(z.object({ label: text, monthlyCents: cents })),
    expenditureItems: z
      .array(
        z.object({
          category: z.enum(['rent', 'medical', 'schooling', 'living', 'other']),
          label: text.optional(),
          monthlyCents: cents,
        }),
      )
      .min(1),
    causes: z.array(HardshipCauseSchema).min(1),
    workingCapacity: z.enum(['full', 'partial', 'none']),
    accidentCaused: z.boolean().default(false),
  }),
  collectiveDeliberation: z
    .object({
      meetingOn: isoDate,
      attendees: z.number().int().min(3, 'a collective deliberation needs at least 3 members'),
      decision: z.enum(['approve', 'reject']),
      minutesRef: text,
      reason: text.optional(),
    })
    .refine((f) => f.decision === 'approve' || f.reason, {
      message: 'a rejection needs a reason',
      path: ['reason'],
    }),
  chairSignOff: z
    .object({ decision: z.enum(['sign', 'reject']), reason: text.optional() })
    .refine((f) => f.decision === 'sign' || f.reason, {
      message: 'a rejection needs a reason',
      path: ['reason'],
    }),
  assistancePlan: z.discriminatedUnion('route', [
    z.object({
      route: z.literal('assist'),
      measures: z.array(MeasureCodeSchema).min(1),
      note: text.optional(),
    }),
    z.object({ route: z.literal('safety_net'), reason: text }),
  ]),
  referralAcceptance: z.discriminatedUnion('decision', [
    z.object({ decision: z.literal('accept') }),
    z.object({ decision: z.literal('decline'), reasonCode: ReasonCodeSchema, note: text.optional() }),
    z.object({ decision: z.literal('waitlist'), position: z.number().int().min(1) }),
  ]),
  referralOutcome: z.discriminatedUnion('result', [
    z.object({ result: z.literal('granted'), amountCents: cents.optional(), benefit: text }),
    z.object({ result: z.literal('refused'), reasonCode: ReasonCodeSchema, note: text.optional() }),
  ]),
  aidPaymentApproval: z
    .object({ decision: z.enum(['approve', 'reject']), reason: text.optional() })
    .refine((f) => f.decision === 'approve' || f.reason, {
      message: 'a rejection needs a reason',
      path: ['reason'],
    }),
  cadreVisit: z.object({ visitedOn: isoDate, notes: text }),
  quarterlyReview: z.object({
    recommendation: z.enum(['continue', 'propose_exit', 'safety_net']),
    notes: text,
  }),
  exitApproval: z
    .object({
      decision: z.enum(['approve', 'reject']),
      // 两有五保障: food and clothing; employment, medical care, schooling, housing, social insurance.
      checklist: z.object({
        food: z.boolean(),
        clothing: z.boolean(),
        employment: z.boolean(),
        medical: z.boolean(),
        schooling: z.boolean(),
        housing: z.boolean(),
        socialInsurance: z.boolean(),
      }),
      reason: text.optional(),
    })
    .refine((f) => f.decision === 'reject' || Object.values(f.checklist).every(Boolean), {
      message: 'an exit is approved only when every item of "two haves, five guarantees" is met',
      path: ['checklist'],
    })
    .refine((f) => f.decision === 'approve' || f.reason, {
      message: 'a rejection needs a reason',
      path: ['reason'],
    }),
  followUpVisit: z
    .object({
      visitedOn: isoDate,
      outcome: z.enum(['stable', 'new_hardship']),
      hardship: z.object({ cause: HardshipCauseSchema, description: text }).optional(),
    })
    .refine((f) => f.outcome === 'stable' || f.hardship, {
      message: 'a new hardship needs its cause and description',
      path: ['hardship'],
    }),
  safetyNetCertificate: z.object({ certificateNo: text, issuedOn: isoDate, submittedTo: text }),
  safetyNetEnrolment: z.discriminatedUnion('decision', [
    z.object({
      decision: z.literal('enrolled'),
      programme: z.enum(['minimum_living_allowance', 'special_hardship']),
    }),
    z.object({ decision: z.literal('refused'), reasonCode: ReasonCodeSchema, note: text.optional() }),
  ]),
  appealReview: z.object({ decision: z.enum(['uphold', 'dismiss']), reason: text }),
} as const;

export type TaskType = keyof typeof forms;
export const TASK_TYPES = Object.keys(forms) as TaskType[];
export const TaskTypeSchema = z.enum(TASK_TYPES as [TaskType, ...TaskType[]]);
export type FormOf<T extends TaskType> = z.infer<(typeof forms)[T]>;

/** What a task completion carries: `{ type, form }`, one form schema per type. */
export const TaskCompletionSchema = z.discriminatedUnion(
  'type',
  TASK_TYPES.map((t) => z.object({ type: z.literal(t), form: forms[t] })) as unknown as [
    z.ZodObject<{ type: z.ZodLiteral<TaskType>; form: z.ZodTypeAny }>,
  ],
);

export interface TaskTypeInfo {
  /** The owning agency; `referral` means the agency the referral went to. */
  agency: string | 'referral';
  /** A role the completer must hold, beyond belonging to the agency. */
  role?: 'chair' | 'supervisor';
  /** Case facts the task's worker needs (issue: least privilege). */
  facts: ReadonlyArray<
    'idNumber' | 'incomes' | 'health' | 'survey' | 'comparison' | 'plan' | 'payments' | 'measure'
  >;
  title: string;
}

/** A referral's task runs on the referral's own workflow, never on the case's. */
export const isReferralTask = (type: string) => taskTypeInfo[type as TaskType]?.agency === 'referral';

export const taskTypeInfo: Record<TaskType, TaskTypeInfo> = {
  intakeReview: { agency: 'union', facts: ['idNumber'], title: 'Review the referral and record consent' },
  dataComparisonCivil: {
    agency: 'civil_affairs',
    facts: ['idNumber'],
    title: 'Compare income, property, vehicles, allowances',
  },
  dataComparisonHr: {
    agency: 'hr',
    facts: ['idNumber'],
    title: 'Compare employment and social-insurance records',
  },
  householdSurvey: { agency: 'union', facts: ['comparison'], title: 'Household survey (进、看、算)' },
  collectiveDeliberation: {
    agency: 'union',
    facts: ['survey', 'incomes', 'health'],
    title: 'Collective deliberation (议、评)',
  },
  chairSignOff: { agency: 'union', role: 'chair', facts: ['survey'], title: 'Chair review and sign-off' },
  assistancePlan: { agency: 'union', facts: ['survey', 'health'], title: 'Draw up the assistance plan' },
  // `measure`: what the referral asks of the agency (e.g. public rental housing).
  referralAcceptance: {
    agency: 'referral',
    facts: ['idNumber', 'measure'],
    title: 'Accept or decline the referral',
  },
  referralOutcome: {
    agency: 'referral',
    facts: ['idNumber', 'measure'],
    title: 'Report the referral outcome',
  },
  aidPaymentApproval: {
    agency: 'union',
    role: 'supervisor',
    facts: ['payments'],
    title: 'Approve a union aid payment',
  },
  cadreVisit: { agency: 'union', facts: ['plan'], title: 'Paired-cadre visit (走访慰问)' },
  quarterlyReview: { agency: 'union', facts: ['plan', 'payments'], title: 'Quarterly review (动态调整)' },
  exitApproval: { agency: 'union', role: 'chair', facts: ['plan'], title: 'Approve the exit (两有五保障)' },
  followUpVisit: { agency: 'union', facts: ['plan'], title: 'Gradual-exit follow-up visit' },
  safetyNetCertificate: { agency: 'union', facts: ['survey'], title: 'Issue the safety-net certificate' },
  safetyNetEnrolment: {
    agency: 'civil_affairs',
    facts: ['idNumber', 'incomes'],
    title: 'Enrol in the government safety net',
  },
  appealReview: { agency: 'union', role: 'supervisor', facts: ['survey'], title: 'Review an appeal (申诉)' },
};
