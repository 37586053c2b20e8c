import { Router, type Request } from 'express';
import { z } from 'zod';
import { RegionCodeSchema, regionWithin } from '../../domain/agencies';
import { measureByCode } from '../../domain/measures';
import { policies } from '../../domain/policy';
import { eventsRecordedBy, type Action } from '../../domain/journey/state';
import {
  TaskCompletionSchema,
  TaskTypeSchema,
  isReferralTask,
  taskTypeInfo,
  type TaskType,
} from '../../domain/taskTypes';
import { isActiveTaskStatus } from '../../domain/journey/taskBook';
import { act, completeTask } from '../../workflows/householdCase';
import { completeReferralTask, referralAct } from '../../workflows/agencyReferral';
import type { AppDeps } from '../app';
import { auditOrRefuse, auditedChange, formDigest } from '../audit';
import { actorOf } from '../auth';
import { Problem, problemFromFailure } from '../errors';
import { inboxPage } from '../inbox';
import { idempotent, updateIdFor } from '../middleware/idempotency';
import { registerPath, registerSchema } from '../openapi';
import {
  IdParamsSchema,
  TaskSummarySchema,
  assertAssignable,
  caseReferrals,
  parse,
  principalOf,
  taskSummary,
  visibleTask,
  type TaskRow,
} from './shared';

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

export const TaskQuerySchema = z.strictObject({
  status: z.enum(['open', 'awaiting_correction', 'completed', 'cancelled']).default('open'),
  type: TaskTypeSchema.optional(),
  dueBefore: z.iso.datetime({ offset: true }).optional().describe('only tasks due before this instant'),
  overdue: bool.optional().describe('true: past due and still open; false: not yet due'),
  assignee: z.string().min(1).max(200).optional().describe('a user ID, `me`, or `none` (unclaimed)'),
  region: RegionCodeSchema.optional().describe('narrow to a subtree of your own region'),
  caseId: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional().describe('`nextCursor` of the previous page'),
});

export const TaskPageSchema = registerSchema(
  'TaskPage',
  z.object({
    items: z.array(TaskSummarySchema),
    total: z.number().int().describe('all tasks matching the filters, across pages'),
    nextCursor: z.string().nullable(),
  }),
);

const CaseBriefSchema = z.object({
  id: z.string(),
  stage: z.string(),
  tier: z.string().nullable(),
  regionCode: z.string(),
  headName: z.string(),
  idNumberMasked: z.string(),
});
export const TaskDetailSchema = registerSchema(
  'TaskDetail',
  TaskSummarySchema.extend({
    context: z.record(z.string(), z.unknown()),
    case: CaseBriefSchema,
    facts: z
      .record(z.string(), z.unknown())
      .describe('only the case facts this task type needs, and only while the task is active'),
    record: z
      .object({
        completedBy: z.string().nullable(),
        completedAt: z.iso.datetime().nullable(),
        result: z.unknown(),
      })
      .nullable()
      .describe('a closed task: what was submitted and by whom (null while it is active)'),
    comments: z
      .array(
        z.object({
          at: z.iso.datetime(),
          author: z.string().nullable(),
          agency: z.string().nullable(),
          text: z.string(),
        }),
      )
      .describe('comments on this task, oldest first'),
  }),
);
const NextTaskSchema = z.object({
  id: z.string(),
  type: z.string(),
  agency: z.string(),
  status: z.string(),
  dueAt: z.string(),
  assignee: z.string().nullable().optional(),
});
export const CompletionResultSchema = registerSchema(
  'CompletionResult',
  z.object({
    taskId: z.string(),
    caseId: z.string(),
    stage: z.string().describe('the case stage after the completion'),
    nextTasks: z
      .array(NextTaskSchema)
      .describe("your agency's open tasks on the workflow that hosted the task (least privilege)"),
    referral: z
      .object({ referralId: z.string(), measure: z.string(), agency: z.string(), status: z.string() })
      .optional(),
  }),
);
export const TaskActionResultSchema = registerSchema(
  'TaskActionResult',
  z.object({ task: TaskSummarySchema, caseId: z.string(), stage: z.string() }),
);
registerSchema('TaskCompletion', TaskCompletionSchema);

