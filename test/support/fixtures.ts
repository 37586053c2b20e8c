import type { Actor } from '../../domain/agencies';
import { cnMainlandCalendar } from '../../domain/calendar/cn-mainland';
import type { Household, Referral } from '../../domain/journey/state';
import type { Task } from '../../domain/journey/taskBook';
import { defaultPolicy, type Policy } from '../../domain/policy';
import type { FormOf } from '../../domain/taskTypes';

export const REGION = 'hl/harbin/daoli';

export const actors = {
  unionStaff: { id: 'u-staff', agency: 'union', roles: ['staff'], region: REGION },
  unionStaff2: { id: 'u-staff-2', agency: 'union', roles: ['staff'], region: REGION },
  unionSupervisor: { id: 'u-sup', agency: 'union', roles: ['staff', 'supervisor'], region: REGION },
  chair: { id: 'u-chair', agency: 'union', roles: ['chair'], region: REGION },
  civil: { id: 'ca-staff', agency: 'civil_affairs', roles: ['staff'], region: REGION },
  hr: { id: 'hr-staff', agency: 'hr', roles: ['staff'], region: REGION },
  housing: { id: 'hs-staff', agency: 'housing', roles: ['staff'], region: REGION },
  medical: { id: 'mi-staff', agency: 'medical_insurance', roles: ['staff'], region: REGION },
  coordinator: { id: 'coord', agency: 'union', roles: ['coordinator'], region: 'hl/harbin' },
  otherRegion: { id: 'u-other', agency: 'union', roles: ['staff', 'chair'], region: 'hl/qiqihar' },
} satisfies Record<string, Actor>;

let n = 0;
export function household(overrides: Partial<Household> = {}): Household {
  n += 1;
  const serial = String(Date.now() % 1e7).padStart(7, '0') + String(n).padStart(3, '0');
  return {
    idNumber: `2301${serial}${String(n % 10000).padStart(4, '0')}`.slice(0, 17) + 'X',
    headName: '李秀芳',
    regionCode: REGION,
    ...overrides,
  };
}

export const referral: Referral = { source: 'cadre', referrer: 'Daoli district union' };

export function testPolicy(overrides: Partial<Policy> = {}): Policy {
  return { ...defaultPolicy, ...overrides };
}
export const calendar = cnMainlandCalendar;

export const forms = {
  intakeAccept: {
    decision: 'accept',
    consent: { dataComparison: true, sharingWithAgencies: true },
  } satisfies FormOf<'intakeReview'>,
  civil: {
    monthlyIncomeCents: 120000,
    realEstateCount: 0,
    vehicleCount: 0,
    depositsCents: 0,
    currentAllowances: [],
  } satisfies FormOf<'dataComparisonCivil'>,
  hr: {
    employedMembers: 0,
    unemployedMembers: 1,
    socialInsurance: { pension: false, medical: true, unemployment: false },
  } satisfies FormOf<'dataComparisonHr'>,
  surveyEligible: {
    visitedOn: '2026-03-02',
    members: 3,
    livingConditions: 'rented single room, husband with uremia',
    incomeItems: [{ label: 'wage', monthlyCents: 150000 }],
    expenditureItems: [
      { category: 'medical', monthlyCents: 250000 },
      { category: 'rent', monthlyCents: 60000 },
      { category: 'schooling', monthlyCents: 40000 },
    ],
    causes: ['illness'],
    workingCapacity: 'partial',
    accidentCaused: false,
  } satisfies FormOf<'householdSurvey'>,
  surveyIneligible: {
    visitedOn: '2026-03-02',
    members: 2,
    livingConditions: 'own flat',
    incomeItems: [{ label: 'wages', monthlyCents: 800000 }],
    expenditureItems: [{ category: 'living', monthlyCents: 300000 }],
    causes: ['other'],
    workingCapacity: 'full',
    accidentCaused: false,
  } satisfies FormOf<'householdSurvey'>,
  deliberationApprove: {
    meetingOn: '2026-03-10',
    attendees: 5,
    decision: 'approve',
    minutesRef: 'M-2026-031',
  } satisfies FormOf<'collectiveDeliberation'>,
  sign: { decision: 'sign' } satisfies FormOf<'chairSignOff'>,
  checklistAll: {
    food: true,
    clothing: true,
    employment: true,
    medical: true,
    schooling: true,
    housing: true,
    socialInsurance: true,
  },
};

/** An open, unclaimed task row as the projection receives it: the given fields, nothing else set. */
export function openTaskRow(
  fields: Pick<
    Task,
    'id' | 'type' | 'agency' | 'regionCode' | 'workflowId' | 'createdAt' | 'dueAt' | 'remindAt'
  >,
): Task {
  return {
    ...fields,
    status: 'open',
    assignee: null,
    remindedAt: null,
    escalatedAt: null,
    escalatedTo: null,
    pausedRemainingMs: null,
    context: {},
    completedAt: null,
    completedBy: null,
    result: null,
  };
}
