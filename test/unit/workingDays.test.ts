import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCalendarActivities } from '../../activities/calendar';
import { cnMainlandCalendar as cal } from '../../domain/calendar/cn-mainland';
import {
  WorkingDayCalendarSchema,
  addCalendarDays,
  addWorkingDays,
  calendarYearsMissing,
  isWorkingDay,
  localDateOf,
  localTimeOfDayMs,
  workingDaysBetween,
  workingDaysLater,
} from '../../domain/calendar/workingDays';

// Expected values are worked out by hand from the State Council notices encoded in cn-mainland.ts.
const SPRING_START = '2026-02-13T10:00:00+08:00'; // Fri, the last working day before 春节 2026

describe('addWorkingDays', () => {
  it('skips a plain weekend', () => {
    // Thu 2026-03-05 → Fri 6 (1), Mon 9 (2), Tue 10 (3).
    expect(addWorkingDays('2026-03-05T10:00:00+08:00', 3, cal)).toBe('2026-03-10T15:59:59.999Z');
    // Fri → Mon: Sat/Sun are not working days.
    expect(addWorkingDays('2026-03-06T10:00:00+08:00', 1, cal)).toBe('2026-03-09T15:59:59.999Z');
  });

  it('spans the 2026 Spring Festival with its make-up Saturday', () => {
    // Sat Feb 14 is 调休 (day 1); Feb 15–23 are holidays; Feb 24..27 are days 2..5.
    expect(addWorkingDays(SPRING_START, 1, cal)).toBe('2026-02-14T15:59:59.999Z');
    expect(addWorkingDays(SPRING_START, 2, cal)).toBe('2026-02-24T15:59:59.999Z');
    expect(addWorkingDays(SPRING_START, 5, cal)).toBe('2026-02-27T15:59:59.999Z');
  });

  it('can land on Sat 2026-02-28 because it is a make-up workday', () => {
    expect(isWorkingDay('2026-02-28', cal)).toBe(true);
    expect(addWorkingDays(SPRING_START, 6, cal)).toBe('2026-02-28T15:59:59.999Z');
    // Sun Mar 1 is an ordinary weekend day.
    expect(addWorkingDays(SPRING_START, 7, cal)).toBe('2026-03-02T15:59:59.999Z');
  });

  it('handles the 2025 National Day week (Oct 1–8, make-up Sun Sep 28 and Sat Oct 11)', () => {
    expect(addWorkingDays('2025-09-26T09:00:00+08:00', 1, cal)).toBe('2025-09-28T15:59:59.999Z');
    expect(addWorkingDays('2025-09-30T09:00:00+08:00', 1, cal)).toBe('2025-10-09T15:59:59.999Z');
    expect(addWorkingDays('2025-09-30T09:00:00+08:00', 3, cal)).toBe('2025-10-11T15:59:59.999Z');
    expect(isWorkingDay('2025-10-08', cal)).toBe(false); // Wednesday, but a holiday
  });

  it('counts from the local (UTC+8) date, not the UTC date', () => {
    // 17:00Z on Sun Mar 1 is 01:00 on Mon Mar 2 in Beijing, so day 1 is Tue Mar 3.
    expect(localDateOf('2026-03-01T17:00:00Z', cal)).toBe('2026-03-02');
    expect(localDateOf('2026-03-01T15:59:59.999Z', cal)).toBe('2026-03-01');
    expect(addWorkingDays('2026-03-01T17:00:00Z', 1, cal)).toBe('2026-03-03T15:59:59.999Z');
    expect(addWorkingDays('2026-03-01T15:59:59.999Z', 1, cal)).toBe('2026-03-02T15:59:59.999Z');
  });

  it.each([0, -1, 1.5, NaN, Infinity])('rejects n = %p', (n) => {
    expect(() => addWorkingDays(SPRING_START, n, cal)).toThrow(RangeError);
    expect(() => addCalendarDays(SPRING_START, n, cal)).toThrow(RangeError);
  });

  it('rejects instants without an explicit offset (host-zone dependent)', () => {
    expect(() => addWorkingDays('2026-02-13T10:00:00', 1, cal)).toThrow(RangeError);
    expect(() => localDateOf('2026-02-13', cal)).toThrow(RangeError);
  });

  it('falls back to plain weekends for a year absent from the data, and says which years it did', () => {
    expect(cal.years['2027']).toBeUndefined();
    expect(isWorkingDay('2027-10-01', cal)).toBe(true); // Fri; no 2027 notice encoded
    expect(isWorkingDay('2027-10-02', cal)).toBe(false); // Sat
    // Thu 2026-12-31 → Fri 2027-01-01 counts as a working day without 2027 data (the weekday
    // fallback): the case flags such a due and recounts it once the 2027 notice is published.
    const due = addWorkingDays('2026-12-31T10:00:00+08:00', 1, cal);
    expect(due).toBe('2027-01-01T15:59:59.999Z');
    expect(calendarYearsMissing('2026-12-31T10:00:00+08:00', due, cal)).toEqual(['2027']);
    expect(calendarYearsMissing('2026-12-01T10:00:00+08:00', '2026-12-31T23:00:00+08:00', cal)).toEqual([]);
  });
});

