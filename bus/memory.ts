/**
 * In-process bus for unit tests: same semantics as the real ones (partitions, offsets, groups that
 * commit after the handler succeeds, redelivery on failure), nothing durable.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { partitionFor } from './partition.ts';
import { Redelivery } from './redelivery.ts';
import type {
  Bus,
  ConsumeOptions,
  InRecord,
  OutRecord,
  PartitionOffset,
  Subscription,
  TopicSpec,
} from './types.ts';

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly topics = new Map<string, InRecord[][]>();
  private readonly committed = new Map<string, number>();
  /** Test hook: when set, produce() rejects with it (a downed broker). */
  failProduce: Error | null = null;

  constructor(private readonly defaultPartitions = 1) {}

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    for (const s of specs) {
      if (!this.topics.has(s.name))
        this.topics.set(
          s.name,
          Array.from({ length: s.partitions }, () => []),
        );
    }
  }

  private partitions(topic: string): InRecord[][] {
    let parts = this.topics.get(topic);
    if (!parts) {
      parts = Array.from({ length: this.defaultPartitions }, () => []);
      this.topics.set(topic, parts);
    }
    return parts;
  }

  async produce(topic: string, records: OutRecord[]): Promise<void> {
    if (this.failProduce) throw this.failProduce;
    const parts = this.partitions(topic);
    for (const r of records) {
      const partition = partitionFor(r.key, parts.length);
      const log = parts[partition]!;
      log.push({
        topic,
        partition,
        offset: String(log.length),
        timestamp: r.timestamp ?? Date.now(),
        key: r.key === null ? null : Buffer.from(r.key),
        value: r.value === null ? null : Buffer.from(r.value),
        headers: Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, Buffer.from(v)])),
      });
    }
  }

  /** All records of a topic across partitions (test helper). */
  records(topic: string): InRecord[] {
    return (this.topics.get(topic) ?? []).flat();
  }

  async consume(options: ConsumeOptions): Promise<Subscription> {
    let running = true;
    const maxBatch = options.maxBatchSize ?? 100;
    // Short waits (a test double), and one backoff for the whole subscription, reset by any success.
    const redelivery = new Redelivery(options.handler, { minMs: 10, maxMs: 1000 });
    const loop = (async () => {
      while (running) {
        let delivered = false;
        for (const topic of options.topics) {
          const parts = this.partitions(topic);
          for (let p = 0; p < parts.length && running; p++) {
            const ck = `${options.groupId}|${topic}|${p}`;
            const start = this.committed.get(ck) ?? (options.fromBeginning === false ? parts[p]!.length : 0);
            const records = parts[p]!.slice(start, start + maxBatch);
            if (records.length === 0) continue;
            delivered = true;
            if (await redelivery.deliver(options.groupId, { topic, partition: p, records }, sleep))
              this.committed.set(ck, start + records.length);
          }
        }
        if (!delivered) await sleep(options.maxWaitMs ?? 5);
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
      },
    };
  }

  async offsetsForTime(topic: string, timestampMs: number): Promise<PartitionOffset[]> {
    return this.partitions(topic).map((log, partition) => {
      const idx = log.findIndex((r) => r.timestamp >= timestampMs);
      return { partition, offset: String(idx === -1 ? log.length : idx) };
    });
  }

  async endOffsets(topic: string): Promise<PartitionOffset[]> {
    return this.partitions(topic).map((log, partition) => ({ partition, offset: String(log.length) }));
  }

  async read(topic: string, partition: number, offset: string, maxRecords: number): Promise<InRecord[]> {
    const log = this.partitions(topic)[partition] ?? [];
    return log.slice(Number(offset), Number(offset) + maxRecords);
  }

  async close(): Promise<void> {}
}
