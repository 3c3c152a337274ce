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
 * State: in memory, saved to <dataDir>/usage/meter-state.json after every batch by the local runner
 * (survives a restart); on Lambda per warm container only: see docs/usage-metering.md.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
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
import { UsageBeyondRetentionError, UsagePublishError, UsageStateError } from './usage-metering/errors.ts';
import { type IngestResult, type MeterOptions, type MeterState, UsageMeter } from './usage-metering/meter.ts';

export const name = 'usage-metering';

export function stateFileOf(config: Config): string {
  return join(config.dataDir, 'usage', 'meter-state.json');
}

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

/** Meter restored from the state file when there is one (a missing file = a fresh start). */
export function loadMeter(options: MeterOptions, stateFile: string | undefined): UsageMeter {
  if (!stateFile || !existsSync(stateFile)) return new UsageMeter(options);
  return UsageMeter.fromState(options, JSON.parse(readFileSync(stateFile, 'utf8')) as MeterState);
}

/** Written before the batch returns (so before its offsets are committed): write-then-rename, fsync. */
export function saveMeter(meter: UsageMeter, stateFile: string): void {
  mkdirSync(dirname(stateFile), { recursive: true });
  const tmp = `${stateFile}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(meter.toState()));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, stateFile);
}

export function definition(
  deps: FunctionDeps,
  options: { meter?: UsageMeter; stateFile?: string } = {},
): KafkaFunction<RequestAttributes> & { meter: UsageMeter } {
  const meter = options.meter ?? loadMeter(meterOptions(deps.config), options.stateFile);
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
      if (options.stateFile) {
        try {
          saveMeter(meter, options.stateFile);
        } catch (err) {
          // Not saved = the batch is not committed: its redelivery is deduplicated by this process.
          const error = new UsageStateError(options.stateFile, err);
          return records.map(() => ({ status: 'failed' as const, error }));
        }
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
  // The local runner keeps the meter state in <dataDir>/usage/meter-state.json across restarts.
  create: (deps) => ({
    handler: kafkaBatchHandler(definition(deps, { stateFile: stateFileOf(deps.config) }), deps),
    close: async () => {},
  }),
};

/** Lambda entry point (serverless.yml: functions/usage-metering.handler); state lives while the container is warm. */
export const handler = kafkaBatchHandler((d: FunctionDeps) => definition(d), lambdaDeps());