describe('workingDaysLater (a stopped working-day clock started again)', () => {
  it('counts n working days after the start, at the given local time of day', () => {
    const endOfDay = 86_400_000 - 1;
    // Wed 2026-09-30: Oct 1–7 are holidays; Thu 8, Fri 9, Sat 10 (make-up) → Sat 10.
    expect(workingDaysLater('2026-09-30T10:00:00+08:00', 3, endOfDay, cal)).toBe('2026-10-10T15:59:59.999Z');
    expect(workingDaysLater('2026-03-05T10:00:00+08:00', 3, endOfDay, cal)).toBe(
      addWorkingDays('2026-03-05T10:00:00+08:00', 3, cal),
    );
    expect(localTimeOfDayMs('2026-10-10T15:59:59.999Z', cal)).toBe(endOfDay);
  });
  it('with none left, the rest of the start day if it is a working day, else of the next one', () => {
    const noon = 12 * 3600_000;
    expect(workingDaysLater('2026-03-05T10:00:00+08:00', 0, noon, cal)).toBe('2026-03-05T04:00:00.000Z');
    expect(workingDaysLater('2026-10-03T10:00:00+08:00', 0, noon, cal)).toBe('2026-10-08T04:00:00.000Z');
    // Never before the start.
    expect(workingDaysLater('2026-03-05T13:00:00+08:00', 0, noon, cal)).toBe('2026-03-05T05:00:00.000Z');
  });
});

describe('workingDaysBetween', () => {
  it('counts working days in (from, to] by local date', () => {
    expect(workingDaysBetween(SPRING_START, '2026-02-27T18:00:00+08:00', cal)).toBe(5);
    expect(workingDaysBetween(SPRING_START, '2026-02-23T18:00:00+08:00', cal)).toBe(1);
    // Sep 28 (make-up), 29, 30, Oct 9, 10, 11 (make-up).
    expect(workingDaysBetween('2025-09-26T09:00:00+08:00', '2025-10-12T09:00:00+08:00', cal)).toBe(6);
  });

  it('is 0 when to is not after from', () => {
    expect(workingDaysBetween(SPRING_START, SPRING_START, cal)).toBe(0);
    expect(workingDaysBetween(SPRING_START, '2026-02-13T23:00:00+08:00', cal)).toBe(0);
    expect(workingDaysBetween('2026-02-27T18:00:00+08:00', SPRING_START, cal)).toBe(0);
  });

  it('is the inverse of addWorkingDays', () => {
    for (const n of [1, 2, 5, 6, 7, 20, 60]) {
      expect(workingDaysBetween(SPRING_START, addWorkingDays(SPRING_START, n, cal), cal)).toBe(n);
    }
  });
});

describe('addCalendarDays', () => {
  it('ignores holidays (7-calendar-day public notice)', () => {
    expect(addCalendarDays(SPRING_START, 7, cal)).toBe('2026-02-20T15:59:59.999Z');
    expect(addCalendarDays('2026-03-01T17:00:00Z', 1, cal)).toBe('2026-03-03T15:59:59.999Z');
  });
});

describe('WorkingDayCalendarSchema', () => {
  const base = { id: 'test', years: { '2026': { holidays: [], makeupWorkdays: ['2026-02-14'] } } };

  it('defaults the offset to UTC+8', () => {
    expect(WorkingDayCalendarSchema.parse(base).timeZoneOffsetMinutes).toBe(480);
  });

  it('rejects a make-up workday that is a weekday', () => {
    const bad = { ...base, years: { '2026': { holidays: [], makeupWorkdays: ['2026-02-16'] } } }; // Monday
    const result = WorkingDayCalendarSchema.safeParse(bad);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/Saturday or Sunday/);
  });

  it.each([
    ['an impossible date', { '2026': { holidays: ['2026-02-30'], makeupWorkdays: [] } }],
    ['a non-padded date', { '2026': { holidays: ['2026-2-3'], makeupWorkdays: [] } }],
    ['a date under the wrong year', { '2026': { holidays: ['2025-10-01'], makeupWorkdays: [] } }],
    ['a date that is both', { '2026': { holidays: ['2026-02-14'], makeupWorkdays: ['2026-02-14'] } }],
  ])('rejects %s', (_label, years) => {
    expect(WorkingDayCalendarSchema.safeParse({ id: 'test', years }).success).toBe(false);
  });

  it('cn-mainland make-up days are all weekend days', () => {
    for (const { makeupWorkdays } of Object.values(cal.years)) {
      for (const d of makeupWorkdays) expect([0, 6]).toContain(new Date(`${d}T00:00:00Z`).getUTCDay());
    }
  });
});

it('workingDays.ts stays deterministic for Temporal workflows', () => {
  const src = readFileSync(join(__dirname, '../../domain/calendar/workingDays.ts'), 'utf8');
  expect(src).not.toMatch(/Date\.now\(|new Date\(\)|from '(node:|fs|path|crypto)/);
});

describe('published calendars (the activity running cases ask for years they lack)', () => {
  it('answers the published years asked for, and nothing for a year with no notice yet', async () => {
    const { calendarYears } = createCalendarActivities();
    expect(await calendarYears({ calendarId: cal.id, years: ['2026', '2027'] })).toEqual({
      '2026': cal.years['2026'],
    });
    expect(await calendarYears({ calendarId: 'nowhere', years: ['2026'] })).toEqual({});
  });
});
