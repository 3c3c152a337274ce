/**
 * The embedded log's group consumer, on the main thread: claims partition leases (through the
 * writer, groups.ts), polls the owned partitions on the read connection, hands each batch to the
 * shared redelivery rule (../redelivery.ts) and commits after the handler resolved, only while
 * it still holds the lease.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../common/log.ts';
import { Redelivery } from '../redelivery.ts';
import type { ConsumeOptions, Subscription } from '../types.ts';
import { toError } from './errors.ts';
import { type PageStatement, readPage } from './read.ts';
import type { TopicRow } from './schema.ts';
import type { WriterClient } from './writer-client.ts';

/** The wait after a failed poll (the database locked by another process beyond busy_timeout, or similar). */
const POLL_RETRY_MS = 5000;

/** What the consumer needs of its EmbeddedBus. */
export interface ConsumerHost {
  readonly writer: WriterClient;
  readonly page: PageStatement;
  readonly log: Logger;
  readonly leaseMs: number;
  readonly pollIntervalMs: number;
  topic(name: string): Promise<TopicRow>;
  /** Sleeps up to ms, or less when a record is produced in this process or the bus is closing. */
  idle(ms: number): Promise<void>;
  wake(): void;
  readonly subscriptions: Set<Subscription>;
}

export async function consumeGroup(host: ConsumerHost, options: ConsumeOptions): Promise<Subscription> {
  const owner = `${process.pid}:${randomUUID()}`;
  const maxBatch = options.maxBatchSize ?? 100;
  const log = host.log.child({ groupId: options.groupId });
  const topics = new Map<string, TopicRow>();
  for (const name of options.topics) topics.set(name, await host.topic(name));
  /** Next offset to deliver, per owned partition ("topicId:partition"). */
  const positions = new Map<string, { topic: TopicRow; partition: number; offset: number }>();
  let running = true;
  let leaseCheckAt = 0;
  const redelivery = new Redelivery(options.handler, { log });

  /** A backoff sleep that ends early when the subscription stops (but not on new records). */
  const idleUninterrupted = async (ms: number): Promise<void> => {
    const until = Date.now() + ms;
    while (running && Date.now() < until) await host.idle(Math.min(until - Date.now(), 100));
  };

  const claimLeases = async () => {
    const owned = await host.writer.request<{ topic: string; partition: number }[]>({
      op: 'claim',
      groupId: options.groupId,
      topics: options.topics,
      owner,
      leaseMs: host.leaseMs,
      now: Date.now(),
    });
    const keep = new Set<string>();
    for (const { topic: name, partition } of owned) {
      const t = topics.get(name)!;
      const k = `${t.id}:${partition}`;
      keep.add(k);
      if (positions.has(k)) continue;
      const offset = await host.writer.request<number>({
        op: 'position',
        groupId: options.groupId,
        topic: name,
        partition,
        fromBeginning: options.fromBeginning !== false,
      });
      positions.set(k, { topic: t, partition, offset });
    }
    for (const k of [...positions.keys()]) if (!keep.has(k)) positions.delete(k);
    leaseCheckAt = Date.now() + host.leaseMs / 3;
  };

  /** Commits only while this consumer still holds the partition (else another consumer took over). */
  const commit = (t: TopicRow, partition: number, offset: number): Promise<boolean> =>
    host.writer.request<boolean>({
      op: 'commit',
      groupId: options.groupId,
      topic: t.name,
      partition,
      offset,
      owner,
    });

  const loop = async () => {
    while (running) {
      let delivered = false;
      try {
        if (Date.now() >= leaseCheckAt) await claimLeases();
        for (const [k, pos] of positions) {
          if (!running) break;
          const records = readPage(
            host.page,
            pos.topic.name,
            pos.topic.id,
            pos.partition,
            pos.offset,
            maxBatch,
          );
          if (records.length === 0) continue;
          delivered = true;
          const batch = { topic: pos.topic.name, partition: pos.partition, records };
          // Rejected: the position stays, the next pass reads the same records (other partitions go on meanwhile).
          if (!(await redelivery.deliver(k, batch, idleUninterrupted))) continue;
          const next = Number(records[records.length - 1]!.offset) + 1;
          if (await commit(pos.topic, pos.partition, next)) pos.offset = next;
          else positions.delete(k);
        }
      } catch (err) {
        log.warn({ err: toError('consume', err) }, 'embedded consumer poll failed; retrying');
        await idleUninterrupted(POLL_RETRY_MS);
      }
      if (!delivered && running) await host.idle(host.pollIntervalMs);
    }
  };

  try {
    await claimLeases();
  } catch (err) {
    // Locked for longer than busy_timeout: the loop claims the partitions as soon as it can.
    log.warn({ err: toError('consume', err) }, 'could not claim partitions yet; retrying');
  }
  const done = loop();
  const sub: Subscription = {
    stop: async () => {
      if (!running) return done;
      running = false;
      host.wake();
      await done;
      host.subscriptions.delete(sub);
      try {
        await host.writer.request({ op: 'release', owner });
      } catch (err) {
        log.warn({ err }, 'could not release partition leases; they lapse on their own');
      }
    },
  };
  host.subscriptions.add(sub);
  return sub;
}
