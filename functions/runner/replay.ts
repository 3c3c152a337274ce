/**
 * Replay for backfill: re-drives a time range of a topic through a function's handler in
 * Lambda-shaped batches, reading with Bus.read (no consumer group: the live group's offsets are
 * never touched). Per partition: start = offsetsForTime(from), end = offsetsForTime(to) (exclusive:
 * the first record at/after `to`), as Kafka's offsets-for-times defines them.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import type { ReaderSpec } from '../../bus/embedded/read.ts';
import type { Bus, InRecord } from '../../bus/types.ts';
import { MeshApimError } from '../../common/errors.ts';
import type { BatchSummary } from '../lib/batch.ts';
import type { KafkaHandler } from '../lib/handler.ts';
import { buildLambdaKafkaEvent } from '../lib/kafka-event.ts';
import { ReplayPool, type ReplayWorkers } from './replay-pool.ts';

export type { ReplayWorkers } from './replay-pool.ts';

export class ReplayError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super('REPLAY_FAILED', message, options);
  }
}

export interface ReplayRange {
  partition: number;
  start: bigint;
  end: bigint;
}

export interface ReplayProgress {
  read: number;
  total: number;
  published: number;
  skipped: number;
  deadLettered: number;
  elapsedMs: number;
}

export interface ReplaySummary extends ReplayProgress {
  partitions: { partition: number; start: string; end: string }[];
  retries: number;
}

export interface ReplayOptions {
  bus: Pick<Bus, 'offsetsForTime' | 'read'>;
  topic: string;
  fromMs: number;
  toMs: number;
  handler: KafkaHandler;
  functionName: string;
  /** Records per handler invocation. */
  batchSize: number;
  /** Records per Bus.read (Kafka's read joins a throw-away group per call: read big, invoke small). */
  readSize?: number;
  /** Attempts per batch on retriable failure before the replay stops (rerun resumes nothing: it is idempotent). */
  maxAttempts?: number;
  backoffMs?: number;
  onProgress?: (p: ReplayProgress) => void;
  /** Only these partitions (default: all); an unknown one is an error, not an empty replay. */
  partitions?: readonly number[];
  /** At most this many records per second (throttled backfill so a live Elasticsearch is not flooded). */
  rate?: number;
  /**
   * Partitions replayed at once (default 1). Each partition stays in offset order (one batch in flight
   * per partition); --rate bounds the sum. Pays where the handler waits on I/O (a remote `_bulk`);
   * the CPU part (decode, validate, map) shares the one JS thread, so a file-sink replay gains nothing.
   */
  concurrency?: number;
  /**
   * Runs the batch core on worker threads (replay-pool.ts) when the bus can be read from another
   * thread (the embedded log: `readerSpec`) and concurrency is 1: the sinks see the same batches in
   * the same order as in-process; `handler` is the in-process fallback (Kafka, --concurrency > 1).
   */
  workers?: ReplayWorkers;
}

/** A bus whose topic another thread can read (bus/embedded: EmbeddedBus.readerSpec). */
interface ReadableElsewhere {
  readerSpec(topic: string): Promise<ReaderSpec>;
}

const readableElsewhere = (bus: object): bus is ReadableElsewhere =>
  typeof (bus as Partial<ReadableElsewhere>).readerSpec === 'function';

export async function replayRanges(
  bus: Pick<Bus, 'offsetsForTime'>,
  topic: string,
  fromMs: number,
  toMs: number,
): Promise<ReplayRange[]> {
  const [starts, ends] = await Promise.all([
    bus.offsetsForTime(topic, fromMs),
    bus.offsetsForTime(topic, toMs),
  ]);
  return starts.map((s) => {
    const e = ends.find((x) => x.partition === s.partition);
    const start = BigInt(s.offset);
    const end = e ? BigInt(e.offset) : start;
    return { partition: s.partition, start, end: end < start ? start : end };
  });
}

