import type { Db } from '../db/client';
import { createProjectionActivities } from './projection';

/** All activities, built from injected dependencies (the worker passes the real database). */
export function createActivities(deps: { db: Db }) {
  return { ...createProjectionActivities(deps.db) };
}
export type Activities = ReturnType<typeof createActivities>;
