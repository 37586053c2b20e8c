import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { regionWithin } from '../../domain/agencies';
import { DeadlineSchema } from '../../domain/policy';
import { eventsRecordedBy, type ActInput } from '../../domain/journey/state';
import { act } from '../../workflows/householdCase';
import type { AppDeps } from '../app';
import { auditedChange } from '../audit';
import { actorOf } from '../auth';
import { Problem } from '../errors';
import { idempotent, updateIdFor } from '../middleware/idempotency';
import {
  CaseDrillSchema,
  MilestoneDrillSchema,
  PaymentDrillSchema,
  TaskDrillSchema,
  drillCases,
  drillMilestones,
  drillPayments,
  drillTasks,
} from '../monitor/drill';
import { StatsQuerySchema, programStats } from '../monitor/stats';
import { StuckQuerySchema, stuckList } from '../monitor/stuck';
import { registerPath } from '../openapi';
import { IdParamsSchema, assertAssignable, parse, principalOf } from './shared';

const reason = z.string().trim().min(1).max(2000);
export const TaskActionSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('reassign'), assignee: z.string().min(1).max(200) }),
  z.object({ action: z.literal('extendDeadline'), by: DeadlineSchema, reason }),
  z.object({ action: z.literal('remind') }),
  z.object({ action: z.literal('escalate'), reason }),
]);
export const CaseActionSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('hold'), reason }),
  z.object({ action: z.literal('resume') }),
]);

const tags = ['monitor'];
const problems = [400, 401, 403, 404, 409, 422];
registerPath({
  method: 'get',
  path: '/v1/monitor/stuck',
  tags,
  summary: 'Stuck tasks and cases in your region, latest first',
  query: StuckQuerySchema,
  responses: { 200: { description: 'items with reason, since, daysLate, heldBy, links; total' } },
  problems,
});
registerPath({
  method: 'get',
  path: '/v1/monitor/stats',
  tags,
  summary: 'Programme figures against targets and caps; each links to its cases',
  query: StatsQuerySchema,
  responses: { 200: { description: 'figures' } },
  problems,
});
registerPath({
  method: 'get',
  path: '/v1/monitor/cases',
  tags,
  summary: 'The cases behind a figure',
  query: CaseDrillSchema,
  responses: { 200: { description: 'cases' } },
  problems,
});
registerPath({
  method: 'get',
  path: '/v1/monitor/tasks',
  tags,
  summary: 'The tasks behind an on-time figure',
  query: TaskDrillSchema,
  responses: { 200: { description: 'tasks' } },
  problems,
});
registerPath({
  method: 'get',
  path: '/v1/monitor/payments',
  tags,
  summary: 'The union-aid payments behind person-times and paid totals',
  query: PaymentDrillSchema,
  responses: { 200: { description: 'payments' } },
  problems,
});
registerPath({
  method: 'get',
  path: '/v1/monitor/milestones',
  tags,
  summary: 'The referral grants and stage departures behind person-times and days per stage',
  query: MilestoneDrillSchema,
  responses: { 200: { description: 'milestones' } },
  problems,
});
registerPath({
  method: 'post',
  path: '/v1/monitor/tasks/:id/actions',
  tags,
  summary: 'Reassign, extend (with a reason), remind or escalate a task; through the workflow, audited',
  body: TaskActionSchema,
  idempotent: true,
  responses: { 200: { description: 'the case (or referral) view after the action' } },
  problems: [...problems, 503],
});
registerPath({
  method: 'post',
  path: '/v1/monitor/cases/:id/actions',
  tags,
  summary: 'Put a case on hold (its clocks stop) or resume it (they shift by the time held)',
  body: CaseActionSchema,
  idempotent: true,
  responses: { 200: { description: 'the case view after the action' } },
  problems: [...problems, 503],
});

