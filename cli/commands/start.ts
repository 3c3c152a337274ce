import { type Config, loadConfig } from '../../common/config/index.ts';
import { createLogger, logFormat, rootLogger } from '../../common/log.ts';
import { type RunningPipeline, startPipeline } from '../../pipeline/main.ts';
import { startBanner } from '../banner.ts';
import { type Parsed, parseCommand } from '../parse.ts';
import { runUntilSignal } from '../signals.ts';
import { version } from '../version.ts';

export const description =
  'Run the pipeline on this machine: the ext_authz adapter (gRPC + admin HTTP) on the configured control plane.';
export const usage = 'mesh-apim start [--config <file>]';

type Values = { config: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values } = parsed ?? parseCommand<Values>('start', argv);
  const config = loadConfig({ file: values.config });
  rootLogger.level = config.logLevel;
  const log = createLogger('start');
  log.info({ version: version(), node: process.version, pid: process.pid }, 'mesh-apim starting');
  return runUntilSignal(
    () => startPipeline(config),
    log,
    (running) => announce(config, running, values.config, log),
  );
}

/** The start banner: text for a person at a terminal, one `ready` record for log collectors. */
function announce(
  config: Config,
  running: RunningPipeline,
  configFile: string | undefined,
  log: ReturnType<typeof createLogger>,
) {
  const text = startBanner({
    version: version(),
    controlPlane: config.adapter.controlPlane,
    grpcAddress: config.adapter.grpcAddress,
    grpcPort: running.adapter.grpcPort,
    adminAddress: config.adapter.adminAddress,
    adminPort: running.adapter.adminPort,
    dataDir: config.dataDir,
    configFile,
    snapshot: running.adapter.store.current(),
  });
  if (logFormat() === 'pretty') process.stderr.write(`\n${text}\n`);
  else log.info({ banner: text.trimEnd().split('\n') }, 'ready');
}
