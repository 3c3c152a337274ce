/**
 * The buses' one redelivery rule (ConsumeOptions.handler): a handler that rejects gets the same
 * records again after a backoff, and nothing is committed until it resolves. Each bus fetches and
 * commits its own way (memory and embedded poll, Kafka is pushed batches) and asks this for one
 * delivery attempt at a time; the backoff grows per key (a partition, or a whole subscription) and
 * starts over after a success.
 */
import { Backoff } from '../common/backoff.ts';
import type { Logger } from '../common/log.ts';
import type { Batch, ConsumeOptions } from './types.ts';

/** The waits between deliveries of a rejected batch (embedded log and Kafka). */
export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 5000;

export interface RedeliveryOptions {
  minMs?: number;
  maxMs?: number;
  /** Where a rejection is logged (with the wait); not logged without one. */
  log?: Logger;
}

export class Redelivery {
  private readonly backoffs = new Map<string, Backoff>();
  private readonly minMs: number;
  private readonly maxMs: number;

  constructor(
    private readonly handler: ConsumeOptions['handler'],
    private readonly o: RedeliveryOptions = {},
  ) {
    this.minMs = o.minMs ?? BACKOFF_MIN_MS;
    this.maxMs = o.maxMs ?? BACKOFF_MAX_MS;
  }

  /**
   * One delivery of `batch`. True: the handler resolved and the caller commits. False: it rejected,
   * `wait` has waited the key's backoff, and the caller delivers the same records again (nothing
   * committed). `wait` is the bus's own sleep, which ends early when the subscription stops.
   */
  async deliver(key: string, batch: Batch, wait: (ms: number) => Promise<void>): Promise<boolean> {
    try {
      await this.handler(batch);
    } catch (err) {
      const retryInMs = this.backoff(key).next();
      this.o.log?.warn(
        { err, topic: batch.topic, partition: batch.partition, offset: batch.records[0]?.offset, retryInMs },
        'handler failed; batch will be delivered again',
      );
      await wait(retryInMs);
      return false;
    }
    this.backoffs.delete(key);
    return true;
  }

  /** Drops a key's backoff (its batch went back uncommitted to another owner): it starts over at minMs. */
  forget(key: string): void {
    this.backoffs.delete(key);
  }

  private backoff(key: string): Backoff {
    let b = this.backoffs.get(key);
    if (!b) {
      // Deterministic, as the buses' own loops were: the failures of one handler are not a crowd of
      // replicas reconnecting together, which is what jitter is for.
      b = new Backoff({ minMs: this.minMs, maxMs: this.maxMs, jitter: 'none' });
      this.backoffs.set(key, b);
    }
    return b;
  }
}