/** Coordinators (union joint office, city or county): stuck cases, unblocking actions, figures. */
export function monitorRoutes({ db, client }: AppDeps): Router {
  const r = Router();

  r.use('/monitor', (req, _res, next) => {
    const p = req.principal;
    if (!p?.roles.includes('coordinator'))
      return next(new Problem(403, 'forbidden', 'the monitor is for coordinators (role coordinator)'));
    next();
  });

  /** The region asked for, which must lie within the coordinator's own. */
  function scope(req: Request, asked: string | undefined): string {
    const own = principalOf(req).region;
    if (asked && !regionWithin(asked, own))
      throw new Problem(403, 'forbidden', `region ${asked} is outside your region ${own}`);
    return asked ?? own;
  }

  r.get('/monitor/stuck', async (req, res) => {
    const q = parse(StuckQuerySchema, req.query, ['query']);
    res.json(await stuckList(db, scope(req, q.region), q));
  });

  r.get('/monitor/stats', async (req, res) => {
    const q = parse(StatsQuerySchema, req.query, ['query']);
    res.json(await programStats(db, scope(req, q.region), q.year));
  });

  /** A drill-down: its query parsed, its region scoped to the coordinator's. */
  function drill<Q extends { region?: string }>(
    path: string,
    schema: z.ZodType<Q>,
    run: (db: Db, region: string, q: Q) => Promise<unknown>,
  ) {
    r.get(path, async (req, res) => {
      const q = parse(schema, req.query, ['query']);
      res.json(await run(db, scope(req, q.region), q));
    });
  }
  drill('/monitor/cases', CaseDrillSchema, drillCases);
  drill('/monitor/tasks', TaskDrillSchema, drillTasks);
  drill('/monitor/payments', PaymentDrillSchema, drillPayments);
  drill('/monitor/milestones', MilestoneDrillSchema, drillMilestones);

  /**
   * A coordinator's action on a task or a case: an `act` Update on the workflow hosting it (a
   * referral task's is the referral's, which hosts the same Update), audited as a change.
   */
  function monitorAct(
    req: Request,
    on: { caseId: string; target: string; workflowId: string },
    command: ActInput['command'],
    data: Record<string, unknown>,
    caseArg?: string,
  ) {
    const p = principalOf(req);
    const updateId = updateIdFor(req, `monitor:${on.target}`);
    return auditedChange(
      db,
      {
        caseId: on.caseId,
        principal: p,
        action: `monitor.${command.action}`,
        target: on.target,
        requestId: req.requestId,
        workflowId: on.workflowId,
        updateId,
        recordedAs: eventsRecordedBy[command.action],
        data,
      },
      () =>
        client.workflow
          .getHandle(on.workflowId)
          .executeUpdate(act, { args: [{ actor: actorOf(p), command, caseId: caseArg }], updateId }),
    );
  }

  r.post('/monitor/tasks/:id/actions', idempotent(), async (req, res) => {
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const body = parse(TaskActionSchema, req.body, ['body']);
    const task = await db.caseTask.findUnique({ where: { id } });
    if (!task || !regionWithin(task.regionCode, principalOf(req).region))
      throw new Problem(404, 'task_not_found', `no task ${id} in your region`);
    if (body.action === 'reassign') await assertAssignable(db, task, body.assignee, 'body.assignee');
    const on = { caseId: task.caseId, target: task.id, workflowId: task.workflowId };
    res.json(await monitorAct(req, on, { ...body, taskId: task.id }, { ...body }));
  });

  r.post('/monitor/cases/:id/actions', idempotent(), async (req, res) => {
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const command = parse(CaseActionSchema, req.body, ['body']);
    const c = await db.householdCase.findUnique({ where: { id } });
    if (!c || !regionWithin(c.regionCode, principalOf(req).region))
      throw new Problem(404, 'case_not_found', `no case ${id} in your region`);
    const on = { caseId: c.id, target: c.id, workflowId: c.workflowId };
    res.json(await monitorAct(req, on, command, { ...command }, c.id));
  });

  return r;
}
