import { parseArgs } from 'node:util';
import { type AdapterHandle, startAdapter } from '../../adapter/main.ts';
import type { Bus } from '../../bus/types.ts';
import { type Config, loadConfig } from '../../common/config.ts';
import { createLogger, rootLogger } from '../../common/log.ts';

export const description =
  'Run the pipeline on this machine: the ext_authz adapter (gRPC + admin HTTP) on the configured control plane.';
export const usage = 'mesh-apim start [--config <file>]';

export interface Running {
  adapter: AdapterHandle;
  stop(): Promise<void>;
}

/**
 * Everything `start` runs, composed in one place. The event emitter and the local function
 * runner join here (start them before/after the adapter, stop them in reverse order).
 */
export async function startAll(config: Config, parts: { bus?: Bus } = {}): Promise<Running> {
  // The bus (createBus(config) from bus/index.ts) is connected by the integrator; with one, the
  // adapter emits request events to it.
  const adapter = await startAdapter(config, parts.bus ? { bus: parts.bus } : {});
  return {
    adapter,
    async stop() {
      await adapter.stop();
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  const config = loadConfig({ file: values.config });
  rootLogger.level = config.logLevel;
  const log = createLogger('start');
  const running = await startAll(config);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'stopping');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await running.stop();
  return 0;
}
