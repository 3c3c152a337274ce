/**
 * Revocation fan-out core: every token-revoked event goes to every live adapter queue. Pure apart
 * from the SQS client and the clock/sleep it is given, so the limits and failure paths are unit
 * tested with aws-sdk-client-mock and the same code runs against ElasticMQ and AWS.
 */
import {
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { PoisonMessageError, RevocationError } from '../../common/revocation-errors.ts';
import { isQueueGone, isTransient } from '../../common/sqs-errors.ts';
import { HEARTBEAT_TAG } from '../../events/revocation-queue.ts';
import type { TokenRevoked } from '../../events/token-revoked.ts';

/** SQS hard limits of one SendMessageBatch call. */
export const SQS_MAX_BATCH_ENTRIES = 10;
export const SQS_MAX_BATCH_BYTES = 256 * 1024;

export interface FanoutOptions {
  queuePrefix: string;
  listCacheMs: number;
  staleGraceMs: number;
  staleCheckIntervalMs: number;
  /** Attempts per SendMessageBatch call (throttling, 5xx, network, entries in Failed). */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Queues sent to in parallel. */
  concurrency?: number;
  /** Event ids remembered as delivered (duplicate deliveries are skipped). */
  dedupCapacity?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface FanoutReport {
  events: number;
  duplicates: number;
  queues: number;
  messagesSent: number;
  /** Queues that disappeared mid-send (their adapter stopped). */
  skippedQueues: string[];
  /** Entry-level retries (Failed entries + throttled/5xx calls). */
  retries: number;
}

export interface BatchEntry {
  Id: string;
  MessageBody: string;
}

/** The SQS message body adapters receive: the event itself, as JSON. */
export function encodeRevocation(event: TokenRevoked): string {
  return JSON.stringify(event);
}

/** Splits entries into SendMessageBatch calls within both the entry-count and payload-size limits. */
export function chunkEntries(entries: BatchEntry[]): BatchEntry[][] {
  const batches: BatchEntry[][] = [];
  let current: BatchEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = Buffer.byteLength(e.MessageBody, 'utf8');
    if (size > SQS_MAX_BATCH_BYTES)
      throw new PoisonMessageError(`message ${e.Id} is ${size} bytes, over the SQS limit`);
    if (current.length === SQS_MAX_BATCH_ENTRIES || bytes + size > SQS_MAX_BATCH_BYTES) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

class QueueGone extends Error {}

class BoundedSet {
  private readonly items = new Set<string>();
  constructor(private readonly capacity: number) {}
  has(k: string): boolean {
    return this.items.has(k);
  }
  add(k: string): void {
    this.items.add(k);
    if (this.items.size > this.capacity) {
      const oldest = this.items.values().next().value;
      if (oldest !== undefined) this.items.delete(oldest);
    }
  }
}

export class RevocationFanout {
  private cache: { at: number; urls: string[] } | null = null;
  private readonly delivered: BoundedSet;
  private lastSweep = Number.NEGATIVE_INFINITY;
  private readonly o: Required<FanoutOptions>;

  constructor(
    private readonly sqs: SQSClient,
    options: FanoutOptions,
  ) {
    this.o = {
      maxAttempts: 8,
      baseDelayMs: 100,
      maxDelayMs: 5_000,
      concurrency: 8,
      dedupCapacity: 10_000,
      now: Date.now,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      ...options,
    };
    this.delivered = new BoundedSet(this.o.dedupCapacity);
  }

  /** Adapter queue URLs (all pages), reused for listCacheMs. */
  async listQueues(force = false): Promise<string[]> {
    const now = this.o.now();
    if (!force && this.cache && now - this.cache.at < this.o.listCacheMs) return this.cache.urls;
    const urls: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.withBackoff(() =>
        this.sqs.send(
          new ListQueuesCommand({
            QueueNamePrefix: `${this.o.queuePrefix}-`,
            MaxResults: 1000,
            NextToken: token,
          }),
        ),
      );
      urls.push(...(res.QueueUrls ?? []));
      token = res.NextToken;
    } while (token);
    this.cache = { at: now, urls };
    return urls;
  }

  /**
   * Sends every not-yet-delivered event to every adapter queue. Resolves when each live queue has
   * all of them; rejects (retriable) when a queue could not be reached within the attempts, so the
   * caller redelivers the batch — adapters drop the duplicates by event id.
   */
  async fanOut(events: TokenRevoked[]): Promise<FanoutReport> {
    const fresh = new Map<string, TokenRevoked>();
    for (const e of events) if (!this.delivered.has(e.eventId)) fresh.set(e.eventId, e);
    const report: FanoutReport = {
      events: fresh.size,
      duplicates: events.length - fresh.size,
      queues: 0,
      messagesSent: 0,
      skippedQueues: [],
      retries: 0,
    };
    if (fresh.size === 0) return report;
    const entries = [...fresh.values()].map((e, i) => ({ Id: `e${i}`, MessageBody: encodeRevocation(e) }));
    const batches = chunkEntries(entries);
    const urls = await this.listQueues();
    report.queues = urls.length;
    let next = 0;
    const worker = async () => {
      while (next < urls.length) {
        const url = urls[next++]!;
        try {
          for (const batch of batches) {
            report.retries += await this.sendBatch(url, batch);
            report.messagesSent += batch.length;
          }
        } catch (err) {
          if (!(err instanceof QueueGone)) throw err;
          report.skippedQueues.push(url);
          this.cache = null;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, urls.length) }, worker));
    for (const id of fresh.keys()) this.delivered.add(id);
    return report;
  }

  /** One batch to one queue until every entry is accepted; returns the number of retries. */
  private async sendBatch(url: string, batch: BatchEntry[]): Promise<number> {
    let pending: SendMessageBatchRequestEntry[] = batch;
    let retries = 0;
    for (let attempt = 1; ; attempt++) {
      let failedIds: Set<string>;
      try {
        const res = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: pending }));
        failedIds = new Set((res.Failed ?? []).map((f) => f.Id ?? ''));
        if (failedIds.size === 0) return retries;
        if (attempt >= this.o.maxAttempts) {
          const f = res.Failed?.[0];
          throw new RevocationError(
            'FANOUT_ENTRIES_FAILED',
            `${failedIds.size} entries to ${url} still failing after ${attempt} attempts: ${f?.Code} ${f?.Message ?? ''}`,
            { retriable: true },
          );
        }
      } catch (err) {
        if (err instanceof RevocationError) throw err;
        if (isQueueGone(err)) throw new QueueGone(url);
        if (!isTransient(err) || attempt >= this.o.maxAttempts)
          throw new RevocationError('FANOUT_SEND_FAILED', `SendMessageBatch to ${url} failed`, {
            cause: err,
            retriable: true,
          });
        failedIds = new Set(pending.map((e) => e.Id ?? ''));
      }
      pending = pending.filter((e) => failedIds.has(e.Id ?? ''));
      retries += pending.length;
      await this.o.sleep(this.delay(attempt));
    }
  }

  private delay(attempt: number): number {
    const cap = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (attempt - 1));
    // Full jitter: replicas backing off from the same throttle do not come back in lockstep.
    return Math.floor(cap / 2 + (Math.random() * cap) / 2);
  }

  private async withBackoff<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (!isTransient(err) || attempt >= this.o.maxAttempts)
          throw new RevocationError('FANOUT_SQS_FAILED', 'SQS call failed', { cause: err, retriable: true });
        await this.o.sleep(this.delay(attempt));
      }
    }
  }

  /**
   * Deletes queues whose adapter stopped heartbeating more than staleGraceMs ago (at most once per
   * staleCheckIntervalMs). A queue without the tag counts from its creation time.
   */
  async sweepStaleQueues(force = false): Promise<string[]> {
    const now = this.o.now();
    if (!force && now - this.lastSweep < this.o.staleCheckIntervalMs) return [];
    this.lastSweep = now;
    const deleted: string[] = [];
    for (const url of await this.listQueues(true)) {
      try {
        const tags = await this.withBackoff(() => this.sqs.send(new ListQueueTagsCommand({ QueueUrl: url })));
        let beat = Number(tags.Tags?.[HEARTBEAT_TAG]);
        if (!Number.isFinite(beat) || beat <= 0) {
          const attrs = await this.withBackoff(() =>
            this.sqs.send(
              new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['CreatedTimestamp'] }),
            ),
          );
          beat = Number(attrs.Attributes?.CreatedTimestamp ?? 0) * 1000;
        }
        if (now - beat > this.o.staleGraceMs) {
          await this.withBackoff(() => this.sqs.send(new DeleteQueueCommand({ QueueUrl: url })));
          deleted.push(url);
        }
      } catch (err) {
        const gone = isQueueGone(err) || isQueueGone((err as { cause?: unknown }).cause);
        if (!gone) throw err;
      }
    }
    if (deleted.length > 0) this.cache = null;
    return deleted;
  }
}
