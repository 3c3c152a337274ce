/**
 * Composition root of the bridge: the bus (its own from the settings unless given), the publisher
 * of token-revoked / control-plane-changed events, the consumer of WSO2 API Manager's event hub
 * (AMQP, bridge.amqpUrl), the revocation notifier receiver (HTTP, bridge.httpAddress) and the admin
 * HTTP server (bridge.adminAddress). `mesh-apim bridge` calls startBridge().
 */
import type { Server } from 'node:http';
import { revocationsFromRevokedJwt } from '../adapter/revocation/apim.ts';
import { internalDataClientFor } from '../apim/internal-data-client.ts';
import { createBus } from '../bus/index.ts';
import type { Bus } from '../bus/types.ts';
import { type AdminServer, startProgramAdmin } from '../common/admin-http.ts';
import type { Config } from '../common/config/index.ts';
import { createLogger, type Logger } from '../common/log.ts';
import { AmqpBridge } from './amqp.ts';
import { createReceiver, listen } from './http-receiver.ts';
import { EventPublisher } from './publish.ts';

export interface BridgeDeps {
  /** The bus to publish to; default: one from the settings, closed on stop. */
  bus?: Bus;
  logger?: Logger;
}

export interface BridgeHandle {
  amqp: AmqpBridge | null;
  /** Port of the revocation notifier receiver (null without bridge.httpAddress). */
  httpPort: number | null;
  admin: AdminServer | null;
  stop(): Promise<void>;
}

/** What keeps the bridge from starting: neither side configured (null = it can start). */
export function bridgeConfigProblem(config: Config): string | null {
  return config.bridge.amqpUrl || config.bridge.httpAddress
    ? null
    : 'set bridge.amqpUrl and/or bridge.httpAddress';
}

/** TOKEN_REVOCATION_BATCH_EVENT: re-pull API Manager's revoked set as its gateways do. */
function repullRevoked(config: Config) {
  const client = internalDataClientFor(config.apim);
  return async () => revocationsFromRevokedJwt(await client.fetchRevoked(), config.apim.tenant);
}

export async function startBridge(config: Config, deps: BridgeDeps = {}): Promise<BridgeHandle> {
  const problem = bridgeConfigProblem(config);
  if (problem) throw new Error(problem);
  const log = deps.logger ?? createLogger('bridge');
  const b = config.bridge;
  const ownBus = deps.bus ? null : createBus(config);
  const bus = deps.bus ?? ownBus!;
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
  let http: Server | null = null;
  let httpPort: number | null = null;
  let admin: AdminServer | null = null;
  const stop = async () => {
    await admin?.close();
    await amqp?.stop();
    const server = http;
    if (server) await new Promise<void>((r) => server.close(() => r()));
    await ownBus?.close();
  };
  try {
    if (b.httpAddress) {
      const i = b.httpAddress.lastIndexOf(':');
      http = createReceiver(publisher, {
        basePath: b.httpBasePath,
        username: b.httpUsername,
        password: b.httpPassword,
        tenantDomain: b.tenantDomain,
      });
      const addr = await listen(http, b.httpAddress.slice(0, i), Number(b.httpAddress.slice(i + 1)));
      httpPort = addr.port;
      log.info({ port: addr.port, basePath: b.httpBasePath }, 'revocation notifier receiver listening');
    }
    // Ready while the event hub consumer is attached (when AMQP is configured) and the receiver listens.
    admin = await startProgramAdmin(b.adminAddress, 'bridge', () => ({
      ready: amqp ? amqp.consuming : true,
      ...(amqp ? { amqp: amqp.consuming } : {}),
      http: http !== null,
    }));
  } catch (err) {
    await stop();
    throw err;
  }
  if (admin) log.info({ adminPort: admin.port }, 'admin listening');
  return { amqp, httpPort, admin, stop };
}