const ReasonSchema = z.strictObject({ reason: z.string().trim().min(1).max(2000) });
const CommentSchema = z.strictObject({ text: z.string().trim().min(1).max(2000) });
const ReassignSchema = z.strictObject({ assignee: z.string().trim().min(1).max(200) });
const EmptySchema = z.strictObject({});

/** Facts that count as sensitive personal information: releasing any of them is audited. */
const SENSITIVE = new Set(['idNumber', 'incomes', 'health', 'survey', 'comparison']);

/** The facts a task type's worker may see (least privilege); everything else stays in the database. */
export function factsFor(
  task: { type: string; workflowId: string },
  facts: Record<string, unknown>,
  summary: Record<string, unknown>,
  context: Record<string, unknown>,
  policyVersion?: string,
): Record<string, unknown> {
  const type = task.type as TaskType;
  const need = new Set(taskTypeInfo[type]?.facts ?? []);
  const survey = facts.survey as {
    result?: Record<string, unknown>;
    gapCents?: number;
    tier?: string;
    causes?: string[];
  } | null;
  const out: Record<string, unknown> = {};
  if (need.has('idNumber')) out.idNumber = facts.idNumber;
  if (need.has('comparison')) out.comparison = facts.comparison;
  if (need.has('survey')) out.survey = survey;
  if (need.has('incomes') && !need.has('survey'))
    out.incomes = survey && {
      incomeItems: survey.result?.incomeItems,
      expenditureItems: survey.result?.expenditureItems,
      gapCents: survey.gapCents,
    };
  if (need.has('health') && !need.has('survey'))
    out.health = survey && {
      causes: survey.causes,
      livingConditions: survey.result?.livingConditions,
      workingCapacity: survey.result?.workingCapacity,
    };
  if (need.has('measure')) {
    // A referral's tasks run on the referral's own workflow, whose ID is the referral's.
    const code = caseReferrals(summary).find((r) => r.id === task.workflowId)?.measure;
    const m = code ? measureByCode(code) : undefined;
    out.measure = code ? { code, name: m?.name ?? code, nameZh: m?.nameZh ?? null } : null;
  }
  if (need.has('plan')) out.plan = { plan: summary.plan ?? null, referrals: summary.agencyReferrals ?? [] };
  if (need.has('payments')) {
    const payments = (summary.payments ?? []) as Array<{ id: string }>;
    // An approval task is about one payment; a review sees them all.
    out.payments = {
      payments: context.paymentId ? payments.filter((p) => p.id === context.paymentId) : payments,
      paidByYear: summary.paidByYear ?? {},
      // The annual cap is per household: what its earlier cases were paid counts against it too.
      earlierCasesPaidByYear: summary.earlierCasesPaidByYear ?? {},
      annualAidCapCents: policies[policyVersion ?? '']?.annualAidCapCents ?? null,
    };
  }
  return out;
}

const asRecord = (v: unknown) => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});

function encodeCursor(t: { dueAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([t.dueAt.toISOString(), t.id])).toString('base64url');
}
function decodeCursor(cursor: string): { dueAt: Date; id: string } {
  try {
    const [d, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string];
    const dueAt = new Date(d);
    if (typeof id !== 'string' || Number.isNaN(dueAt.getTime())) throw new Error('bad');
    return { dueAt, id };
  } catch {
    throw new Problem(400, 'invalid_input', 'the request does not match its schema', [
      { path: 'query.cursor', message: 'not a cursor returned by this API', code: 'invalid_cursor' },
    ]);
  }
}

