/**
 * The batch core every Kafka-triggered function shares: decode -> validate against the topic's
 * events/ schema -> the function's own `process` -> per-record outcome. Poison records (undecodable,
 * schema-invalid, non-retriable failure) become dead letters and the rest of the batch proceeds; any
 * retriable failure makes the whole batch fail so Lambda (or the local runner) delivers it again.
 *
 * At-least-once: a batch may be processed more than once (retry after a partial success, redelivery
 * after a crash before commit), so every function's `process` must be idempotent.
 */
import type { InRecord } from '../../bus/types.ts';
import { errorMessage, isRetriable, MeshApimError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { DeadLetter } from '../../events/dead-letter.ts';
import type { TopicContract } from '../../events/topics.ts';
import { contractForTopic, validateRecord } from './contracts.ts';
import {
  type DeadLetterPublisher,
  deadLetterFromRaw,
  deadLetterFromRecord,
  type FailureInfo,
} from './dead-letter.ts';
import { BatchRetryError, FunctionError } from './errors.ts';
import type { DecodedEntry } from './kafka-event.ts';
import { type BatchMetrics, logBatchMetrics } from './metrics.ts';

/** A record that decoded and passed its topic's schema. */
export interface ValidRecord<E = unknown> {
  record: InRecord;
  event: E;
  contract: TopicContract;
}

export type RecordOutcome =
  | { status: 'ok' }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; error: unknown };

export interface BatchContext {
  functionName: string;
  logger: Logger;
  topicPrefix: string;
  now(): Date;
  /** Lambda's awsRequestId, or a local id. */
  requestId: string;
}

/**
 * What the batch core runs: a definition's name and topics with its core's `process`
 * (functions/lib/define.ts `kafkaFunctionOf`; a function is described once, by `defineFunction`).
 */
export interface KafkaFunction<E = unknown> {
  /** Consumer name: dead letters' `consumer`, logs' `function`, the local runner's group suffix. */
  name: string;
  /** Topics consumed; a record of any other topic is poison (UNKNOWN_TOPIC). */
  topics: readonly TopicContract[];
  /**
   * The function's pure-ish core over the valid records of one batch. Returns exactly one outcome per
   * input record, in order. Throwing counts as that error for every record of the batch.
   */
  process(records: readonly ValidRecord<E>[], ctx: BatchContext): Promise<RecordOutcome[]>;
}

export type PerRecordResult =
  | { topic: string; partition: number; offset: string; status: 'ok' | 'skipped'; reason?: string }
  | { topic: string; partition: number; offset: string; status: 'dead-lettered'; failure: FailureInfo }
  | { topic: string; partition: number; offset: string; status: 'retry'; error: string };

export interface BatchOutcome {
  results: PerRecordResult[];
  letters: DeadLetter[];
  retry: { topic: string; partition: number; offset: string; error: string }[];
  /** The first retriable error (the cause of the BatchRetryError). */
  retryCause?: unknown;
}

function failureInfo(err: unknown): FailureInfo {
  if (err instanceof FunctionError) {
    const f: FailureInfo = { stage: err.stage, code: err.code, message: err.message };
    if (err.details !== undefined) f.details = err.details;
    return f;
  }
  if (err instanceof MeshApimError) {
    const details = (err as { details?: unknown }).details;
    return {
      stage: 'process',
      code: err.code,
      message: err.message,
      ...(details === undefined ? {} : { details }),
    };
  }
  return { stage: 'process', code: 'PROCESS_FAILED', message: errorMessage(err) };
}