export async function replay(o: ReplayOptions): Promise<ReplaySummary> {
  const started = Date.now();
  const all = await replayRanges(o.bus, o.topic, o.fromMs, o.toMs);
  const wanted = o.partitions;
  if (wanted) {
    const unknown = wanted.filter((w) => !all.some((r) => r.partition === w));
    if (unknown.length > 0) {
      throw new ReplayError(
        `${o.topic} has no partition ${unknown.join(', ')} (partitions: ${all.map((r) => r.partition).join(', ')})`,
      );
    }
  }
  const ranges = wanted ? all.filter((r) => wanted.includes(r.partition)) : all;
  const rate = o.rate !== undefined && o.rate > 0 ? o.rate : null;
  const total = ranges.reduce((n, r) => n + Number(r.end - r.start), 0);
  const p: ReplayProgress = { read: 0, total, published: 0, skipped: 0, deadLettered: 0, elapsedMs: 0 };
  let retries = 0;
  const readSize = Math.max(o.readSize ?? 10_000, o.batchSize);
  const maxAttempts = o.maxAttempts ?? 5;

  const counts = (s: Pick<BatchSummary, 'processed' | 'skipped' | 'deadLettered'>) => {
    p.published += s.processed;
    p.skipped += s.skipped;
    p.deadLettered += s.deadLettered;
  };
  /** One batch with retries: `attempt` runs it once (a new request id each time). */
  const retrying = async <T>(where: () => string, attempt: (requestId: string) => Promise<T>): Promise<T> => {
    let attempts = 0;
    try {
      return await pRetry(
        () => {
          attempts++;
          return attempt(randomUUID());
        },
        {
          retries: maxAttempts - 1,
          // 500 ms doubling to 10 s, no jitter: one replay, nothing to spread.
          minTimeout: o.backoffMs ?? 500,
          factor: 2,
          maxTimeout: 10_000,
          randomize: false,
          shouldRetry: ({ error }) => error instanceof MeshApimError && error.retriable,
          onFailedAttempt: ({ error, retriesLeft }) => {
            if (retriesLeft > 0 && error instanceof MeshApimError && error.retriable) retries++;
          },
        },
      );
    } catch (err) {
      throw new ReplayError(
        `batch at ${where()} failed after ${attempts} attempt(s): ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  };
  /** Waits until the records sent so far are due at --rate (pacing to the average rate). */
  const pace = async (sent: number) => {
    if (rate === null) return;
    const due = (sent / rate) * 1000 - (Date.now() - started);
    if (due > 0) await sleep(due);
  };

  if (o.workers && o.workers.count > 0 && (o.concurrency ?? 1) <= 1 && readableElsewhere(o.bus)) {
    await replayOnWorkers(o, o.workers, await o.bus.readerSpec(o.topic), ranges, {
      progress: p,
      started,
      retrying,
      counts,
      pace,
    });
    p.elapsedMs = Date.now() - started;
    return { ...p, retries, partitions: summaryRanges(ranges) };
  }

  const direct = o.handler.records;
  const invoke = async (records: InRecord[]) => {
    // The handler's record entry point when it has one: same batch core, no Lambda encoding round trip.
    const event = direct
      ? null
      : buildLambdaKafkaEvent(records, { shape: 'self-managed', bootstrapServers: 'replay' });
    const s = await retrying(
      () => `${o.topic}-${records[0]!.partition}@${records[0]!.offset}`,
      async (awsRequestId) => {
        const context = { awsRequestId, functionName: o.functionName };
        return event ? await o.handler(event, context) : await direct!(records, context);
      },
    );
    counts(s);
  };

  // Lanes take the next partition when theirs is done; the first failure stops the others at
  // their next batch (a replay is rerun whole: it is idempotent).
  let failed: unknown;
  const replayRange = async (r: ReplayRange) => {
    let next = r.start;
    while (next < r.end && failed === undefined) {
      const chunk = await o.bus.read(
        o.topic,
        r.partition,
        next.toString(),
        Number(r.end - next < BigInt(readSize) ? r.end - next : BigInt(readSize)),
      );
      if (chunk.length === 0) break; // retention removed the rest, or the log is shorter than announced
      const inRange = chunk.filter((rec) => BigInt(rec.offset) < r.end);
      for (let i = 0; i < inRange.length && failed === undefined; i += o.batchSize) {
        const batch = inRange.slice(i, i + o.batchSize);
        await invoke(batch);
        p.read += batch.length;
        p.elapsedMs = Date.now() - started;
        o.onProgress?.({ ...p });
        await pace(p.read);
      }
      next = BigInt(chunk[chunk.length - 1]!.offset) + 1n;
    }
  };
  let nextRange = 0;
  const lane = async () => {
    while (failed === undefined && nextRange < ranges.length) {
      const r = ranges[nextRange++]!;
      try {
        await replayRange(r);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  const lanes = Math.max(1, Math.min(o.concurrency ?? 1, ranges.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failed !== undefined) throw failed;
  p.elapsedMs = Date.now() - started;
  return { ...p, retries, partitions: summaryRanges(ranges) };
}

const summaryRanges = (ranges: readonly ReplayRange[]) =>
  ranges.map((r) => ({ partition: r.partition, start: r.start.toString(), end: r.end.toString() }));

interface Run {
  progress: ReplayProgress;
  started: number;
  retrying: <T>(where: () => string, attempt: (requestId: string) => Promise<T>) => Promise<T>;
  counts: (s: Pick<BatchSummary, 'processed' | 'skipped' | 'deadLettered'>) => void;
  pace: (sent: number) => Promise<void>;
}

/**
 * The ranges as batches of `batchSize` offsets ([from, from + batchSize): fewer records where the log
 * has gaps), numbered in the order a one-lane replay runs them, a window of them on the workers at
 * once. Progress counts a batch when its handler returned; the first batch that fails for good stops
 * the dispatch, the batches before it finish, the ones after it write nothing.
 */
async function replayOnWorkers(
  o: ReplayOptions,
  spec: ReplayWorkers,
  reader: ReaderSpec,
  ranges: readonly ReplayRange[],
  run: Run,
): Promise<void> {
  const pool = new ReplayPool(reader, spec, o.functionName);
  const p = run.progress;
  const inFlight = new Set<Promise<void>>();
  let failed: { seq: number; error: unknown } | undefined;
  let seq = 0;
  let sent = 0;
  try {
    for (const r of ranges) {
      for (let from = r.start; from < r.end && failed === undefined; from += BigInt(o.batchSize)) {
        const end = from + BigInt(o.batchSize) < r.end ? from + BigInt(o.batchSize) : r.end;
        while (inFlight.size >= pool.window && failed === undefined) await Promise.race(inFlight);
        if (failed !== undefined) break;
        sent += Number(end - from);
        await run.pace(sent);
        const job = {
          seq: seq++,
          partition: r.partition,
          from: Number(from),
          end: Number(end),
          max: o.batchSize,
        };
        const task = run
          .retrying(
            () => `${o.topic}-${job.partition}@${job.from}`,
            (requestId) => pool.run({ ...job, requestId }),
          )
          .then(
            (c) => {
              pool.sequencer.complete(job.seq);
              run.counts(c);
              p.read += c.read;
              p.elapsedMs = Date.now() - run.started;
              o.onProgress?.({ ...p });
            },
            (error: unknown) => {
              if (failed === undefined || job.seq < failed.seq) failed = { seq: job.seq, error };
              pool.sequencer.abortAfter(job.seq, error);
            },
          )
          .finally(() => inFlight.delete(task));
        inFlight.add(task);
      }
      if (failed !== undefined) break;
    }
    await Promise.all(inFlight);
  } finally {
    await pool.close();
  }
  if (failed !== undefined) throw failed.error;
}