registerPath({
  method: 'get',
  path: '/v1/tasks',
  summary: "Your agency's inbox in your region, sorted by due time, keyset-paginated",
  tags: ['tasks'],
  query: TaskQuerySchema,
  responses: { 200: { description: 'A page of tasks', schema: TaskPageSchema } },
  problems: [400, 403],
});
registerPath({
  method: 'get',
  path: '/v1/tasks/:id',
  summary: 'A task with the case facts its type needs (ID numbers masked unless needed)',
  description:
    "The case's facts are released only while the task is active (open or awaiting correction); a closed task shows its own record instead. Releasing sensitive facts (ID number, incomes, health, survey, comparison) or a record is audited.",
  tags: ['tasks'],
  params: IdParamsSchema,
  responses: { 200: { description: 'The task', schema: TaskDetailSchema } },
  problems: [404, 503],
});
registerPath({
  method: 'post',
  path: '/v1/tasks/:id/complete',
  summary: "Complete a task with its type's form (through the workflow's Update)",
  tags: ['tasks'],
  params: IdParamsSchema,
  body: TaskCompletionSchema,
  idempotent: true,
  responses: { 200: { description: 'The case stage and next tasks', schema: CompletionResultSchema } },
  problems: [400, 403, 404, 409, 422, 503],
});
for (const [action, summary, body] of [
  ['claim', 'Claim a task (assign it to yourself)', EmptySchema],
  ['release', 'Release a claimed task', EmptySchema],
  ['return', 'Return a task for correction (补正) with a reason; its deadline clock stops', ReasonSchema],
  ['correction-received', 'Record the correction; the deadline clock resumes', EmptySchema],
  ['comment', 'Comment on a task (recorded on the case timeline)', CommentSchema],
  ['reassign', 'Reassign a task to another member of your agency (supervisor)', ReassignSchema],
] as const)
  registerPath({
    method: 'post',
    path: `/v1/tasks/:id/${action}`,
    summary,
    tags: ['tasks'],
    params: IdParamsSchema,
    body,
    idempotent: true,
    responses: { 200: { description: 'The task after the action', schema: TaskActionResultSchema } },
    problems: [400, 403, 404, 409, 422, 503],
  });

