import { Router } from 'express';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { z } from 'zod';
import { currentPolicyVersion, policies } from '../../domain/policy';
import { cnMainlandCalendar } from '../../domain/calendar/cn-mainland';
import { regionWithin } from '../../domain/agencies';
import { ActionSchema, HouseholdSchema, ReferralSchema, eventsRecordedBy } from '../../domain/journey/state';
import { ACTIVE_TASK_STATUSES } from '../../domain/journey/taskBook';
import { act, householdCase, type ActResult } from '../../workflows/householdCase';
import type { AppDeps } from '../app';
import { auditOrRefuse, auditedChange } from '../audit';
import { actorOf } from '../auth';
import { Problem, problemFromFailure } from '../errors';
import { caseWorkflowId, householdKey } from '../households';
import { idempotent, updateIdFor } from '../middleware/idempotency';
import { registerPath, registerSchema } from '../openapi';
import {
  IdParamsSchema,
  assertAssignable,
  TaskSummarySchema,
  canSeeTask,
  caseReferrals,
  parse,
  principalOf,
  taskSummary,
  tasksSeenOnCase,
  visibleCase,
} from './shared';

export const ReferralRequestSchema = registerSchema(
  'ReferralRequest',
  z.object({ household: HouseholdSchema, referral: ReferralSchema }),
);
registerSchema('CaseAction', ActionSchema);

const OpenTaskSchema = z.object({
  id: z.string(),
  type: z.string(),
  agency: z.string(),
  status: z.string(),
  dueAt: z.string(),
  assignee: z.string().nullable(),
});
export const ReferralResultSchema = registerSchema(
  'ReferralResult',
  z.object({
    caseId: z.string(),
    joined: z
      .boolean()
      .describe('true when the household already had an open case, which this referral joined'),
    duplicate: z
      .boolean()
      .describe(
        'true when that case already holds this very referral (same source, referrer, and externalRef or else note): nothing changed',
      ),
    stage: z.string(),
    openTasks: z.array(OpenTaskSchema),
  }),
);
export const CaseActionResultSchema = registerSchema(
  'CaseActionResult',
  z.object({
    caseId: z.string(),
    stage: z.string(),
    tier: z.string().nullable(),
    fileNumber: z.string().nullable(),
    onHold: z.boolean(),
    openTasks: z.array(OpenTaskSchema),
  }),
);
export const CaseDetailSchema = registerSchema(
  'CaseDetail',
  z.object({
    id: z.string(),
    stage: z.string(),
    tier: z.string().nullable(),
    causes: z
      .array(z.string())
      .optional()
      .describe(
        'hardship causes (health data): for the union and coordinators only, and the read is audited',
      ),
    regionCode: z.string(),
    headName: z.string(),
    idNumberMasked: z.string(),
    fileNumber: z.string().nullable(),
    openedAt: z.string(),
    filedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    onHold: z.boolean(),
    policyVersion: z.string(),
    openTasks: z
      .array(TaskSummarySchema)
      .describe("open tasks: every agency's for the union and coordinators, else yours"),
    timeline: z.array(
      z.object({
        at: z.string(),
        type: z.string(),
        actor: z.string().nullable(),
        agency: z.string().nullable(),
        taskId: z.string().nullable(),
      }),
    ),
  }),
);

registerPath({
  method: 'post',
  path: '/v1/referrals',
  summary: "Refer a household: starts its case, or joins the household's open case",
  tags: ['cases'],
  body: ReferralRequestSchema,
  idempotent: true,
  responses: {
    201: { description: 'A new case was started', schema: ReferralResultSchema },
    200: {
      description:
        'The household already had an open case; the referral joined it (`duplicate`: it already held this referral, nothing changed)',
      schema: ReferralResultSchema,
    },
  },
  problems: [400, 403, 409, 422, 503],
});
registerPath({
  method: 'get',
  path: '/v1/cases/:id',
  summary:
    'A case: stage, open tasks and timeline (union and coordinators in region; another agency only its own part, while it has open work on the case)',
  tags: ['cases'],
  params: IdParamsSchema,
  responses: { 200: { description: 'The case', schema: CaseDetailSchema } },
  problems: [404, 503],
});
registerPath({
  method: 'post',
  path: '/v1/cases/:id/actions',
  summary: 'Act on a case (objection, appeal, withdrawal, aid payment, exit proposal, hold, ...)',
  description:
    "Roles are checked by the case workflow: e.g. only a coordinator holds a case; a payment's approver is never its preparer.",
  tags: ['cases'],
  params: IdParamsSchema,
  body: ActionSchema,
  idempotent: true,
  responses: { 200: { description: 'The case after the action', schema: CaseActionResultSchema } },
  problems: [400, 403, 404, 409, 422, 503],
});

