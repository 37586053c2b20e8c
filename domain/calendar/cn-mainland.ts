import { WorkingDayCalendarSchema, type WorkingDayCalendar } from './workingDays';

// Mainland China public-holiday arrangements from the State Council General Office notices
// (国务院办公厅关于节假日安排的通知). The notice for each new year (usually published in Oct–Dec) must be added
// here as data when it is published: years missing from `years` count weekends only, with no holidays or 调休
// (a case flags such a deadline, and picks the year up from here once it is added; see published.ts).
// Every make-up workday below was checked to be a Saturday or Sunday (the schema enforces it too).
export const cnMainlandCalendar: WorkingDayCalendar = WorkingDayCalendarSchema.parse({
  id: 'cn-mainland',
  timeZoneOffsetMinutes: 480,
  years: {
    '2025': {
      holidays: [
        '2025-01-01', // 元旦
        // 春节 Jan 28 – Feb 4
        '2025-01-28',
        '2025-01-29',
        '2025-01-30',
        '2025-01-31',
        '2025-02-01',
        '2025-02-02',
        '2025-02-03',
        '2025-02-04',
        // 清明 Apr 4–6
        '2025-04-04',
        '2025-04-05',
        '2025-04-06',
        // 劳动节 May 1–5
        '2025-05-01',
        '2025-05-02',
        '2025-05-03',
        '2025-05-04',
        '2025-05-05',
        // 端午 May 31 – Jun 2
        '2025-05-31',
        '2025-06-01',
        '2025-06-02',
        // 国庆 + 中秋 Oct 1–8
        '2025-10-01',
        '2025-10-02',
        '2025-10-03',
        '2025-10-04',
        '2025-10-05',
        '2025-10-06',
        '2025-10-07',
        '2025-10-08',
      ],
      makeupWorkdays: [
        '2025-01-26', // Sun, 春节
        '2025-02-08', // Sat, 春节
        '2025-04-27', // Sun, 劳动节
        '2025-09-28', // Sun, 国庆
        '2025-10-11', // Sat, 国庆
      ],
    },
    '2026': {
      holidays: [
        // 元旦 Jan 1–3
        '2026-01-01',
        '2026-01-02',
        '2026-01-03',
        // 春节 Feb 15–23
        '2026-02-15',
        '2026-02-16',
        '2026-02-17',
        '2026-02-18',
        '2026-02-19',
        '2026-02-20',
        '2026-02-21',
        '2026-02-22',
        '2026-02-23',
        // 清明 Apr 4–6
        '2026-04-04',
        '2026-04-05',
        '2026-04-06',
        // 劳动节 May 1–5
        '2026-05-01',
        '2026-05-02',
        '2026-05-03',
        '2026-05-04',
        '2026-05-05',
        // 端午 Jun 19–21
        '2026-06-19',
        '2026-06-20',
        '2026-06-21',
        // 中秋 Sep 25–27
        '2026-09-25',
        '2026-09-26',
        '2026-09-27',
        // 国庆 Oct 1–7
        '2026-10-01',
        '2026-10-02',
        '2026-10-03',
        '2026-10-04',
        '2026-10-05',
        '2026-10-06',
        '2026-10-07',
      ],
      makeupWorkdays: [
        '2026-01-04', // Sun, 元旦
        '2026-02-14', // Sat, 春节
        '2026-02-28', // Sat, 春节
        '2026-05-09', // Sat, 劳动节
        '2026-09-20', // Sun, 国庆
        '2026-10-10', // Sat, 国庆
      ],
    },
  },
});
