import { Router } from 'express';
import type { AppDeps } from '../app';

async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes({ db, client }: AppDeps): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const check = async (p: () => Promise<unknown>) => {
      try {
        await within(2000, p());
        return 'ok';
      } catch (err) {
        return `unreachable: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
      }
    };
    const [temporal, database] = await Promise.all([
      check(() => client.workflowService.getSystemInfo({})),
      check(() => db.$queryRawUnsafe('SELECT 1')),
    ]);
    const ready = temporal === 'ok' && database === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', temporal, database });
  });
  return r;
}
