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
 * The life of every long-running command: listen for SIGINT/SIGTERM, start, and on the first signal
 * `running.stop()`; exit code 0 when it has stopped (a failing start or stop rejects: exit 1 from
 * cli/main.ts). The listeners go in before the start because a deployable serves before its start
 * resolves (start's adapter answers checks while the local functions still load): a signal in that
 * window would otherwise take the default action and kill the process with answered checks' events
 * unflushed. A signal during the start stops the process as soon as it has started. Signals during
 * the stop are logged and ignored, as untilSignal says.
 */
export async function runUntilSignal<T extends Stoppable>(
  start: () => Promise<T>,
  log: Logger,
  onStarted: (running: T) => void = () => {},
): Promise<number> {
  const signalled = untilSignal(log);
  const running = await start();
  onStarted(running);
  await signalled;
  await running.stop();
  return 0;
}
