import { z } from 'zod';

// Working-day arithmetic for government deadlines (政府工作日). Runs inside Temporal workflow code, so it is
// pure: dates are whole UTC day numbers built with Date.UTC, and the current time is never read.

const DAY_MS = 86_400_000;
const LOCAL_DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
// An explicit Z/offset is required: Date.parse reads offset-less strings in the host's zone (non-deterministic).
const INSTANT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;

/** Days since 1970-01-01 for a YYYY-MM-DD string, or undefined if it is not a real calendar date. */
function tryDayNumber(localDate: string): number | undefined {
  const m = LOCAL_DATE_RE.exec(localDate);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  // Date.UTC rolls 2025-02-30 over to March; the round trip rejects such dates.
  return formatDay(ms / DAY_MS) === localDate ? ms / DAY_MS : undefined;
}

function dayNumber(localDate: string): number {
  const n = tryDayNumber(localDate);
  if (n === undefined) throw new RangeError(`Not a valid YYYY-MM-DD date: ${localDate}`);
  return n;
}

function formatDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

const isWeekend = (day: number): boolean => {
  const dow = new Date(day * DAY_MS).getUTCDay();
  return dow === 0 || dow === 6;
};

const LocalDateSchema = z.string().refine((s) => tryDayNumber(s) !== undefined, 'Expected a YYYY-MM-DD date');

export const WorkingDayCalendarSchema = z
  .object({
    id: z.string().min(1),
    // China has a single zone (UTC+8) and no DST, so a fixed offset is exact.
    timeZoneOffsetMinutes: z
      .number()
      .int()
      .min(-12 * 60)
      .max(14 * 60)
      .default(480),
    years: z.record(
      z.string().regex(/^\d{4}$/, 'Expected a YYYY year key'),
      z.object({
        /** Official rest days (放假), whether they fall on weekdays or weekends. */
        holidays: z.array(LocalDateSchema),
        /** 调休上班: weekend days that are working days. */
        makeupWorkdays: z.array(
          LocalDateSchema.refine(
            // Invalid dates are already reported by LocalDateSchema.
            (s) => tryDayNumber(s) === undefined || isWeekend(dayNumber(s)),
            'A make-up workday must be a Saturday or Sunday',
          ),
        ),
      }),
    ),
  })
  .superRefine((cal, ctx) => {
    // Lookups go by the date's own year, so a date filed under another year would be silently ignored.
    for (const [year, { holidays, makeupWorkdays }] of Object.entries(cal.years)) {
      for (const [key, dates] of [
        ['holidays', holidays],
        ['makeupWorkdays', makeupWorkdays],
      ] as const) {
        dates.forEach((d, i) => {
          if (!d.startsWith(`${year}-`))
            ctx.addIssue({
              code: 'custom',
              path: ['years', year, key, i],
              message: `${d} is not in ${year}`,
            });
        });
      }
      for (const d of makeupWorkdays.filter((d) => holidays.includes(d)))
        ctx.addIssue({
          code: 'custom',
          path: ['years', year],
          message: `${d} is both a holiday and a workday`,
        });
    }
  });

export type WorkingDayCalendar = z.infer<typeof WorkingDayCalendarSchema>;

function isWorkingDayNumber(day: number, cal: WorkingDayCalendar): boolean {
  const date = formatDay(day);
  // Years without a published notice fall back to plain Mon–Fri; regions must add each year's data.
  const year = cal.years[date.slice(0, 4)];
  if (year?.makeupWorkdays.includes(date)) return true;
  if (year?.holidays.includes(date)) return false;
  return !isWeekend(day);
}

/** Whether a local calendar date (YYYY-MM-DD) is a government working day. */
export function isWorkingDay(localDate: string, cal: WorkingDayCalendar): boolean {
  return isWorkingDayNumber(dayNumber(localDate), cal);
}

function localDayOf(instantIso: string, cal: WorkingDayCalendar): number {
  const ms = INSTANT_RE.test(instantIso) ? Date.parse(instantIso) : NaN;
  if (Number.isNaN(ms)) throw new RangeError(`Not an ISO instant with Z or offset: ${instantIso}`);
  return Math.floor((ms + cal.timeZoneOffsetMinutes * 60_000) / DAY_MS);
}

/** The calendar date (YYYY-MM-DD) of an instant at the calendar's UTC offset. */
export function localDateOf(instantIso: string, cal: WorkingDayCalendar): string {
  return formatDay(localDayOf(instantIso, cal));
}

/** 23:59:59.999 local time of a day, as an ISO UTC string. */
function endOfLocalDay(day: number, cal: WorkingDayCalendar): string {
  return new Date((day + 1) * DAY_MS - 1 - cal.timeZoneOffsetMinutes * 60_000).toISOString();
}

function assertPositiveInt(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
}

/** Due instant of an n-working-day deadline: end of the n-th working day strictly after the start's local date. */
export function addWorkingDays(startInstantIso: string, n: number, cal: WorkingDayCalendar): string {
  assertPositiveInt(n);
  return workingDaysLater(startInstantIso, n, DAY_MS - 1, cal);
}

/** Milliseconds since local midnight of an instant, at the calendar's UTC offset. */
export function localTimeOfDayMs(instantIso: string, cal: WorkingDayCalendar): number {
  const local = Date.parse(instantIso) + cal.timeZoneOffsetMinutes * 60_000;
  return local - localDayOf(instantIso, cal) * DAY_MS;
}

/**
 * The instant at local `timeOfDayMs` of the n-th working day strictly after the start's local date,
 * or, for n = 0, of the start's own date if it is a working day (else the next one); never before
 * the start. Resumes a working-day deadline that was stopped with n working days left.
 */
export function workingDaysLater(
  startInstantIso: string,
  n: number,
  timeOfDayMs: number,
  cal: WorkingDayCalendar,
): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`n must be a whole number, got ${n}`);
  let day = localDayOf(startInstantIso, cal);
  if (n === 0) while (!isWorkingDayNumber(day, cal)) day++;
  for (let left = n; left > 0;) if (isWorkingDayNumber(++day, cal)) left--;
  const at = day * DAY_MS + timeOfDayMs - cal.timeZoneOffsetMinutes * 60_000;
  return new Date(Math.max(at, Date.parse(startInstantIso))).toISOString();
}

/** Years of the local dates from `from` to `to` that the calendar has no data for (weekdays count there). */
export function calendarYearsMissing(
  fromInstantIso: string,
  toInstantIso: string,
  cal: WorkingDayCalendar,
): string[] {
  const first = Number(localDateOf(fromInstantIso, cal).slice(0, 4));
  const last = Number(localDateOf(toInstantIso, cal).slice(0, 4));
  const missing: string[] = [];
  for (let y = first; y <= last; y++) if (!cal.years[String(y)]) missing.push(String(y));
  return missing;
}

/** Working days d with localDate(from) < d <= localDate(to); 0 if to is not after from. */
export function workingDaysBetween(
  fromInstantIso: string,
  toInstantIso: string,
  cal: WorkingDayCalendar,
): number {
  const to = localDayOf(toInstantIso, cal);
  let count = 0;
  for (let day = localDayOf(fromInstantIso, cal) + 1; day <= to; day++)
    if (isWorkingDayNumber(day, cal)) count++;
  return count;
}

/** End of the n-th calendar day after the start's local date (e.g. a 7-calendar-day public notice). */
export function addCalendarDays(startInstantIso: string, n: number, cal: WorkingDayCalendar): string {
  assertPositiveInt(n);
  return endOfLocalDay(localDayOf(startInstantIso, cal) + n, cal);
}
