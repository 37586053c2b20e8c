import { Router } from 'express';
import type { AppDeps } from '../app';

/** Coordinators: stuck cases, unblocking actions, programme figures (issue 5). */
export function monitorRoutes(_deps: AppDeps): Router {
  return Router();
}
