import { z } from 'zod';
import { AgencyCodeSchema } from './agencies';

/** The "four batches" (四个一批) that group assistance measures (seed 001). */
export const BatchSchema = z.enum([
  'employment_entrepreneurship',
  'social_insurance',
  'medical_insurance',
  'social_assistance',
]);

export const MeasureSchema = z.object({
  code: z.string().regex(/^[a-z][a-z_]*$/),
  name: z.string(),
  nameZh: z.string(),
  batch: BatchSchema,
  agency: AgencyCodeSchema,
  /** `referral`: another agency decides and delivers it (a referral child workflow);
   *  `union_aid`: paid from union funds within the annual cap. */
  kind: z.enum(['referral', 'union_aid']),
  /** Housing can be put on a waiting list (公租房轮候). */
  waitlist: z.boolean().default(false),
});
export type Measure = z.infer<typeof MeasureSchema>;

/** The measure catalog: data, so a region can add its own. */
export const measureCatalog: readonly Measure[] = z.array(MeasureSchema).parse([
  {
    code: 'job_placement',
    name: 'Job placement',
    nameZh: '就业推荐',
    batch: 'employment_entrepreneurship',
    agency: 'hr',
    kind: 'referral',
  },
  {
    code: 'public_welfare_post',
    name: 'Public-welfare post',
    nameZh: '公益岗位',
    batch: 'employment_entrepreneurship',
    agency: 'hr',
    kind: 'referral',
  },
  {
    code: 'skills_training',
    name: 'Skills training',
    nameZh: '技能培训',
    batch: 'employment_entrepreneurship',
    agency: 'hr',
    kind: 'referral',
  },
  {
    code: 'flexible_insurance_enrolment',
    name: 'Pension/medical insurance as flexible worker',
    nameZh: '灵活就业参保',
    batch: 'social_insurance',
    agency: 'hr',
    kind: 'referral',
  },
  {
    code: 'serious_illness_insurance',
    name: 'Serious-illness insurance',
    nameZh: '大病保险',
    batch: 'medical_insurance',
    agency: 'medical_insurance',
    kind: 'referral',
  },
  {
    code: 'medical_assistance',
    name: 'Medical assistance',
    nameZh: '医疗救助',
    batch: 'medical_insurance',
    agency: 'medical_insurance',
    kind: 'referral',
  },
  {
    code: 'family_doctor',
    name: 'Family-doctor sign-up',
    nameZh: '家庭医生签约',
    batch: 'medical_insurance',
    agency: 'medical_insurance',
    kind: 'referral',
  },
  {
    code: 'public_rental_housing',
    name: 'Public rental housing',
    nameZh: '公租房',
    batch: 'social_assistance',
    agency: 'housing',
    kind: 'referral',
    waitlist: true,
  },
  {
    code: 'rent_subsidy',
    name: 'Rent subsidy',
    nameZh: '租赁补贴',
    batch: 'social_assistance',
    agency: 'housing',
    kind: 'referral',
  },
  {
    code: 'minimum_living_allowance',
    name: 'Minimum living allowance',
    nameZh: '低保',
    batch: 'social_assistance',
    agency: 'civil_affairs',
    kind: 'referral',
  },
  {
    code: 'temporary_assistance',
    name: 'Temporary assistance',
    nameZh: '临时救助',
    batch: 'social_assistance',
    agency: 'civil_affairs',
    kind: 'referral',
  },
  {
    code: 'union_living_aid',
    name: 'Union living aid',
    nameZh: '工会生活救助',
    batch: 'social_assistance',
    agency: 'union',
    kind: 'union_aid',
  },
  {
    code: 'union_medical_aid',
    name: 'Union medical aid',
    nameZh: '工会医疗救助',
    batch: 'medical_insurance',
    agency: 'union',
    kind: 'union_aid',
  },
  {
    code: 'golden_autumn_education',
    name: 'Golden-autumn education aid',
    nameZh: '金秋助学',
    batch: 'social_assistance',
    agency: 'union',
    kind: 'union_aid',
  },
  {
    code: 'mutual_medical_insurance',
    name: 'Mutual medical insurance',
    nameZh: '职工互助医疗保险',
    batch: 'medical_insurance',
    agency: 'union',
    kind: 'union_aid',
  },
]);

const byCode = new Map(measureCatalog.map((m) => [m.code, m]));
export function measureByCode(code: string): Measure | undefined {
  return byCode.get(code);
}
export const MeasureCodeSchema = z
  .string()
  .refine((c) => byCode.has(c), { message: 'must be a measure code from the catalog' });
