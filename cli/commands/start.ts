import { type AdapterHandle, instanceIdOf, startAdapter } from '../../adapter/main.ts';
import { startRevocations } from '../../adapter/revocation/index.ts';
import { RevocationStore } from '../../adapter/revocation/store.ts';
import { createBus } from '../../bus/index.ts';
import { topicSpecs } from '../../bus/topics.ts';
import type { Bus } from '../../bus/types.ts';
import { type Config, loadConfig } from '../../common/config.ts';
import { createLogger, logFormat, rootLogger } from '../../common/log.ts';
import { startBanner } from '../banner.ts';
import { type Parsed, parseCommand } from '../parse.ts';
import { untilSignal } from '../signals.ts';
import { version } from '../version.ts';

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
  // Revocations always need the stream (standalone: the adapter consumes token-revoked from it).
  const ownBus = parts.bus ? null : createBus(config);
  const bus = parts.bus ?? ownBus!;
  // The revoked set is loaded (data directory / API Manager) before the adapter reports ready.
  const revocations = new RevocationStore();
  const sqs =
    config.revocation.transport === 'sqs'
      ? new (await import('@aws-sdk/client-sqs')).SQSClient({
          region: config.revocation.sqsRegion,
          ...(config.revocation.sqsEndpoint ? { endpoint: config.revocation.sqsEndpoint } : {}),
        })
      : undefined;
  const revocationFeed = await startRevocations({
    config,
    instanceId: instanceIdOf(config),
    store: revocations,
    bus,
    ...(config.adapter.controlPlane === 'apim'
      ? {
          fetchRevokedJwt: async () => {
            const { internalDataClientFor } = await import('../../adapter/controlplane/apim/client.ts');
            return internalDataClientFor(config.apim).fetchRevoked();
          },
        }
      : {}),
    ...(sqs ? { sqs } : {}),
  });
  // With a bus passed in (`start` always passes one), the adapter emits request events to it and the
  // local functions consume them.
  let adapter: AdapterHandle;
  try {
    adapter = await startAdapter(config, { revocations, ...(parts.bus ? { bus: parts.bus } : {}) });
  } catch (err) {
    await revocationFeed.stop();
    await ownBus?.close();
    throw err;
  }
  // The functions consume what the adapter emits; stopped after it so its last events get processed.
  // Loaded only when used: the container image leaves functions/ out (.dockerignore).
  let functions: { stop(): Promise<void> } | null = null;
  try {
    if (parts.bus && config.functions.runLocal) {
      const { startFunctions } = await import('../../functions/runner/index.ts');
      functions = await startFunctions(config, parts.bus);
    }
  } catch (err) {
    await adapter.stop();
    await revocationFeed.stop();
    await ownBus?.close();
    throw err;
  }
  return {
    adapter,
    async stop() {
      await adapter.stop();
      await functions?.stop();
      await revocationFeed.stop();
      await ownBus?.close();
    },
  };
}

type Values = { config: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values } = parsed ?? parseCommand<Values>('start', argv);
  const config = loadConfig({ file: values.config });
  rootLogger.level = config.logLevel;
  const log = createLogger('start');
  log.info({ version: version(), node: process.version, pid: process.pid }, 'mesh-apim starting');
  // The embedded log by default, Kafka when brokers are configured; topics as infra/topics.yaml says.
  const bus = createBus(config);
  await bus.ensureTopics(topicSpecs(config.bus.topicPrefix));
  let running: Running;
  try {
    running = await startAll(config, { bus });
  } catch (err) {
    await bus.close();
    throw err;
  }
  announce(config, running, values.config, log);
  await untilSignal(log);
  await running.stop();
  await bus.close();
  return 0;
}

/** The start banner: text for a person at a terminal, one `ready` record for log collectors. */
function announce(
  config: Config,
  running: Running,
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
