import { cnMainlandCalendar } from './cn-mainland';
import type { WorkingDayCalendar } from './workingDays';

/**
 * The working-day calendars as published, by ID. A year's State Council notice is added to its
 * calendar's file when it comes out; running cases that lack the year ask for it (activity
 * `calendarYears`) and recount the deadlines they had to count on weekdays alone.
 */
export const publishedCalendars: Record<string, WorkingDayCalendar> = {
  [cnMainlandCalendar.id]: cnMainlandCalendar,
};
