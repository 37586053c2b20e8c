import type { Request, RequestHandler } from 'express';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { canonicalJson } from '../audit';
import { Problem } from '../errors';
import { sha256 } from '../hash';
import { log } from '../log';

/**
 * `Idempotency-Key` for POST routes (IETF draft semantics), per principal:
 *  - first request: recorded as in flight, run, its response (status + body) stored;
 *  - same key, same request: the stored response again (`Idempotent-Replayed: true`);
 *  - same key, another request: 422; same key while the first is still running: 409.
 * 5xx responses are not stored, so a client may retry after a server failure (the workflow Update's
 * `updateId`, derived from the same key, keeps such a retry from applying twice). Records older than
 * the TTL are purged a batch at a time by the writes that make new ones.
 */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** An in-flight record this old belongs to a process that died mid-request: a retry takes it over. */
const ABANDONED_MS = 2 * 60_000;
const KEY = /^[\x21-\x7e]{1,255}$/;

export function principalKey(req: Request): string {
  const p = req.principal!;
  return `${p.kind}:${p.sub}`;
}

/** The key of this request (validated by `idempotent()`), or undefined. */
export function idempotencyKey(req: Request): string | undefined {
  return req.header('idempotency-key') ?? undefined;
}

/** A stable Temporal Update ID for this request: a retry with the same key reuses it. */
export function updateIdFor(req: Request, scope: string): string | undefined {
  const key = idempotencyKey(req);
  if (!key) return undefined;
  return `idem-${sha256(`${principalKey(req)}\n${scope}\n${key}`).slice(0, 40)}`;
}

/** Records purged per write, oldest first: bounded work, and it keeps up (keys expire as fast as made). */
const PURGE_BATCH = 100;

/**
 * Deletes up to `PURGE_BATCH` records past their TTL, oldest first, in one statement; returns how
 * many. Rows another purge is deleting are skipped, not waited for.
 */
async function purgeExpiredIdempotencyRecords(db: Db, now = Date.now()): Promise<number> {
  // "createdAt" is TIMESTAMP(3) without time zone, holding UTC.
  const before = new Date(now - IDEMPOTENCY_TTL_MS).toISOString();
  return db.$executeRaw`
    DELETE FROM "IdempotencyRecord" WHERE ("principal", "key") IN (
      SELECT "principal", "key" FROM "IdempotencyRecord"
       WHERE "createdAt" < ${before}::timestamp(3)
       ORDER BY "createdAt" LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED)`;
}

/** After a write that made a new record, off the request's path: a failure is only logged. */
function purgeSoon(db: Db): void {
  purgeExpiredIdempotencyRecords(db).catch((err: unknown) =>
    log('warn', 'idempotency purge failed', { err: err instanceof Error ? err.message : String(err) }),
  );
}

export function idempotent(opts: { db?: Db } = {}): RequestHandler {
  return async (req, res, next) => {
    const key = idempotencyKey(req);
    if (key === undefined) return next();
    if (!KEY.test(key))
      return next(
        new Problem(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1–255 visible ASCII characters'),
      );
    const db: Db = opts.db ?? (req.app.locals.deps as { db: Db }).db;
    const principal = principalKey(req);
    const requestHash = sha256(
      `${req.method} ${req.originalUrl.split('?')[0]}\n${canonicalJson(req.body ?? null)}`,
    );
    const id = { principal_key: { principal, key } };

    const create = () =>
      db.idempotencyRecord.createMany({
        data: [{ principal, key, requestHash, method: req.method, path: req.originalUrl }],
        skipDuplicates: true,
      });
    let created = await create();
    let rec = created.count ? null : await db.idempotencyRecord.findUnique({ where: id });
    // Purged (expired) between the two statements: this request makes the key anew.
    if (!created.count && !rec) created = await create();
    if (created.count) purgeSoon(db);
    else {
      rec ??= await db.idempotencyRecord.findUnique({ where: id });
      const age = rec ? Date.now() - rec.createdAt.getTime() : 0;
      const expired = !rec || age > IDEMPOTENCY_TTL_MS || (rec.status === null && age > ABANDONED_MS);
      if (rec && !expired) {
        if (rec.status === null)
          throw new Problem(
            409,
            'request_in_flight',
            'a request with this Idempotency-Key is still being processed',
          );
        if (rec.requestHash !== requestHash)
          throw new Problem(
            422,
            'idempotency_key_reused',
            'this Idempotency-Key was used for a different request',
          );
        res.setHeader('Idempotent-Replayed', 'true');
        res.status(rec.status);
        if (rec.status >= 400) res.type('application/problem+json');
        res.json(rec.body);
        return;
      }
      // Expired or abandoned: this request takes the key over (only if nobody else did meanwhile).
      const taken = await db.idempotencyRecord.updateMany({
        where: { principal, key, createdAt: rec?.createdAt },
        data: {
          requestHash,
          method: req.method,
          path: req.originalUrl,
          status: null,
          body: Prisma.DbNull,
          createdAt: new Date(),
          completedAt: null,
        },
      });
      if (taken.count === 0)
        throw new Problem(
          409,
          'request_in_flight',
          'a request with this Idempotency-Key is still being processed',
        );
    }

    // Store the response before it is sent, so a client's immediate retry already finds it; after a
    // server error free the key instead.
    const send = res.json.bind(res);
    res.json = (body: unknown) => {
      const status = res.statusCode;
      const stored =
        status >= 500 || status === 429
          ? db.idempotencyRecord.delete({ where: id })
          : db.idempotencyRecord.update({
              where: id,
              data: {
                status,
                body: (body ?? Prisma.JsonNull) as Prisma.InputJsonValue,
                completedAt: new Date(),
              },
            });
      // If storing fails the record stays in flight and expires as abandoned; the client still gets
      // its answer.
      stored.catch(() => undefined).finally(() => send(body));
      return res;
    };
    next();
  };
}
