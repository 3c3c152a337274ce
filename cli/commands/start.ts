import { parseArgs } from 'node:util';
import { startAdapter } from '../../adapter/main.ts';
import { type Config, loadConfig } from '../../common/config.ts';
import { createLogger } from '../../common/log.ts';

export const description =
  'Run the pipeline on this machine: the ext_authz adapter (gRPC + admin HTTP) on the configured control plane.';
export const usage = 'mesh-apim start [--config <file>]';

export interface Running {
  stop(): Promise<void>;
}

/**
 * Everything `start` runs, composed in one place. The event emitter and the local function
 * runner join here (start them before/after the adapter, stop them in reverse order).
 */
export async function startAll(config: Config): Promise<Running> {
  const adapter = await startAdapter(config);
  return {
    async stop() {
      await adapter.stop();
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  const config = loadConfig({ file: values.config });
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
