import crypto from 'node:crypto';
import express, { type Express } from 'express';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { authenticate } from './auth';
import type { Resolver } from './integrations/targets';
import { docsRoutes } from './docs';
import { Problem, errorHandler } from './errors';
import { log } from './log';
import { failedAuthLimit, rateLimit, type RateLimitOptions } from './middleware/rateLimit';
import { apiKeyRoutes } from './routes/apiKeys';
import { caseRoutes } from './routes/cases';
import { healthRoutes } from './routes/health';
import { integrationRoutes } from './routes/integrations';
import { monitorRoutes } from './routes/monitor';
import { taskRoutes } from './routes/tasks';

export interface AppDeps {
  config: Config;
  db: Db;
  client: Client;
  /**
   * Per-principal request budget (default: bursts of 120, 20 per second sustained), and `anonymous`:
   * per client address, charged only by requests that fail to authenticate (default: bursts of 30, 1
   * per second).
   */
  rateLimit?: RateLimitOptions & { anonymous?: RateLimitOptions };
  /** DNS for checking webhook targets (tests play a changing answer); the system resolver by default. */
  resolve?: Resolver;
  /** How long one batch item waits for its workflow before it is reported pending (default 10 s). */
  batchItemWaitMs?: number;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Middleware that needs the dependencies without being handed them (e.g. `idempotent()`).
  app.locals.deps = deps;
  app.use((req, res, next) => {
    const given = req.header('x-request-id');
    req.requestId = given && /^[\w.-]{1,100}$/.test(given) ? given : crypto.randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () =>
      log('info', 'request', {
        requestId: req.requestId,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
        principal: req.principal?.sub,
      }),
    );
    next();
  });
  app.use(express.json({ limit: '1mb' }));
  app.use(healthRoutes(deps));
  app.use(docsRoutes());
  // Every /v1 router below runs these; each runs once per request (see authenticate, rateLimit).
  const guard = [authenticate(deps, failedAuthLimit(deps.rateLimit?.anonymous)), rateLimit(deps.rateLimit)];
  app.use('/v1', ...guard, caseRoutes(deps));
  app.use('/v1', ...guard, monitorRoutes(deps));
  app.use('/v1', ...guard, integrationRoutes(deps));
  app.use('/v1', ...guard, taskRoutes(deps));
  app.use('/v1', ...guard, apiKeyRoutes(deps));
  app.use((req, _res, next) => next(new Problem(404, 'not_found', `no route ${req.method} ${req.path}`)));
  app.use(errorHandler);
  return app;
}
