import { z } from 'zod';
import { RegionCodeSchema } from './agencies';

/**
 * Exit targets as data (001: 30% of national files out by the end of the year, 60% the next year).
 * `basis: deep` counts deep-hardship files (全国档案); a target applies to its region's subtree and
 * is reported for every region at or below it.
 */
export const ExitTargetSchema = z.object({
  region: RegionCodeSchema,
  year: z.number().int().min(2000).max(2100),
  basis: z.enum(['deep', 'all']),
  /** Share of the basis' files that must have exited by 31 December of `year`. */
  share: z.number().gt(0).max(1),
});
export type ExitTarget = z.infer<typeof ExitTargetSchema>;

export const exitTargets: readonly ExitTarget[] = z.array(ExitTargetSchema).parse([
  { region: 'hl', year: 2026, basis: 'deep', share: 0.3 },
  { region: 'hl', year: 2027, basis: 'deep', share: 0.6 },
]);
