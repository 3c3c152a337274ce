import { internalDataClientFor } from '../../adapter/controlplane/apim/client.ts';
import { revocationsFromRevokedJwt } from '../../adapter/revocation/apim.ts';
import { AmqpBridge } from '../../bridge/amqp.ts';
import { createReceiver, listen } from '../../bridge/http-receiver.ts';
import { EventPublisher } from '../../bridge/publish.ts';
import { createBus } from '../../bus/index.ts';
import { startProgramAdmin } from '../../common/admin-http.ts';
import { type Config, loadConfig } from '../../common/config.ts';
import { createLogger } from '../../common/log.ts';
import { type Parsed, parseCommand } from '../parse.ts';

export const description =
  "Bridge WSO2 API Manager's event hub (AMQP: token revocations, change notifications) and its revocation notifier (HTTP) to the event stream.";
export const usage = 'mesh-apim bridge [--config <file>]';

/** TOKEN_REVOCATION_BATCH_EVENT: re-pull API Manager's revoked set as its gateways do. */
function repullRevoked(config: Config) {
  const client = internalDataClientFor(config.apim);
  return async () => revocationsFromRevokedJwt(await client.fetchRevoked(), config.apim.tenant);
}

type Values = { config: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values } = parsed ?? parseCommand<Values>('bridge', argv);
  const config = loadConfig({ file: values.config });
  const log = createLogger('bridge');
  const b = config.bridge;
  if (!b.amqpUrl && !b.httpAddress) {
    process.stderr.write('mesh-apim bridge: set bridge.amqpUrl and/or bridge.httpAddress\n');
    return 2;
  }
  const bus = createBus(config);
  const publisher = new EventPublisher(bus, config.bus.topicPrefix);
  const amqp = b.amqpUrl
    ? new AmqpBridge(publisher, {
        url: b.amqpUrl,
        exchange: b.exchange,
        queueName: b.queueName,
        reconnectMaxMs: b.reconnectMaxMs,
        tenantDomain: b.tenantDomain,
        now: Date.now,
        ...(config.apim.url ? { repullRevoked: repullRevoked(config) } : {}),
      })
    : null;
  amqp?.start();
  let http: ReturnType<typeof createReceiver> | null = null;
  if (b.httpAddress) {
    const i = b.httpAddress.lastIndexOf(':');
    http = createReceiver(publisher, {
      basePath: b.httpBasePath,
      username: b.httpUsername,
      password: b.httpPassword,
      tenantDomain: b.tenantDomain,
    });
    const addr = await listen(http, b.httpAddress.slice(0, i), Number(b.httpAddress.slice(i + 1)));
    log.info({ port: addr.port, basePath: b.httpBasePath }, 'revocation notifier receiver listening');
  }
  // Ready while the event hub consumer is attached (when AMQP is configured) and the receiver listens.
  const admin = await startProgramAdmin(b.adminAddress, 'bridge', () => ({
    ready: amqp ? amqp.consuming : true,
    ...(amqp ? { amqp: amqp.consuming } : {}),
    http: http !== null,
  }));
  if (admin) log.info({ adminPort: admin.port }, 'admin listening');
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await admin?.close();
  await amqp?.stop();
  if (http) await new Promise<void>((r) => http.close(() => r()));
  await bus.close();
  return 0;
}
