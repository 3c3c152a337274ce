import { parseArgs } from 'node:util';
import { instanceIdOf, startAdapter } from '../../adapter/main.ts';
import { startRevocations } from '../../adapter/revocation/index.ts';
import { RevocationStore } from '../../adapter/revocation/store.ts';
import { createBus } from '../../bus/index.ts';
import { type Config, loadConfig } from '../../common/config.ts';
import { createLogger, rootLogger } from '../../common/log.ts';

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
  const bus = createBus(config);
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
            const { InternalDataClient } = await import('../../adapter/controlplane/apim/client.ts');
            const a = config.apim;
            return new InternalDataClient({
              url: a.url,
              username: a.username,
              password: a.password,
              tenant: a.tenant,
              timeoutMs: a.requestTimeoutMs,
              caFile: a.caFile,
              certFile: a.certFile,
              keyFile: a.keyFile,
            }).fetchRevoked();
          },
        }
      : {}),
    ...(sqs ? { sqs } : {}),
  });
  const adapter = await startAdapter(config, { revocations });
  return {
    async stop() {
      await adapter.stop();
      await revocationFeed.stop();
      await bus.close();
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
