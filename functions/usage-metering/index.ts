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
 * State: in memory, saved incrementally after every batch (the head and the hours the batch changed):
 * by the local runner to the changelog <dataDir>/usage/meter-state.jsonl, on Lambda to the compacted
 * topic mesh-apim.usage-meter-state.v1; see docs/usage-metering.md.
 */
import { join } from 'node:path';
import { publish, topicOf } from '../../bus/publish.ts';
import type { Bus } from '../../bus/types.ts';
import type { Config } from '../../common/config/index.ts';
import type { RequestAttributes } from '../../events/request-attributes.ts';
import { TOPICS, topicName } from '../../events/topics.ts';
import type { RecordOutcome } from '../lib/batch.ts';
import {
  defineFunction,
  type FunctionCore,
  type FunctionDeps,
  type FunctionInstance,
  instantiate,
} from '../lib/define.ts';
import { lambdaHandler } from '../lib/lambda.ts';
import { UsageBeyondRetentionError, UsagePublishError, UsageStateError } from './errors.ts';
import { type IngestResult, type MeterOptions, UsageMeter } from './meter.ts';
import { FileStateStore, type MeterStateStore, TopicStateStore } from './state-store.ts';

export const name = 'usage-metering';

export function stateFileOf(config: Config): string {
  const id = config.functions.usageRunnerId;
  return join(config.dataDir, 'usage', id ? `meter-state-${id}.jsonl` : 'meter-state.jsonl');
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

export interface UsageMeteringCore extends FunctionCore<RequestAttributes> {
  /** The meter as it is now (loaded from the store on first use). */
  meter(): Promise<UsageMeter>;
  /**
   * Wall-clock close of idle partitions (local timer, Lambda schedule): closes the hours whose end +
   * lateness has passed while their partition had no batch, publishes them and saves the state.
   * Returns how many windows were published.
   */
  tick(): Promise<number>;
  close(): Promise<void>;
}

export interface UsageMeteringOptions {
  meter?: UsageMeter;
  store?: MeterStateStore;
  /** Local runner: close idle partitions' hours on a timer this often (0 = never). */
  closeIdleEveryMs?: number;
}

/** The core over the deps (exported for tests that drive the meter itself). */
export function meteringCore(deps: FunctionDeps, options: UsageMeteringOptions = {}): UsageMeteringCore {
  const opts = meterOptions(deps.config);
  const store = options.store;
  const usageTopic = topicOf(TOPICS.usage, deps.config.bus.topicPrefix);
  let meter: UsageMeter | null = options.meter ?? null;
  // One batch or tick at a time over the one meter (the runner's timer and its batches interleave).
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  };
  const current = async (): Promise<UsageMeter> => {
    // A store another container wrote since (a recycled Lambda container, the schedule invocation)
    // is newer than this memory: reload rather than overwrite it.
    if (!meter || (store && (await store.changed()))) {
      const state = store ? await store.load() : null;
      meter = !state
        ? (meter ?? new UsageMeter(opts))
        : 'whole' in state
          ? UsageMeter.fromState(opts, state.whole)
          : UsageMeter.fromParts(opts, state.head, state.segments);
    }
    return meter;
  };
  /** Publishes what closed, then saves; an error string when either failed (the caller retries). */
  const publishAndSave = async (
    m: UsageMeter,
    logger: FunctionDeps['logger'],
    now: Date,
  ): Promise<{ published: number } | { error: Error }> => {
    m.advance();
    const pending = m.pending(now);
    if (pending.length > 0) {
      try {
        await publish(
          deps.producer,
          usageTopic,
          pending.map(({ event }) => event),
        );
      } catch (err) {
        // Counted events stay counted (their redelivery is a duplicate); the windows stay pending.
        return { error: new UsagePublishError(err) };
      }
      m.ack(pending);
      logger.info({ published: pending.length, ...m.stats() }, 'usage windows published');
    }
    if (store) {
      try {
        // Only what the batch changed: the head and the hours it touched.
        await store.save(m.changes(), () => m.segments());
        m.markSaved();
      } catch (err) {
        // Not saved = the batch is not committed: its redelivery is deduplicated by this process.
        meter = null; // the next use reloads what the store holds
        return { error: new UsageStateError(store.describe, err) };
      }
    }
    return { published: pending.length };
  };
  return {
    meter: () => exclusive(current),
    process: (records, ctx) =>
      exclusive(async () => {
        const m = await current();
        const nowMs = ctx.now().getTime();
        const outcomes = records.map(({ record, event }) => {
          m.touch(record.topic, record.partition, nowMs);
          return outcomeOf(m.ingest(record.topic, record.partition, event));
        });
        const r = await publishAndSave(m, ctx.logger, ctx.now());
        if ('error' in r) return records.map(() => ({ status: 'failed' as const, error: r.error }));
        return outcomes;
      }),
    tick: () =>
      exclusive(async () => {
        const m = await current();
        const now = deps.now();
        if (m.closeIdle(now.getTime()) === 0 && m.pending(now).length === 0) return 0;
        const r = await publishAndSave(m, deps.logger, now);
        if ('error' in r) throw r.error;
        return r.published;
      }),
    close: () => exclusive(async () => store?.close()),
  };
}

