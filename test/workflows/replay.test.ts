import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { loadHistories } from '../support/histories';
import { quietLogger, quietTemporalRuntime } from '../support/quietRuntime';

/**
 * Replays every committed history (recorded from the journey tests) against today's workflow code.
 * A change that would break a running case — a new command, a reordered timer — fails here; such a
 * change needs `patched()` or a new workflow type (see docs/VERSIONING.md).
 */
quietTemporalRuntime();
const histories = loadHistories();

test('the replay corpus is present', () => {
  expect(histories.length).toBeGreaterThanOrEqual(20);
});

test('every recorded history replays deterministically on the current code', async () => {
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: quietLogger,
  });
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories(
    { workflowBundle, replayName: 'journey-corpus' },
    histories,
  )) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
  process.stdout.write(`replayed ${histories.length} workflow histories\n`);
});