/** Classifies one batch: no I/O besides what `fn.process` does; publishing dead letters is the caller's. */
export async function processBatch<E>(
  fn: KafkaFunction<E>,
  entries: readonly DecodedEntry[],
  ctx: BatchContext,
): Promise<BatchOutcome> {
  const results: (PerRecordResult | undefined)[] = new Array(entries.length);
  const letters: DeadLetter[] = [];
  const retry: BatchOutcome['retry'] = [];
  let retryCause: unknown;
  const valid: ValidRecord<E>[] = [];
  const validIndex: number[] = [];
  const consumed = new Set(fn.topics.map((t) => t.name));

  // Per record only what differs: the contract is looked up once per topic of the batch (a batch is
  // one partition), a dead letter's clock is read only when there is one.
  let lastTopic: string | undefined;
  let lastContract: TopicContract | undefined;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (!entry.ok) {
      const f = entry.failure;
      const info = failureInfo(f.error);
      letters.push(
        deadLetterFromRaw(
          fn.name,
          { topic: f.topic, partition: f.partition, offset: f.offset, timestamp: f.timestamp },
          f.raw,
          info,
          ctx.now(),
        ),
      );
      results[i] = {
        topic: f.topic,
        partition: f.partition,
        offset: f.offset,
        status: 'dead-lettered',
        failure: info,
      };
      continue;
    }
    const r = entry.record;
    try {
      if (r.topic !== lastTopic) {
        lastTopic = r.topic;
        const c = contractForTopic(r.topic, ctx.topicPrefix);
        lastContract = c && consumed.has(c.name) ? c : undefined;
      }
      const contract = lastContract;
      if (!contract) {
        throw new FunctionError('UNKNOWN_TOPIC', `${fn.name} does not consume topic ${r.topic}`, {
          stage: 'validate',
        });
      }
      const event = validateRecord(r, contract.schema) as E;
      valid.push({ record: r, event, contract });
      validIndex.push(i);
    } catch (err) {
      const info = failureInfo(err);
      letters.push(deadLetterFromRecord(fn.name, r, info, ctx.now()));
      results[i] = {
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        status: 'dead-lettered',
        failure: info,
      };
    }
  }

  if (valid.length > 0) {
    let outcomes: RecordOutcome[];
    try {
      outcomes = await fn.process(valid, ctx);
      if (outcomes.length !== valid.length) {
        throw new FunctionError(
          'OUTCOME_COUNT_MISMATCH',
          `${fn.name}.process returned ${outcomes.length} outcomes for ${valid.length} records`,
          { retriable: true },
        );
      }
    } catch (err) {
      outcomes = valid.map(() => ({ status: 'failed', error: err }));
    }
    for (let j = 0; j < outcomes.length; j++) {
      const o = outcomes[j]!;
      const v = valid[j]!;
      const rec = v.record;
      const i = validIndex[j]!;
      if (o.status === 'ok')
        results[i] = { topic: rec.topic, partition: rec.partition, offset: rec.offset, status: 'ok' };
      else if (o.status === 'skipped')
        results[i] = {
          topic: rec.topic,
          partition: rec.partition,
          offset: rec.offset,
          status: 'skipped',
          reason: o.reason,
        };
      else if (isRetriable(o.error)) {
        retryCause ??= o.error;
        const error = errorMessage(o.error);
        const coords = { topic: rec.topic, partition: rec.partition, offset: rec.offset };
        retry.push({ ...coords, error });
        results[i] = { ...coords, status: 'retry', error };
      } else {
        const info = failureInfo(o.error);
        letters.push(deadLetterFromRecord(fn.name, rec, info, ctx.now()));
        results[i] = {
          topic: rec.topic,
          partition: rec.partition,
          offset: rec.offset,
          status: 'dead-lettered',
          failure: info,
        };
      }
    }
  }
  const out: BatchOutcome = { results: results as PerRecordResult[], letters, retry };
  if (retryCause !== undefined) out.retryCause = retryCause;
  return out;
}

export interface BatchSummary extends BatchMetrics {
  results: PerRecordResult[];
}

/**
 * processBatch + the side effects: dead letters published (only when the batch is not going to be
 * retried, so a retried batch does not dead-letter its poison twice), one metrics line, and a
 * BatchRetryError thrown when anything failed retriably.
 */
export async function settleBatch<E>(
  fn: KafkaFunction<E>,
  entries: readonly DecodedEntry[],
  ctx: BatchContext,
  deadLetters: DeadLetterPublisher,
): Promise<BatchSummary> {
  const started = performance.now();
  const outcome = await processBatch(fn, entries, ctx);
  let ok = 0;
  let skipped = 0;
  for (const r of outcome.results) {
    if (r.status === 'ok') ok++;
    else if (r.status === 'skipped') skipped++;
  }
  const metrics = (): BatchMetrics => ({
    records: entries.length,
    processed: ok,
    skipped,
    deadLettered: outcome.retry.length > 0 ? 0 : outcome.letters.length,
    failures: outcome.retry.length,
    durationMs: Math.round(performance.now() - started),
  });
  if (outcome.retry.length > 0) {
    logBatchMetrics(ctx.logger, fn.name, metrics(), 'retry');
    throw new BatchRetryError(
      `${outcome.retry.length} of ${entries.length} records failed retriably; the batch will be retried`,
      outcome.retry,
      { cause: outcome.retryCause },
    );
  }
  for (const l of outcome.letters) {
    ctx.logger.warn(
      { source: l.source, error: { stage: l.error.stage, code: l.error.code, message: l.error.message } },
      'record dead-lettered',
    );
  }
  try {
    if (outcome.letters.length > 0) await deadLetters.publish(outcome.letters);
  } catch (err) {
    logBatchMetrics(
      ctx.logger,
      fn.name,
      { ...metrics(), deadLettered: 0, failures: outcome.letters.length },
      'retry',
    );
    throw err;
  }
  const m = metrics();
  logBatchMetrics(ctx.logger, fn.name, m, 'ok');
  return { ...m, results: outcome.results };
}
