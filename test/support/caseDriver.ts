import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import type { Actor } from '../../domain/agencies';
import type { WorkingDayCalendar } from '../../domain/calendar/workingDays';
import type { CaseView } from '../../domain/journey/machine';
import type { Action, Household, Referral } from '../../domain/journey/state';
import type { Policy } from '../../domain/policy';
import type { TaskType } from '../../domain/taskTypes';
import { act, caseState, completeTask, householdCase, type ActResult } from '../../workflows/householdCase';
import { completeReferralTask } from '../../workflows/agencyReferral';
import { calendar, referral as defaultReferral } from './fixtures';
import type { MemoryStore } from './memoryActivities';

/** Drives one household case the way the API does: update-with-start, then Updates per task. */
export class CaseDriver {
  caseId = '';
  /** The calendar a case started by `refer` carries. */
  calendar: WorkingDayCalendar = calendar;
  constructor(
    readonly client: Client,
    readonly taskQueue: string,
    readonly store: MemoryStore,
    readonly workflowId: string,
    readonly household: Household,
    readonly policy: Policy,
  ) {}

  async refer(actor: Actor, referral: Referral = defaultReferral): Promise<ActResult> {
    const view = await this.client.workflow.executeUpdateWithStart(act, {
      args: [{ actor, command: { action: 'addReferral', referral } }],
      startWorkflowOperation: new WithStartWorkflowOperation(householdCase, {
        workflowId: this.workflowId,
        taskQueue: this.taskQueue,
        workflowIdConflictPolicy: 'USE_EXISTING',
        args: [
          {
            start: {
              household: this.household,
              householdKey: this.workflowId,
              referral,
              policy: this.policy,
              calendar: this.calendar,
            },
          },
        ],
      }),
    });
    this.caseId = view.caseId;
    return view;
  }

  handle() {
    return this.client.workflow.getHandle(this.workflowId);
  }

  view(): Promise<CaseView> {
    return this.handle().query(caseState);
  }

  task(type: TaskType) {
    const open = this.store.openTasks(this.caseId, type);
    if (open.length !== 1) throw new Error(`expected one open ${type} task, found ${open.length}`);
    return open[0]!;
  }

  async complete(type: TaskType, form: unknown, actor: Actor): Promise<CaseView> {
    const t = this.task(type);
    const update = t.workflowId === this.workflowId ? completeTask : completeReferralTask;
    return (await this.client.workflow.getHandle(t.workflowId).executeUpdate(update as typeof completeTask, {
      args: [{ taskId: t.id, actor, completion: { type, form } as never }],
    })) as CaseView;
  }

  act(command: Action, actor: Actor): Promise<CaseView> {
    return this.handle().executeUpdate(act, { args: [{ actor, command }] });
  }
}
