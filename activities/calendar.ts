import { publishedCalendars } from '../domain/calendar/published';
import type { WorkingDayCalendar } from '../domain/calendar/workingDays';

export function createCalendarActivities(calendars: Record<string, WorkingDayCalendar> = publishedCalendars) {
  return {
    /** The published holidays and make-up workdays of these years; years with no notice yet are absent. */
    async calendarYears(input: {
      calendarId: string;
      years: string[];
    }): Promise<WorkingDayCalendar['years']> {
      const years = calendars[input.calendarId]?.years ?? {};
      return Object.fromEntries(input.years.filter((y) => years[y]).map((y) => [y, years[y]!]));
    },
  };
}
