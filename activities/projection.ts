import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client';
import type { Prisma } from '../generated/prisma/client';
import type { JournalEvent, Task } from '../domain/journey/taskBook';

/** What a workflow hands to the database after a change: the case summary, changed tasks, new events. */
export interface CaseRow {
  id: string;
  workflowId: string;
  householdKey: string;
  regionCode: string;
  stage: string;
  tier: string | null;
  causes: string[];
  headName: string;
  idNumberMasked: string;
  fileNumber: string | null;
  openedAt: string;
  filedAt: string | null;
  endedAt: string | null;
  onHold: boolean;
  policyVersion: string;
  lastEventAt: string;
  eventSeq: number;
  facts: Record<string, unknown>;
  summary: Record<string, unknown>;
}

export interface ProjectionInput {
  caseId: string;
  workflowId: string;
  case: CaseRow | null;
  tasks: Task[];
  events: JournalEvent[];
}

const json = (v: unknown) => (v ?? {}) as Prisma.InputJsonValue;
const date = (v: string | null) => (v === null ? null : new Date(v));

export function createProjectionActivities(db: Db) {
  return {
    /**
     * Idempotent: events are keyed by (caseId, workflowId, seq) and skipped when present; the case and
     * task rows are full snapshots, upserted. The workflow serialises its flushes, so a retry never
     * lands after a newer snapshot of the same rows.
     */
    async projectCase(input: ProjectionInput): Promise<void> {
      const ops: Prisma.PrismaPromise<unknown>[] = [];
      if (input.events.length) {
        ops.push(
          db.caseEvent.createMany({
            skipDuplicates: true,
            data: input.events.map((e) => ({
              workflowId: input.workflowId,
              seq: e.seq,
              caseId: input.caseId,
              type: e.type,
              at: new Date(e.at),
              actor: e.actor,
              agency: e.agency,
              taskId: e.taskId,
              data: json(e.data),
            })),
          }),
        );
      }
      if (input.case) {
        const c = input.case;
        const row = {
          ...c,
          openedAt: new Date(c.openedAt),
          filedAt: date(c.filedAt),
          endedAt: date(c.endedAt),
          lastEventAt: new Date(c.lastEventAt),
          facts: json(c.facts),
          summary: json(c.summary),
        };
        ops.push(db.householdCase.upsert({ where: { id: c.id }, create: row, update: row }));
      }
      for (const t of input.tasks) {
        const row = {
          id: t.id,
          caseId: input.caseId,
          workflowId: t.workflowId,
          type: t.type,
          agency: t.agency,
          regionCode: t.regionCode,
          status: t.status,
          assignee: t.assignee,
          createdAt: new Date(t.createdAt),
          dueAt: new Date(t.dueAt),
          remindedAt: date(t.remindedAt),
          escalatedAt: date(t.escalatedAt),
          escalatedTo: t.escalatedTo ? json(t.escalatedTo) : undefined,
          context: json(t.context),
          completedAt: date(t.completedAt),
          completedBy: t.completedBy,
          result: t.result === null ? undefined : json(t.result),
        };
        ops.push(db.caseTask.upsert({ where: { id: t.id }, create: row, update: row }));
      }
      if (ops.length) await db.$transaction(ops);
    },

    /**
     * Pays union aid once: the payment ID is the primary key; a retry finds it and pays nothing. A
     * payment ID already paid to another case (cases started before case-scoped IDs numbered their
     * payments per household) is refused for good: that money was not paid for this case.
     */
    async disburseAid(input: {
      paymentId: string;
      caseId: string;
      measure: string;
      amountCents: number;
      year: number;
      approvedBy: string;
    }): Promise<{ paidAt: string; firstTime: boolean }> {
      const created = await db.aidDisbursement.createMany({ data: [input], skipDuplicates: true });
      const row = await db.aidDisbursement.findUniqueOrThrow({ where: { paymentId: input.paymentId } });
      if (row.caseId !== input.caseId)
        throw ApplicationFailure.create({
          type: 'payment_id_taken',
          message: `payment ${input.paymentId} was already paid to another case of this household`,
          nonRetryable: true,
        });
      return { paidAt: row.paidAt.toISOString(), firstTime: created.count === 1 };
    },

    /** Union aid paid to a household in its other cases, per year: the annual cap is per household. */
    async householdAidPaid(input: {
      householdKey: string;
      exceptCaseId: string;
    }): Promise<Record<string, number>> {
      const cases = await db.householdCase.findMany({
        where: { householdKey: input.householdKey, id: { not: input.exceptCaseId } },
        select: { id: true },
      });
      if (!cases.length) return {};
      const sums = await db.aidDisbursement.groupBy({
        by: ['year'],
        where: { caseId: { in: cases.map((c) => c.id) } },
        _sum: { amountCents: true },
      });
      return Object.fromEntries(sums.map((x) => [String(x.year), x._sum.amountCents ?? 0]));
    },
  };
}
