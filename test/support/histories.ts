import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const { History } = temporal.api.history.v1;

/** Recorded workflow histories replayed in CI: a code change that breaks running cases fails the suite. */
export const HISTORIES_DIR = path.resolve(__dirname, '../histories');

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);

export async function recordHistories(
  client: Client,
  testName: string,
  workflowIds: string[],
): Promise<void> {
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  for (const workflowId of workflowIds) {
    // Every run of the workflow (continue-as-new makes several): replay each.
    let runId: string | undefined;
    let n = 0;
    const seen = new Set<string>();
    for (;;) {
      const handle = client.workflow.getHandle(workflowId, runId);
      const desc = await handle.describe();
      if (seen.has(desc.runId)) break;
      seen.add(desc.runId);
      const history = await handle.fetchHistory();
      const type = desc.type;
      // Protobuf's binary encoding: exact, and what `temporal workflow show --output json` can re-read.
      // The replayer needs the real workflow ID (it defaults to "fake"): it is part of the name.
      // Encoded, so that IDs with ':' make portable file names.
      const file = path.join(
        HISTORIES_DIR,
        `${slug(testName)}__${type}__${encodeURIComponent(workflowId)}__run${n}.binpb`,
      );
      fs.writeFileSync(file, History.encode(History.fromObject(history)).finish());
      // Walk back to the previous run of a continued-as-new chain.
      const first = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      const prev = first?.continuedExecutionRunId;
      if (!prev) break;
      runId = prev;
      n++;
    }
  }
}

export function loadHistories(): Array<{
  workflowId: string;
  history: temporal.api.history.v1.IHistory;
  file: string;
}> {
  if (!fs.existsSync(HISTORIES_DIR)) return [];
  return fs
    .readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.binpb'))
    .sort()
    .map((file) => ({
      file,
      workflowId: decodeURIComponent(file.split('__')[2]!),
      history: History.decode(fs.readFileSync(path.join(HISTORIES_DIR, file))),
    }));
}
