/**
 * usage-metering: request-attributes -> closed hourly usage windows per (application, API,
 * subscription tier, key type, hour) on mesh-apim.usage.v1. Core: functions/usage-metering/meter.ts.
 * Trigger: mesh-apim.request-attributes.v1 (MSK or self-managed Kafka); `npm start` runs it in-process.
 *
 * At-least-once contract: a redelivered batch or a replayed range is harmless — every request is
 * counted once per retained hour by its checkId (eventId for older adapters), and usage events are
 * idempotent per (windowId, revision). A failed publish fails the batch (retried); an event whose hour
 * is no longer retained is dead-lettered, never dropped.
 *
 * State is in memory, per process (per warm Lambda container): see docs/usage-metering.md for what a
 * restart or cold start loses.
 */
import type { Config } from '../common/config.ts';
import type { RequestAttributes } from '../events/request-attributes.ts';
import { TOPICS, topicName } from '../events/topics.ts';
import {
  type FunctionDeps,
  type KafkaFunction,
  kafkaBatchHandler,
  lambdaDeps,
  type RecordOutcome,
} from './lib/index.ts';
import type { FunctionModule } from './registry.ts';
import { UsageBeyondRetentionError, UsagePublishError } from './usage-metering/errors.ts';
import { type IngestResult, type MeterOptions, UsageMeter } from './usage-metering/meter.ts';

export const name = 'usage-metering';

export function meterOptions(config: Config): MeterOptions {
  const f = config.functions;
  return {
    latenessMs: f.usageLatenessMs,
    retainClosedMs: f.usageRetainClosedMs,
    legacyDedupePerHour: f.usageLegacyDedupePerHour,
  };
}

function outcomeOf(r: IngestResult): RecordOutcome {
  if (r.kind === 'counted' || r.kind === 'bytes-added') return { status: 'ok' };
  if (r.kind === 'duplicate') return { status: 'skipped', reason: 'duplicate' };
  if (r.kind === 'not-metered') return { status: 'skipped', reason: r.reason };
  return { status: 'failed', error: new UsageBeyondRetentionError(r.hourStart, r.retainedFrom) };
}

export function definition(
  deps: FunctionDeps,
  meter = new UsageMeter(meterOptions(deps.config)),
): KafkaFunction<RequestAttributes> & { meter: UsageMeter } {
  const usageTopic = topicName(TOPICS.usage, deps.config.bus.topicPrefix);
  return {
    name,
    meter,
    topics: [TOPICS.requestAttributes],
    idempotency:
      'requests counted once per checkId/eventId per retained hour; usage events keyed by windowId+revision',
    async process(records, ctx) {
      const outcomes = records.map(({ record, event }) =>
        outcomeOf(meter.ingest(record.topic, record.partition, event)),
      );
      meter.advance();
      const pending = meter.pending(ctx.now());
      if (pending.length > 0) {
        try {
          await deps.producer.produce(
            usageTopic,
            pending.map(({ event }) => ({
              key: TOPICS.usage.key(event),
              value: JSON.stringify(event),
            })),
          );
        } catch (err) {
          // Counted events stay counted (their redelivery is a duplicate); the windows stay pending.
          const error = new UsagePublishError(err);
          return records.map(() => ({ status: 'failed' as const, error }));
        }
        meter.ack(pending);
        ctx.logger.info({ published: pending.length, ...meter.stats() }, 'usage windows published');
      }
      return outcomes;
    },
  };
}

export const module: FunctionModule = {
  name,
  description:
    'request-attributes -> closed hourly usage windows (application, API, tier, key type) -> usage topic',
  topics: [TOPICS.requestAttributes],
  create: (deps) => ({ handler: kafkaBatchHandler(definition(deps), deps), close: async () => {} }),
};

/** Lambda entry point (serverless.yml: functions/usage-metering.handler); state lives while the container is warm. */
export const handler = kafkaBatchHandler((d: FunctionDeps) => definition(d), lambdaDeps());
