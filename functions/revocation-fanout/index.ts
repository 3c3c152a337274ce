/**
 * revocation-fanout: token-revoked -> every live adapter's SQS queue (`<prefix>-<instance id>`),
 * then an occasional sweep deleting queues whose adapter stopped heartbeating.
 * Trigger: mesh-apim.token-revoked.v1 (MSK or self-managed Kafka).
 *
 * At-least-once contract: a redelivered batch is harmless — events already fanned out by this warm
 * instance are skipped by event id, and adapters drop any duplicate that still arrives by event id.
 * An unreachable SQS fails the batch (retriable) so it is delivered again; nothing is dropped.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../../common/config/index.ts';
import { errorMessage } from '../../common/errors.ts';
import type { TokenRevoked } from '../../events/token-revoked.ts';
import { TOPICS } from '../../events/topics.ts';
import { defineFunction, type FunctionDeps, type FunctionInstance, instantiate } from '../lib/define.ts';
import { type FanoutOptions, RevocationFanout } from './fanout.ts';

export const name = 'revocation-fanout';

export function sqsClientFromConfig(config: Config): SQSClient {
  const r = config.revocation;
  return new SQSClient({ region: r.sqsRegion, ...(r.sqsEndpoint ? { endpoint: r.sqsEndpoint } : {}) });
}

export function fanoutFromConfig(
  config: Config,
  sqs: SQSClient,
  overrides: Partial<FanoutOptions> = {},
): RevocationFanout {
  const r = config.revocation;
  return new RevocationFanout(sqs, {
    queuePrefix: r.queuePrefix,
    listCacheMs: r.queueListCacheMs,
    staleGraceMs: r.staleQueueGraceMs,
    staleCheckIntervalMs: r.staleCheckIntervalMs,
    ...overrides,
  });
}

export interface RevocationFanoutOptions {
  /** The SQS client (default: the configured one, destroyed on close). */
  sqs?: (deps: FunctionDeps) => SQSClient;
  overrides?: Partial<FanoutOptions>;
  /**
   * Local runner: with revocation.transport local (standalone default) adapters consume token-revoked
   * from the bus themselves, so the function acknowledges without SQS.
   */
  skipWhenTransportLocal?: boolean;
}

const revocationFanout = defineFunction<TokenRevoked, RevocationFanoutOptions>({
  name,
  description: 'token-revoked -> every adapter SQS queue (<prefix>-<instance id>); stale queues deleted',
  topics: [TOPICS.tokenRevoked],
  idempotency: 'deduplicated by event id here (warm instance) and in every adapter',
  localOptions: () => ({ skipWhenTransportLocal: true }),
  create(deps, options = {}) {
    if (options.skipWhenTransportLocal && deps.config.revocation.transport === 'local') {
      return {
        async process(records) {
          return records.map(() => ({ status: 'skipped' as const, reason: 'revocation.transport is local' }));
        },
      };
    }
    const sqs = options.sqs ? options.sqs(deps) : sqsClientFromConfig(deps.config);
    const fanout = fanoutFromConfig(deps.config, sqs, options.overrides);
    return {
      async process(records, ctx) {
        try {
          const report = await fanout.fanOut(records.map((r) => r.event));
          ctx.logger.info(report, 'revocations fanned out');
        } catch (error) {
          return records.map(() => ({ status: 'failed' as const, error }));
        }
        try {
          const deleted = await fanout.sweepStaleQueues();
          if (deleted.length > 0) ctx.logger.info({ deleted }, 'stale adapter queues deleted');
        } catch (err) {
          // The revocations are delivered; a failed sweep is retried on a later invocation.
          ctx.logger.warn({ err: errorMessage(err) }, 'stale-queue sweep failed');
        }
        return records.map(() => ({ status: 'ok' as const }));
      },
      close: async () => {
        // A client passed in belongs to the caller.
        if (!options.sqs) sqs.destroy();
      },
    };
  },
});
export default revocationFanout;

/** An instance over the given deps (tests); the SQS client defaults to the configured one. */
export function create(deps: FunctionDeps, options: RevocationFanoutOptions = {}): FunctionInstance {
  return instantiate(revocationFanout, deps, options);
}
