import { z } from 'zod';
import { RegionCodeSchema, regionWithin } from './agencies';

/**
 * Exit targets as data (001: 30% of national files out by the end of the year, 60% the next year).
 * `basis: deep` counts deep-hardship files (全国档案); a target applies to its region's subtree and
 * is reported for every region at or below it. A more specific target (a city's own) overrides a
 * wider one for its subtree.
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

/** The target that applies to `region` for `year` and `basis`: the most specific one covering it. */
export function targetFor(region: string, year: number, basis: ExitTarget['basis']): ExitTarget | undefined {
  return exitTargets
    .filter((t) => t.year === year && t.basis === basis && regionWithin(region, t.region))
    .sort((a, b) => b.region.length - a.region.length)[0];
}
