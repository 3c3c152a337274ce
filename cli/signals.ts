import type { Logger } from '../common/log.ts';

/**
 * Resolves on the first SIGINT or SIGTERM (logged). Later signals are logged and ignored while the
 * caller stops: with no handler left, a second SIGTERM (an impatient supervisor, or two sent 2 ms
 * apart) would kill the process mid-flush and lose the events of checks already answered. SIGKILL
 * remains the way to force an exit.
 */
export function untilSignal(log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      if (first) {
        log.warn(
          { signal, stopping: first },
          'already stopping; flushing events first (SIGKILL forces an exit)',
        );
        return;
      }
      first = signal;
      log.info({ signal }, 'stopping');
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** What every start function (adapter, bridge, controller, pipeline) returns. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * The life of every long-running command once its start function resolved: on the first SIGINT or
 * SIGTERM, `running.stop()`; exit code 0 when it has stopped (a failing stop rejects: exit 1 from
 * cli/main.ts). Signals during the stop are logged and ignored, as untilSignal says.
 */
export async function runUntilSignal(running: Stoppable, log: Logger): Promise<number> {
  await untilSignal(log);
  await running.stop();
  return 0;
}