/** A full Kafka bus for the state topic (read + produce), created on first use per container. */
function lazyStateBus(config: Config): Pick<Bus, 'produce' | 'read' | 'endOffsets'> {
  let bus: Promise<Bus> | null = null;
  const get = () => {
    bus ??= import('../../bus/kafka/index.ts').then(({ KafkaBus }) => new KafkaBus(config.bus.kafka));
    return bus;
  };
  return {
    produce: async (t, r) => (await get()).produce(t, r),
    read: async (t, p, o, n) => (await get()).read(t, p, o, n),
    endOffsets: async (t) => (await get()).endOffsets(t),
  };
}

/** The store for Lambda: the compacted state topic when functions.usageStateTopic (serverless.yml sets it). */
export function lambdaStore(
  config: Config,
  bus?: Pick<Bus, 'produce' | 'read' | 'endOffsets'>,
): MeterStateStore | undefined {
  if (!config.functions.usageStateTopic) return undefined;
  return new TopicStateStore(
    bus ?? lazyStateBus(config),
    topicName(TOPICS.usageMeterState, config.bus.topicPrefix),
    `${config.bus.topicPrefix}${name}`,
  );
}

function withIdleTimer(core: UsageMeteringCore, deps: FunctionDeps, every: number): UsageMeteringCore {
  if (every <= 0) return core;
  const timer = setInterval(() => {
    core.tick().catch((err) => deps.logger.warn({ err }, 'usage idle close failed; next tick retries'));
  }, every);
  timer.unref();
  return {
    ...core,
    close: async () => {
      clearInterval(timer);
      await core.close();
    },
  };
}

const usageMetering = defineFunction<RequestAttributes, UsageMeteringOptions>({
  name,
  description:
    'request-attributes -> closed hourly usage windows (application, API, tier, key type) -> usage topic',
  topics: [TOPICS.requestAttributes],
  idempotency:
    'requests counted once per checkId/eventId per retained hour; usage events keyed by windowId+revision',
  // The local runner keeps the meter state in a locked file of the data dir across restarts, and
  // closes idle partitions' hours on a timer.
  localOptions: (deps) => ({
    store: new FileStateStore(stateFileOf(deps.config)).lock(),
    closeIdleEveryMs: deps.config.functions.usageCloseIdleMs,
  }),
  // Lambda: the state topic carries the state across containers; the schedule closes idle hours.
  lambdaOptions: (deps) => {
    const store = lambdaStore(deps.config);
    return store ? { store } : {};
  },
  create: (deps, options = {}) =>
    withIdleTimer(meteringCore(deps, options), deps, options.closeIdleEveryMs ?? 0),
});
export default usageMetering;

/** An instance over the given deps (tests, bench). */
export function create(
  deps: FunctionDeps,
  options: UsageMeteringOptions = {},
): FunctionInstance<RequestAttributes> {
  return instantiate(usageMetering, deps, options);
}

/**
 * The Lambda handler over other deps and state store (tests: "containers" over one shared bus);
 * functions/usage-metering/handler.ts is the real entry. Kafka batches from the event source mapping,
 * and the schedule that closes idle partitions' hours; reserved concurrency 1 serialises both.
 */
export function meteringLambdaHandler(
  getDeps: () => Promise<FunctionDeps> | FunctionDeps,
  storeOf: (config: Config) => MeterStateStore | undefined = lambdaStore,
) {
  return lambdaHandler(
    {
      ...usageMetering,
      lambdaOptions: (deps) => {
        const store = storeOf(deps.config);
        return store ? { store } : {};
      },
    },
    getDeps,
  );
}
