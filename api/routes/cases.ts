import { Router } from 'express';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { z } from 'zod';
import { currentPolicyVersion, policies } from '../../domain/policy';
import { cnMainlandCalendar } from '../../domain/calendar/cn-mainland';
import { regionWithin } from '../../domain/agencies';
import { taskTypeInfo, type TaskType } from '../../domain/taskTypes';
import { ActionSchema, HouseholdSchema, ReferralSchema } from '../../domain/journey/state';
import { TaskCompletionSchema } from '../../domain/taskTypes';
import { act, completeTask, householdCase } from '../../workflows/householdCase';
import { actorOf } from '../auth';
import { Problem, zodIssues } from '../errors';
import { caseWorkflowId, householdKey } from '../households';
import type { AppDeps } from '../app';
import type { Request } from 'express';

export const ReferralRequestSchema = z.object({ household: HouseholdSchema, referral: ReferralSchema });

function parse<T>(schema: z.ZodType<T>, value: unknown, prefix: string[] = []): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new Problem(400, 'invalid_input', 'the request does not match its schema', zodIssues(r.error, prefix));
  return r.data;
}

const TaskQuerySchema = z.object({
  status: z.enum(['open', 'awaiting_correction', 'completed', 'cancelled']).optional(),
  type: z.string().optional(),
  caseId: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** The facts a task type's worker may see (least privilege); everything else stays in the database. */
function factsFor(type: TaskType, facts: Record<string, unknown>): Record<string, unknown> {
  const need = new Set(taskTypeInfo[type].facts);
  const out: Record<string, unknown> = {};
  if (need.has('idNumber')) out.idNumber = facts.idNumber;
  if (need.has('comparison')) out.comparison = facts.comparison;
  if (need.has('survey') || need.has('incomes') || need.has('health')) out.survey = facts.survey;
  return out;
}

export function caseRoutes({ db, client, config }: AppDeps): Router {
  const r = Router();
  const principalOf = (req: Request) => req.principal!;

  // Start a case for a household, or join its open case (one open case per household).
  r.post('/referrals', async (req, res) => {
    const body = parse(ReferralRequestSchema, req.body);
    const key = householdKey(body.household.idNumber, config.HOUSEHOLD_KEY_SECRET);
    const workflowId = caseWorkflowId(key);
    const actor = actorOf(principalOf(req));
    const policy = policies[currentPolicyVersion]!;
    const startOp = new WithStartWorkflowOperation(householdCase, {
      workflowId,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [{ start: { household: body.household, householdKey: key, referral: body.referral, policy, calendar: cnMainlandCalendar } }],
    });
    const view = await client.workflow.executeUpdateWithStart(act, {
      args: [{ actor, command: { action: 'addReferral', referral: body.referral } }],
      startWorkflowOperation: startOp,
    });
    const joined = view.referralCount > 1;
    res.status(joined ? 200 : 201).json({ caseId: view.caseId, joined, stage: view.stage, openTasks: view.openTasks });
  });

  r.get('/tasks', async (req, res) => {
    const q = parse(TaskQuerySchema, req.query, ['query']);
    const p = principalOf(req);
    const rows = await db.caseTask.findMany({
      where: {
        agency: p.agency,
        OR: [{ regionCode: p.region }, { regionCode: { startsWith: `${p.region}/` } }],
        status: q.status ?? 'open',
        ...(q.type ? { type: q.type } : {}),
        ...(q.caseId ? { caseId: q.caseId } : {}),
      },
      orderBy: [{ dueAt: 'asc' }, { id: 'asc' }],
      take: q.limit,
    });
    res.json({ items: rows.map(taskSummary) });
  });

  async function visibleTask(req: Request) {
    const p = principalOf(req);
    const task = await db.caseTask.findUnique({ where: { id: String(req.params.id) } });
    // Another agency's or region's task is reported as absent: nothing leaks.
    if (!task || task.agency !== p.agency || !regionWithin(task.regionCode, p.region))
      throw new Problem(404, 'task_not_found', `no task ${req.params.id} in your inbox`);
    return task;
  }

  r.get('/tasks/:id', async (req, res) => {
    const task = await visibleTask(req);
    const c = await db.householdCase.findUnique({ where: { id: task.caseId } });
    res.json({
      ...taskSummary(task),
      case: c && {
        id: c.id,
        stage: c.stage,
        headName: c.headName,
        idNumberMasked: c.idNumberMasked,
        tier: c.tier,
        facts: factsFor(task.type as TaskType, c.facts as Record<string, unknown>),
      },
    });
  });

  r.post('/tasks/:id/complete', async (req, res) => {
    const task = await visibleTask(req);
    const completion = parse(TaskCompletionSchema, req.body);
    if (task.status === 'completed' || task.status === 'cancelled')
      throw new Problem(409, 'task_not_open', `task ${task.id} is ${task.status}`, undefined, { task: taskSummary(task) });
    const view = await client.workflow.getHandle(task.workflowId).executeUpdate(completeTask, {
      args: [{ taskId: task.id, actor: actorOf(principalOf(req)), completion }],
    });
    res.json(view);
  });

  r.post('/cases/:id/actions', async (req, res) => {
    const c = await visibleCase(req);
    const command = parse(ActionSchema, req.body);
    const view = await client.workflow.getHandle(c.workflowId).executeUpdate(act, {
      args: [{ actor: actorOf(principalOf(req)), command }],
    });
    res.json(view);
  });

  async function visibleCase(req: Request) {
    const p = principalOf(req);
    const c = await db.householdCase.findUnique({ where: { id: String(req.params.id) } });
    if (!c || !regionWithin(c.regionCode, p.region)) throw new Problem(404, 'case_not_found', `no case ${req.params.id} in your region`);
    // Agencies other than the union see a case only while it involves them.
    if (p.agency !== 'union' && !p.roles.includes('coordinator')) {
      const involved = await db.caseTask.count({ where: { caseId: c.id, agency: p.agency } });
      if (!involved) throw new Problem(404, 'case_not_found', `no case ${req.params.id} in your region`);
    }
    return c;
  }

  r.get('/cases/:id', async (req, res) => {
    const c = await visibleCase(req);
    const [tasks, events] = await Promise.all([
      db.caseTask.findMany({ where: { caseId: c.id, status: { in: ['open', 'awaiting_correction'] } }, orderBy: { dueAt: 'asc' } }),
      db.caseEvent.findMany({ where: { caseId: c.id }, orderBy: [{ at: 'asc' }, { workflowId: 'asc' }, { seq: 'asc' }] }),
    ]);
    res.json({
      id: c.id,
      stage: c.stage,
      tier: c.tier,
      causes: c.causes,
      regionCode: c.regionCode,
      headName: c.headName,
      idNumberMasked: c.idNumberMasked,
      fileNumber: c.fileNumber,
      openedAt: c.openedAt,
      filedAt: c.filedAt,
      endedAt: c.endedAt,
      onHold: c.onHold,
      policyVersion: c.policyVersion,
      openTasks: tasks.map(taskSummary),
      timeline: events.map((e) => ({ at: e.at, type: e.type, actor: e.actor, agency: e.agency, taskId: e.taskId })),
    });
  });

  return r;
}

function taskSummary(t: {
  id: string;
  caseId: string;
  type: string;
  agency: string;
  regionCode: string;
  status: string;
  assignee: string | null;
  createdAt: Date;
  dueAt: Date;
  escalatedAt: Date | null;
}) {
  return {
    id: t.id,
    caseId: t.caseId,
    type: t.type,
    title: taskTypeInfo[t.type as TaskType]?.title ?? t.type,
    agency: t.agency,
    regionCode: t.regionCode,
    status: t.status,
    assignee: t.assignee,
    createdAt: t.createdAt,
    dueAt: t.dueAt,
    overdue: t.status === 'open' && t.dueAt.getTime() < Date.now(),
    escalatedAt: t.escalatedAt,
  };
}