/** What the workflow says an addReferral did, as the API answers it (started: 201; else 200). */
const referralAnswer = (v: ActResult) => ({
  joined: v.referral !== 'started',
  duplicate: v.referral === 'duplicate',
});

/** Supervisory task actions: a coordinator (or the owning agency's supervisor) may take them on any task. */
const SUPERVISORY = new Set(['extendDeadline', 'remind', 'escalate']);

export function caseRoutes({ db, client, config }: AppDeps): Router {
  const r = Router();

  r.post('/referrals', idempotent(), async (req, res) => {
    const body = parse(ReferralRequestSchema, req.body, ['body']);
    const p = principalOf(req);
    // A referral opens a case in the referrer's own region subtree only.
    if (!regionWithin(body.household.regionCode, p.region))
      throw new Problem(
        403,
        'region_out_of_scope',
        `region ${body.household.regionCode} is outside your region ${p.region}`,
      );
    const key = householdKey(body.household.idNumber, config.HOUSEHOLD_KEY_SECRET);
    const policy = policies[currentPolicyVersion]!;
    const workflowId = caseWorkflowId(key);
    const startOp = new WithStartWorkflowOperation(householdCase, {
      workflowId,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [
        {
          start: {
            household: body.household,
            householdKey: key,
            referral: body.referral,
            policy,
            calendar: cnMainlandCalendar,
          },
        },
      ],
    });
    const updateId = updateIdFor(req, 'referral');
    let view;
    try {
      // The case is known only once the Update answers (it may start one): the attempt goes to the
      // household's chain, the outcome names the case, whose own chain gets the referral.
      view = await auditedChange(
        db,
        {
          caseId: null,
          principal: p,
          action: 'referral.add',
          target: workflowId,
          requestId: req.requestId,
          workflowId,
          household: { key },
          recordedAs: eventsRecordedBy.addReferral,
          updateId,
          data: {
            source: body.referral.source,
            referrer: body.referral.referrer,
            externalRef: body.referral.externalRef ?? null,
          },
        },
        () =>
          client.workflow.executeUpdateWithStart(act, {
            args: [{ actor: actorOf(p), command: { action: 'addReferral', referral: body.referral } }],
            startWorkflowOperation: startOp,
            updateId,
          }),
        { caseRecord: (v) => ({ caseId: v.caseId, data: referralAnswer(v) }) },
      );
    } catch (err) {
      throw problemFromFailure(err) ?? err;
    }
    const { joined, duplicate } = referralAnswer(view);
    res
      .status(joined ? 200 : 201)
      .json({ caseId: view.caseId, joined, duplicate, stage: view.stage, openTasks: view.openTasks });
  });

  r.get('/cases/:id', async (req, res) => {
    const p = principalOf(req);
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const { case: c, whole } = await visibleCase(db, p, id);
    // Another agency's part of the case: its own tasks (open or done), its referrals' workflows, and
    // what its own people did.
    const ownPart = async () => {
      const own = await db.caseTask.findMany({
        where: { caseId: c.id, agency: p.agency },
        select: { id: true },
      });
      const referrals = caseReferrals(c.summary).filter((x) => x.agency === p.agency);
      return {
        OR: [
          { agency: p.agency },
          { taskId: { in: own.map((t) => t.id) } },
          { workflowId: { in: referrals.map((x) => x.id) } },
        ],
      };
    };
    const [tasks, events] = await Promise.all([
      db.caseTask.findMany({
        where: {
          caseId: c.id,
          status: { in: ACTIVE_TASK_STATUSES },
          ...(whole ? {} : { agency: p.agency }),
        },
        orderBy: [{ dueAt: 'asc' }, { id: 'asc' }],
      }),
      db.caseEvent.findMany({
        where: { caseId: c.id, ...(whole ? {} : await ownPart()) },
        orderBy: [{ at: 'asc' }, { workflowId: 'asc' }, { seq: 'asc' }],
      }),
    ]);
    const causes = whole ? c.causes : undefined;
    // Audited before the data leaves: if the trail cannot be written, nothing is released (503).
    if (causes?.length)
      await auditOrRefuse(db, {
        caseId: c.id,
        principal: p,
        action: 'case.read_sensitive',
        target: c.id,
        requestId: req.requestId,
        data: { fields: ['causes'] },
      });
    res.json({
      id: c.id,
      stage: c.stage,
      tier: c.tier,
      ...(causes ? { causes } : {}),
      regionCode: c.regionCode,
      headName: c.headName,
      idNumberMasked: c.idNumberMasked,
      fileNumber: c.fileNumber,
      openedAt: c.openedAt.toISOString(),
      filedAt: c.filedAt?.toISOString() ?? null,
      endedAt: c.endedAt?.toISOString() ?? null,
      onHold: c.onHold,
      policyVersion: c.policyVersion,
      openTasks: tasks.map((t) => taskSummary(t)),
      timeline: events.map((e) => ({
        at: e.at.toISOString(),
        type: e.type,
        actor: e.actor,
        agency: e.agency,
        taskId: e.taskId,
      })),
    });
  });

  r.post('/cases/:id/actions', idempotent(), async (req, res) => {
    const p = principalOf(req);
    const { id } = parse(IdParamsSchema, req.params, ['params']);
    const { case: c, whole } = await visibleCase(db, p, id);
    const command = parse(ActionSchema, req.body, ['body']);
    if (command.action === 'addReferral')
      throw new Problem(400, 'invalid_input', 'referrals are made with POST /v1/referrals', [
        { path: 'body.action', message: 'use POST /v1/referrals', code: 'invalid_value' },
      ]);
    // A task named by the action must be one this principal sees (own agency), except the
    // supervisory actions a coordinator may take on any agency's task.
    if (
      'taskId' in command &&
      command.taskId &&
      !(SUPERVISORY.has(command.action) && p.roles.includes('coordinator'))
    ) {
      const t = await db.caseTask.findUnique({ where: { id: command.taskId } });
      if (!t || t.caseId !== c.id || !canSeeTask(p, t))
        throw new Problem(404, 'task_not_found', `no task ${command.taskId} of yours on this case`);
      // Reassign is not supervisory, so its task is always the one just read.
      if (command.action === 'reassign') await assertAssignable(db, t, command.assignee, 'body.assignee');
    }
    const updateId = updateIdFor(req, `case:${c.id}`);
    let view;
    try {
      view = await auditedChange(
        db,
        {
          caseId: c.id,
          principal: p,
          action: `case.${command.action}`,
          target: 'taskId' in command ? (command.taskId ?? c.id) : c.id,
          requestId: req.requestId,
          workflowId: c.workflowId,
          updateId,
          recordedAs: eventsRecordedBy[command.action],
          data: command as unknown as Record<string, unknown>,
        },
        () =>
          // The workflow ID is the household's: naming the case keeps an ended case's actions off its successor.
          client.workflow.getHandle(c.workflowId).executeUpdate(act, {
            args: [{ actor: actorOf(p), command, caseId: c.id }],
            updateId,
          }),
        { outcome: (v) => ({ stage: v.stage }) },
      );
    } catch (err) {
      throw problemFromFailure(err) ?? err;
    }
    res.json({
      caseId: view.caseId,
      stage: view.stage,
      tier: view.tier,
      fileNumber: view.fileNumber,
      onHold: view.onHold,
      openTasks: tasksSeenOnCase(p, whole, view.openTasks),
    });
  });

  return r;
}
