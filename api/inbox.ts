import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import { and, inRegion } from './monitor/sql';
import type { TaskRow } from './routes/shared';

/**
 * An agency's inbox as SQL: one page in ("dueAt", "id") order after a keyset cursor, and the total.
 * The cursor is a row comparison, `("dueAt", "id") > ($1, $2)`, which seeks in the index
 * (agency, status, dueAt, id) instead of scanning every row before the page, as
 * `dueAt > x OR (dueAt = x AND id > y)` does; the region-prefix filter is a LIKE the
 * text_pattern_ops index on (agency, status, regionCode) serves under any collation.
 */
export interface InboxFilter {
  agency: string;
  status: string;
  /** The region subtree: the region itself or anything below it. */
  region: string;
  type?: string;
  caseId?: string;
  /** A user ID, or null for unclaimed tasks; undefined for any. */
  assignee?: string | null;
  dueBefore?: Date;
  /** true: past due and still open; false: not yet due (relative to `now`). */
  overdue?: boolean;
  now: Date;
}

export interface InboxCursor {
  dueAt: Date;
  id: string;
}

/** "dueAt" is TIMESTAMP(3) without time zone, holding UTC: compare with a timestamp of the same type. */
const ts = (d: Date) => Prisma.sql`${d.toISOString()}::timestamp(3)`;

function conditions(f: InboxFilter): Prisma.Sql {
  const w = [
    Prisma.sql`"agency" = ${f.agency}`,
    Prisma.sql`"status" = ${f.status}`,
    inRegion(Prisma.sql`"regionCode"`, f.region),
  ];
  if (f.type) w.push(Prisma.sql`"type" = ${f.type}`);
  if (f.caseId) w.push(Prisma.sql`"caseId" = ${f.caseId}`);
  if (f.assignee === null) w.push(Prisma.sql`"assignee" IS NULL`);
  else if (f.assignee !== undefined) w.push(Prisma.sql`"assignee" = ${f.assignee}`);
  if (f.dueBefore) w.push(Prisma.sql`"dueAt" < ${ts(f.dueBefore)}`);
  if (f.overdue === true) w.push(Prisma.sql`"status" = 'open' AND "dueAt" < ${ts(f.now)}`);
  if (f.overdue === false) w.push(Prisma.sql`"dueAt" >= ${ts(f.now)}`);
  return and(w);
}

const COLUMNS = Prisma.sql`"id", "caseId", "workflowId", "type", "agency", "regionCode", "status", "assignee",
  "createdAt", "dueAt", "escalatedAt", "completedAt", "context"`;

export function inboxPageSql(f: InboxFilter, after: InboxCursor | undefined, take: number): Prisma.Sql {
  const seek = after ? Prisma.sql`AND ("dueAt", "id") > (${ts(after.dueAt)}, ${after.id})` : Prisma.empty;
  return Prisma.sql`SELECT ${COLUMNS} FROM "CaseTask" WHERE ${conditions(f)} ${seek}
    ORDER BY "dueAt", "id" LIMIT ${take}`;
}

export function inboxCountSql(f: InboxFilter): Prisma.Sql {
  return Prisma.sql`SELECT count(*)::int AS "n" FROM "CaseTask" WHERE ${conditions(f)}`;
}

export async function inboxPage(
  db: Db,
  f: InboxFilter,
  after: InboxCursor | undefined,
  take: number,
): Promise<{ rows: TaskRow[]; total: number }> {
  const [rows, [count]] = await Promise.all([
    db.$queryRaw<TaskRow[]>(inboxPageSql(f, after, take)),
    db.$queryRaw<Array<{ n: number }>>(inboxCountSql(f)),
  ]);
  return { rows, total: count?.n ?? 0 };
}
