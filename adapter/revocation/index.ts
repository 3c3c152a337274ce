/**
 * Adapter side of revocation, composed: load the already-revoked set, then follow new revocations
 * (own SQS queue, or the bus in standalone mode). `startRevocations` resolves only when the initial
 * set is loaded and the transport is listening, so the adapter reports ready after it. The adapter's
 * start (adapter/main.ts) runs it through startRevocationFeed; expired entries are pruned by the
 * adapter's sweeper, the one timer that owns the store's upkeep.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { InternalDataClient } from '../../apim/internal-data-client.ts';
import type { Bus, Subscription } from '../../bus/types.ts';
import type { Config } from '../../common/config/index.ts';
import { createLogger } from '../../common/log.ts';
import type { TokenRevoked } from '../../events/token-revoked.ts';
import { resolveRevocationSqs } from '../resolved.ts';
import { revocationsFromRevokedJwt } from './apim.ts';
import { consumeRevocationsFromBus } from './local-consumer.ts';
import { loadRevocations, revocationsFile, saveRevocations } from './persist.ts';
import { RevocationQueueConsumer } from './sqs-consumer.ts';
import { RevocationStore } from './store.ts';

const log = createLogger('revocations');

export interface RevocationRuntimeOptions {
  config: Config;
  instanceId: string;
  store?: RevocationStore;
  /** Needed when revocation.transport is local. */
  bus?: Bus;
  /** Needed when revocation.transport is sqs. */
  sqs?: SQSClient;
  /** API Manager control plane: fetches GET /internal/data/v1/revokedjwt (issue-3's client). */
  fetchRevokedJwt?: () => Promise<unknown>;
  /** Called after each newly applied revocation (introspection cache eviction, metrics). */
  onRevoked?: (e: TokenRevoked) => void;
}

export interface RevocationRuntime {
  store: RevocationStore;
  queueUrl: string | null;
  /** Applies an event (dedup by id, persisted in standalone mode). */
  apply(e: TokenRevoked): boolean;
  stop(options?: { deleteQueue?: boolean }): Promise<void>;
}

export async function startRevocations(o: RevocationRuntimeOptions): Promise<RevocationRuntime> {
  const store = o.store ?? new RevocationStore();
  const standalone = o.config.adapter.controlPlane === 'standalone';
  const file = revocationsFile(o.config.dataDir);
  if (o.onRevoked) store.onRevoked(o.onRevoked);

  if (standalone) {
    if (loadRevocations(file, store))
      log.info({ entries: store.size }, 'revoked set loaded from the data directory');
  } else {
    if (!o.fetchRevokedJwt)
      throw new Error('controlPlane apim needs fetchRevokedJwt (internal data API client)');
    const events = revocationsFromRevokedJwt(await o.fetchRevokedJwt(), o.config.apim.tenant);
    for (const e of events) store.apply(e);
    log.info({ entries: events.length }, 'revoked set loaded from API Manager');
  }

  const apply = (e: TokenRevoked): boolean => {
    const fresh = store.apply(e);
    if (fresh && standalone) saveRevocations(file, store);
    return fresh;
  };

  let sub: Subscription | null = null;
  let queue: RevocationQueueConsumer | null = null;
  if (o.config.revocation.transport === 'local') {
    if (!o.bus) throw new Error('revocation.transport local needs the bus');
    sub = await consumeRevocationsFromBus(o.bus, {
      instanceId: o.instanceId,
      topicPrefix: o.config.bus.topicPrefix,
      apply,
    });
  } else {
    if (!o.sqs) throw new Error('revocation.transport sqs needs an SQS client');
    queue = new RevocationQueueConsumer(o.sqs, {
      queuePrefix: o.config.revocation.queuePrefix,
      instanceId: o.instanceId,
      ...(o.config.revocation.queueUrl ? { queueUrl: o.config.revocation.queueUrl } : {}),
      heartbeatIntervalMs: o.config.revocation.heartbeatIntervalMs,
      apply,
    });
    await queue.start();
  }

  return {
    store,
    queueUrl: queue?.queueUrl ?? null,
    apply,
    async stop(options = {}) {
      await sub?.stop();
      await queue?.stop(options.deleteQueue ?? true);
    },
  };
}

/**
 * The feed as the adapter runs it, from the settings: the SQS client when revocation.transport is sqs
 * (the SDK loaded only then), and the revokedjwt pull over the adapter's own internal data client
 * when the control plane is API Manager.
 */
export async function startRevocationFeed(
  config: Config,
  o: { instanceId: string; store: RevocationStore; bus?: Bus; internalData: InternalDataClient | null },
): Promise<RevocationRuntime> {
  const sqs =
    config.revocation.transport === 'sqs'
      ? new (await import('@aws-sdk/client-sqs')).SQSClient(resolveRevocationSqs(config))
      : undefined;
  const internalData = o.internalData;
  return startRevocations({
    config,
    instanceId: o.instanceId,
    store: o.store,
    ...(o.bus ? { bus: o.bus } : {}),
    ...(internalData ? { fetchRevokedJwt: () => internalData.fetchRevoked() } : {}),
    ...(sqs ? { sqs } : {}),
  });
}