export function taskRoutes({ db, client }: AppDeps): Router {
  const r = Router();

  r.get('/tasks', async (req, res) => {
    const q = parse(TaskQuerySchema, req.query, ['query']);
    const p = principalOf(req);
    if (q.region && !regionWithin(q.region, p.region))
      throw new Problem(403, 'region_out_of_scope', `region ${q.region} is outside your region ${p.region}`);
    const now = new Date();
    const { rows, total } = await inboxPage(
      db,
      {
        agency: p.agency,
        status: q.status,
        region: q.region ?? p.region,
        type: q.type,
        caseId: q.caseId,
        assignee: q.assignee === 'me' ? p.sub : q.assignee === 'none' ? null : q.assignee,
        dueBefore: q.dueBefore ? new Date(q.dueBefore) : undefined,
        overdue: q.overdue,
        now,
      },
      q.cursor ? decodeCursor(q.cursor) : undefined,
      q.limit + 1,
    );
    const items = rows.slice(0, q.limit);
    res.json({
      items: items.map((t) => taskSummary(t, now.getTime())),
      total,
      nextCursor: rows.length > q.limit ? encodeCursor(items[items.length - 1]!) : null,
    });
  });

  r.get('/tasks/:id', async (req, res) => {
    const p = principalOf(req);
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const task = await visibleTask(db, p, id);
    const [c, comments] = await Promise.all([
      db.householdCase.findUnique({ where: { id: task.caseId } }),
      db.caseEvent.findMany({
        where: { caseId: task.caseId, taskId: task.id, type: 'case.comment' },
        orderBy: [{ at: 'asc' }, { workflowId: 'asc' }, { seq: 'asc' }],
      }),
    ]);
    if (!c) throw new Problem(404, 'task_not_found', `no task ${id} in your inbox`);
    const context = asRecord(task.context);
    // The case's current facts serve the work: a closed task shows only its own record.
    const active = isActiveTaskStatus(task.status);
    const facts = active
      ? factsFor(task, asRecord(c.facts), asRecord(c.summary), context, c.policyVersion)
      : {};
    const record = active
      ? null
      : {
          completedBy: task.completedBy,
          completedAt: task.completedAt?.toISOString() ?? null,
          result: task.result,
        };
    const released = [
      ...Object.keys(facts).filter((k) => SENSITIVE.has(k) && facts[k] != null),
      ...(record?.result != null ? ['result'] : []),
    ];
    // Audited before the data leaves: if the trail cannot be written, nothing is released (503).
    if (released.length)
      await auditOrRefuse(db, {
        caseId: c.id,
        principal: p,
        action: 'task.read_sensitive',
        target: task.id,
        requestId: req.requestId,
        data: { fields: released },
      });
    res.json({
      ...taskSummary(task),
      context,
      comments: comments.map((e) => ({
        at: e.at.toISOString(),
        author: e.actor,
        agency: e.agency,
        text: String(asRecord(e.data).text ?? ''),
      })),
      case: {
        id: c.id,
        stage: c.stage,
        tier: c.tier,
        regionCode: c.regionCode,
        headName: c.headName,
        idNumberMasked: c.idNumberMasked,
      },
      facts,
      record,
    });
  });

  /** Maps a workflow rejection to a problem; a task no longer open comes back with its current state. */
  async function failure(err: unknown, taskId: string): Promise<never> {
    const problem = problemFromFailure(err);
    if (!problem) throw err;
    if (problem.status === 409 || problem.code === 'task_not_found') {
      const now = await db.caseTask.findUnique({ where: { id: taskId } });
      if (now && problem.code === 'task_not_found')
        throw new Problem(409, 'task_not_open', `task ${taskId} is ${now.status}`, undefined, {
          task: taskSummary(now),
        });
      if (now)
        throw new Problem(problem.status, problem.code, problem.message, problem.errors, {
          task: taskSummary(now),
        });
    }
    throw problem;
  }

  function assertOpen(task: TaskRow) {
    if (task.status === 'completed' || task.status === 'cancelled')
      throw new Problem(409, 'task_not_open', `task ${task.id} is ${task.status}`, undefined, {
        task: taskSummary(task),
      });
  }

  r.post('/tasks/:id/complete', idempotent(), async (req, res) => {
    const p = principalOf(req);
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const task = await visibleTask(db, p, id);
    const completion = parse(TaskCompletionSchema, req.body, ['body']);
    assertOpen(task);
    if (completion.type !== task.type)
      throw new Problem(
        400,
        'wrong_task_type',
        `task ${task.id} is a ${task.type}, not a ${completion.type}`,
        [{ path: 'body.type', message: `must be ${task.type}`, code: 'wrong_task_type' }],
      );
    const role = taskTypeInfo[task.type as TaskType]?.role;
    if (role && !p.roles.includes(role))
      throw new Problem(403, 'forbidden', `a ${task.type} task needs the ${role} role`);
    const handle = client.workflow.getHandle(task.workflowId);
    const input = {
      args: [{ taskId: task.id, actor: actorOf(p), completion }] as const,
      updateId: updateIdFor(req, `complete:${task.id}`),
    };
    const complete = async (): Promise<z.infer<typeof CompletionResultSchema>> => {
      if (!isReferralTask(task.type)) {
        const view = await handle.executeUpdate(completeTask, { ...input, args: [...input.args] });
        return {
          taskId: task.id,
          caseId: task.caseId,
          stage: view.stage,
          nextTasks: view.openTasks.filter((t) => t.agency === p.agency),
        };
      }
      // A referral's task: the case learns the outcome by signal, so its stage is read afterwards.
      const view = await handle.executeUpdate(completeReferralTask, { ...input, args: [...input.args] });
      const after = await db.householdCase.findUniqueOrThrow({ where: { id: task.caseId } });
      return {
        taskId: task.id,
        caseId: task.caseId,
        stage: after.stage,
        nextTasks: view.openTasks.map((t) => ({ ...t, agency: view.agency })),
        referral: {
          referralId: view.referralId,
          measure: view.measure,
          agency: view.agency,
          status: view.status,
        },
      };
    };
    let result: z.infer<typeof CompletionResultSchema>;
    try {
      result = await auditedChange(
        db,
        {
          caseId: task.caseId,
          principal: p,
          action: 'task.complete',
          target: task.id,
          requestId: req.requestId,
          workflowId: task.workflowId,
          updateId: input.updateId,
          recordedAs: eventsRecordedBy.completeTask,
          // The form itself holds personal data; the audit keeps its digest.
          data: {
            type: task.type,
            formSha256: formDigest(completion.form),
          },
        },
        complete,
        { outcome: (r) => ({ stage: r.stage }) },
      );
    } catch (err) {
      return failure(err, task.id);
    }
    res.json(result);
  });

  /** The task actions, each an `act` Update on the workflow hosting the task. */
  const actions: Record<
    string,
    {
      body: z.ZodType;
      command: (taskId: string, body: never) => Action;
      roles?: string[];
      /** A check of the body against the task before the workflow is asked. */
      check?: (task: TaskRow, body: never) => Promise<void>;
    }
  > = {
    claim: { body: EmptySchema, command: (taskId) => ({ action: 'claim', taskId }) },
    release: { body: EmptySchema, command: (taskId) => ({ action: 'release', taskId }) },
    return: {
      body: ReasonSchema,
      command: (taskId, b: z.infer<typeof ReasonSchema>) => ({
        action: 'returnForCorrection',
        taskId,
        reason: b.reason,
      }),
    },
    'correction-received': {
      body: EmptySchema,
      command: (taskId) => ({ action: 'correctionReceived', taskId }),
    },
    comment: {
      body: CommentSchema,
      command: (taskId, b: z.infer<typeof CommentSchema>) => ({ action: 'comment', taskId, text: b.text }),
    },
    reassign: {
      body: ReassignSchema,
      command: (taskId, b: z.infer<typeof ReassignSchema>) => ({
        action: 'reassign',
        taskId,
        assignee: b.assignee,
      }),
      roles: ['supervisor', 'coordinator'],
      check: (task, b: z.infer<typeof ReassignSchema>) =>
        assertAssignable(db, task, b.assignee, 'body.assignee'),
    },
  };

  for (const [name, spec] of Object.entries(actions)) {
    r.post(`/tasks/:id/${name}`, idempotent(), async (req: Request, res) => {
      const p = principalOf(req);
      const { id } = parse(IdParamsSchema, req.params, ['params']);
      const task = await visibleTask(db, p, id);
      const body = parse(spec.body, req.body ?? {}, ['body']);
      if (spec.roles && !spec.roles.some((role) => p.roles.includes(role as never)))
        throw new Problem(403, 'forbidden', `${name} needs one of the roles: ${spec.roles.join(', ')}`);
      assertOpen(task);
      await spec.check?.(task, body as never);
      const command = spec.command(task.id, body as never);
      const handle = client.workflow.getHandle(task.workflowId);
      const update = {
        args: [{ actor: actorOf(p), command }] as [never],
        updateId: updateIdFor(req, `${name}:${task.id}`),
      };
      try {
        await auditedChange(
          db,
          {
            caseId: task.caseId,
            principal: p,
            action: `task.${name}`,
            target: task.id,
            requestId: req.requestId,
            workflowId: task.workflowId,
            updateId: update.updateId,
            recordedAs: eventsRecordedBy[command.action],
            data: body as Record<string, unknown>,
          },
          async () =>
            void (await (isReferralTask(task.type)
              ? handle.executeUpdate(referralAct, update)
              : handle.executeUpdate(act, update))),
        );
      } catch (err) {
        return failure(err, task.id);
      }
      // The Update returns once the projection is written: read the task as it now is.
      const [after, c] = await Promise.all([
        db.caseTask.findUniqueOrThrow({ where: { id: task.id } }),
        db.householdCase.findUniqueOrThrow({ where: { id: task.caseId } }),
      ]);
      res.json({ task: taskSummary(after), caseId: c.id, stage: c.stage });
    });
  }

  return r;
}
