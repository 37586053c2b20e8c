import { Router } from 'express';
import type { AppDeps } from '../app';

/** Integrators: referral status and feed, webhooks, bulk import, batch task work (issue 5). */
export function integrationRoutes(_deps: AppDeps): Router {
  return Router();
}
