import { z } from 'zod';

/** The agencies taking part. Data, not code: a region adds education, finance, ... here. */
export const AgencySchema = z.object({
  code: z.string().regex(/^[a-z][a-z_]*$/, 'lower_snake_case'),
  name: z.string().min(1),
  nameZh: z.string().min(1),
});
export type Agency = z.infer<typeof AgencySchema>;

export const agencies: readonly Agency[] = z.array(AgencySchema).parse([
  { code: 'union', name: 'Trade union federation', nameZh: '总工会' },
  { code: 'civil_affairs', name: 'Civil affairs', nameZh: '民政' },
  { code: 'hr', name: 'Human resources & social security', nameZh: '人社' },
  { code: 'medical_insurance', name: 'Medical insurance', nameZh: '医保' },
  { code: 'housing', name: 'Housing', nameZh: '住建' },
]);

const codes = new Set(agencies.map((a) => a.code));
export const AgencyCodeSchema = z
  .string()
  .refine((c) => codes.has(c), { message: `must be one of: ${[...codes].join(', ')}` });
export type AgencyCode = string;

/** Staff roles; which role may do what is decided per task type and action. */
export const RoleSchema = z.enum(['staff', 'supervisor', 'chair', 'coordinator', 'cadre']);
export type Role = z.infer<typeof RoleSchema>;

/**
 * Region codes are paths in the organisation tree, e.g. `hl/harbin/daoli/street-3`.
 * A principal at a node acts on cases in its subtree.
 */
export const RegionCodeSchema = z
  .string()
  .regex(/^[a-z0-9-]+(\/[a-z0-9-]+)*$/, 'must be a region path like province/city/county');

export function regionWithin(region: string, ancestor: string): boolean {
  return region === ancestor || region.startsWith(ancestor + '/');
}

/** Who acts on a case, as carried into workflow Updates (already authenticated by the API). */
export const ActorSchema = z.object({
  id: z.string().min(1),
  agency: AgencyCodeSchema,
  roles: z.array(RoleSchema).default([]),
  region: RegionCodeSchema,
});
export type Actor = z.infer<typeof ActorSchema>;
