import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * Workers in tests log only warnings and errors: a failing test's report must not scroll away
 * behind hundreds of "Worker state changed" lines (CI shows the tail of the output).
 */
/** For `bundleWorkflowCode`, whose webpack report is logged at INFO. */
export const quietLogger = new DefaultLogger('WARN');

export function quietTemporalRuntime(): void {
  try {
    Runtime.install({
      logger: quietLogger,
      // Core's notice that the test server does not advertise a heartbeat capability is noise here.
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // Already installed in this test file's module registry: keep it.
  }
}
