import type { programStats } from '../../api/monitor/stats';

type Stats = Awaited<ReturnType<typeof programStats>>;

/** A figure and the drill-down link listing what it counts (and the paid sum or median it shows). */
export interface FigureDrillDown {
  what: string;
  /** The count the drill-down's total must equal (absent: the link is checked by `paidCents`). */
  count?: number;
  href: string;
  /** The sum of the listed payments' amountCents. */
  paidCents?: number;
  /** The median, in days, of the listed milestones' durations. */
  medianDays?: number;
}

/** Every figure of the coordinators' statistics paired with its drill-down. */
export function figureDrillDowns(s: Stats): FigureDrillDown[] {
  const { byStage, byTier, byCause, byRegion } = s.households;
  const out: FigureDrillDown[] = [];
  const add = (what: string, count: number | undefined, href: string, extra: Partial<FigureDrillDown> = {}) =>
    out.push({ what, count, href, ...extra });
  for (const [name, rows] of Object.entries({ byStage, byTier, byCause, byRegion }))
    for (const row of rows) add(`${name} ${row.key}`, row.households, row.cases);
  for (const t of s.exitTargets)
    for (const row of [t, ...t.byRegion]) {
      add(`${t.basis} files ${row.region}`, row.files, row.cases.files);
      add(`${t.basis} exits ${row.region}`, row.exits, row.cases.exits);
    }
  add('aid households', s.aid.households, s.aid.cases);
  add('aid at cap', s.aid.householdsAtCap, s.aid.casesAtCap);
  add('aid paid', undefined, s.aid.payments, { paidCents: s.aid.paidCents });
  for (const m of s.personTimesByMeasure) {
    const { paidCents } = m as { paidCents?: number };
    add(`${m.kind} ${m.measure} person-times`, m.personTimes, m.rows, { paidCents });
    add(`${m.kind} ${m.measure} households`, m.households, m.cases);
  }
  for (const m of s.medianDaysPerStage) {
    add(`left ${m.stage}`, m.transitions, m.rows, { medianDays: m.medianDays });
    add(`households left ${m.stage}`, m.households, m.cases);
  }
  for (const o of s.onTimeByAgency) {
    add(`${o.agency} judged`, o.judged, o.tasks);
    add(`${o.agency} on time`, o.onTime, o.onTimeTasks);
    add(`${o.agency} late`, o.late, o.lateTasks);
  }
  return out;
}

/** Lists the rows behind a drill-down link (all of them: the fixtures stay under a page of 500). */
export type ListRows = (href: string) => Promise<{ total: number; items: any[] }>;

/**
 * Every figure equals what its drill-down lists: counts its total, paid sums its payments, and a
 * median (days, to 0.1) the median of its milestones' durations.
 */
export async function expectFiguresMatchDrillDowns(s: Stats, list: ListRows, label: unknown[] = []) {
  for (const { what, count, href, paidCents, medianDays } of figureDrillDowns(s)) {
    const listed = await list(href);
    const expectAbout = (actual: number, expected: number) =>
      expect([...label, what, href, actual]).toEqual([...label, what, href, expected]);
    if (count !== undefined) expectAbout(listed.total, count);
    if (paidCents !== undefined)
      expectAbout(
        listed.items.reduce((a, p) => a + p.amountCents, 0),
        paidCents,
      );
    if (medianDays !== undefined) {
      const days = listed.items.map((r) => r.durationMs / 86_400_000).sort((a, b) => a - b);
      const mid = days.length / 2;
      const median = days.length % 2 ? days[Math.floor(mid)]! : (days[mid - 1]! + days[mid]!) / 2;
      expectAbout(Math.round(median * 10) / 10, medianDays);
    }
  }
}
