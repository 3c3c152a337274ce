/**
 * The one behaviour suite every Bus implementation must pass (Kafka and the embedded log run it in
 * test/bus/*.int.test.ts; the embedded log also in the unit project). Each case uses its own topics
 * and groups, so a broker that outlives the run does not leak state between cases.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { partitionFor } from '../../bus/partition.ts';
import type { Batch, Bus, InRecord, OutRecord, Subscription } from '../../bus/types.ts';
import { isRetriable } from '../../common/errors.ts';

export interface BusHarness {
  /** A new client of the same log/cluster (reopened after close() to test resume). */
  open(): Promise<Bus>;
  /** Makes the log unavailable for a while and brings it back (Kafka: stop/start the broker). */
  interrupt(): Promise<void>;
  /** Lets retention run now where the bus can (embedded); Kafka runs it on its own timer. */
  retentionPass(bus: Bus): Promise<void>;
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Produces, retrying a rejected batch until accepted: the caller-side half of "nothing is lost". */
async function produceRetrying(
  bus: Bus,
  topic: string,
  records: OutRecord[],
  errors: unknown[],
): Promise<void> {
  for (;;) {
    try {
      await bus.produce(topic, records);
      return;
    } catch (err) {
      errors.push(err);
      if (!isRetriable(err)) throw err;
      await sleep(250);
    }
  }
}

export function busConformance(label: string, harness: BusHarness): void {
  const open: Bus[] = [];
  const subs: Subscription[] = [];
  const uid = () => randomUUID().slice(0, 8);
  const topicName = (what: string) => `test.${label}.${what}.${uid()}`;
  const openBus = async () => {
    const bus = await harness.open();
    open.push(bus);
    return bus;
  };
  const collect = async (
    bus: Bus,
    topics: string[],
    groupId: string,
    sink: InRecord[],
    maxBatchSize = 100,
  ) => {
    const sub = await bus.consume({
      groupId,
      topics,
      fromBeginning: true,
      maxBatchSize,
      maxWaitMs: 100,
      handler: async (b: Batch) => {
        sink.push(...b.records);
      },
    });
    subs.push(sub);
    return sub;
  };

  afterEach(async () => {
    for (const s of subs.splice(0)) await s.stop();
    for (const b of open.splice(0)) await b.close();
  });

  it(`${label}: produce/consume round trip keeps key, value, headers, timestamp; keys land on Kafka's partition`, async () => {
    const bus = await openBus();
    const topic = topicName('roundtrip');
    await bus.ensureTopics([{ name: topic, partitions: 3, retentionMs: -1, cleanupPolicy: 'delete' }]);
    const ts = Date.now() - 5000;
    const out: OutRecord[] = Array.from({ length: 40 }, (_, i) => ({
      key: `k${i % 7}`,
      value: JSON.stringify({ i }),
      headers: { 'content-type': 'application/json', seq: String(i) },
      timestamp: ts + i,
    }));
    await bus.produce(topic, out.slice(0, 20));
    await bus.produce(topic, out.slice(20));
    const got: InRecord[] = [];
    await collect(bus, [topic], `g-${uid()}`, got);
    await waitFor('40 records', () => got.length >= 40);
    expect(got).toHaveLength(40);
    for (const r of got) {
      const i = (JSON.parse(r.value!.toString()) as { i: number }).i;
      expect(r.topic).toBe(topic);
      expect(r.key?.toString()).toBe(`k${i % 7}`);
      expect(r.headers['seq']?.toString()).toBe(String(i));
      expect(r.headers['content-type']?.toString()).toBe('application/json');
      expect(r.timestamp).toBe(ts + i);
      expect(r.partition).toBe(partitionFor(`k${i % 7}`, 3));
    }
    const ends = await bus.endOffsets(topic);
    expect(ends.map((e) => e.partition).sort()).toEqual([0, 1, 2]);
    expect(ends.reduce((n, e) => n + Number(e.offset), 0)).toBe(40);
  });

  it(`${label}: records with one key are delivered in produce order`, async () => {
    const bus = await openBus();
    const topic = topicName('order');
    await bus.ensureTopics([{ name: topic, partitions: 4, retentionMs: -1, cleanupPolicy: 'delete' }]);
    const keys = Array.from({ length: 10 }, (_, i) => `key-${i}`);
    let seq = 0;
    for (let b = 0; b < 6; b++) {
      await bus.produce(
        topic,
        Array.from({ length: 50 }, () => {
          const n = seq++;
          return { key: keys[n % keys.length]!, value: String(n) };
        }),
      );
    }
    const got: InRecord[] = [];
    await collect(bus, [topic], `g-${uid()}`, got, 17);
    await waitFor('300 records', () => got.length >= 300);
    const lastByKey = new Map<string, number>();
    const lastOffset = new Map<number, number>();
    for (const r of got) {
      const n = Number(r.value!.toString());
      const k = r.key!.toString();
      expect(n).toBeGreaterThan(lastByKey.get(k) ?? -1);
      lastByKey.set(k, n);
      expect(Number(r.offset)).toBeGreaterThan(lastOffset.get(r.partition) ?? -1);
      lastOffset.set(r.partition, Number(r.offset));
    }
    expect(lastByKey.size).toBe(10);
  });

  it(`${label}: a consumer group resumes from its committed offset after the bus is closed and reopened`, async () => {
    const topic = topicName('resume');
    const group = `g-${uid()}`;
    const first = await openBus();
    await first.ensureTopics([{ name: topic, partitions: 2, retentionMs: -1, cleanupPolicy: 'delete' }]);
    await first.produce(
      topic,
      Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `a${i}` })),
    );
    const before: InRecord[] = [];
    const sub = await collect(first, [topic], group, before, 7);
    await waitFor('first 30', () => before.length >= 30);
    await sub.stop();
    await first.close();

    const second = await openBus();
    await second.produce(
      topic,
      Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: `b${i}` })),
    );
    const after: InRecord[] = [];
    await collect(second, [topic], group, after);
    await waitFor('12 new', () => after.length >= 12);
    await sleep(500); // anything re-delivered would arrive now
    expect(before.map((r) => r.value!.toString()).sort()).toEqual(
      Array.from({ length: 30 }, (_, i) => `a${i}`).sort(),
    );
    expect(after.map((r) => r.value!.toString()).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `b${i}`).sort(),
    );
  });

  it(`${label}: a failing handler gets the same batch again, and nothing is committed until it succeeds`, async () => {
    const bus = await openBus();
    const topic = topicName('redeliver');
    const group = `g-${uid()}`;
    await bus.ensureTopics([{ name: topic, partitions: 1, retentionMs: -1, cleanupPolicy: 'delete' }]);
    await bus.produce(
      topic,
      Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: `v${i}` })),
    );
    const firstOffsets: string[] = [];
    let calls = 0;
    const ok: InRecord[] = [];
    const sub = await bus.consume({
      groupId: group,
      topics: [topic],
      fromBeginning: true,
      maxBatchSize: 5,
      handler: async (b) => {
        calls++;
        firstOffsets.push(b.records[0]!.offset);
        if (calls <= 2) throw new Error('poison for a while');
        ok.push(...b.records);
      },
    });
    subs.push(sub);
    await waitFor('delivery after two failures', () => ok.length >= 5);
    expect(firstOffsets.slice(0, 3)).toEqual(['0', '0', '0']);
    expect(ok.map((r) => r.value!.toString())).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    await sub.stop();
    // Committed after success: the same group sees only what comes next.
    await bus.produce(topic, [{ key: 'k', value: 'v5' }]);
    const next: InRecord[] = [];
    await collect(bus, [topic], group, next);
    await waitFor('v5', () => next.length >= 1);
    await sleep(300);
    expect(next.map((r) => r.value!.toString())).toEqual(['v5']);
  });

  it(`${label}: offsetsForTime gives the first offset at or after a timestamp, endOffsets and read replay`, async () => {
    const bus = await openBus();
    const topic = topicName('time');
    await bus.ensureTopics([{ name: topic, partitions: 1, retentionMs: -1, cleanupPolicy: 'delete' }]);
    const t0 = Date.now() - 60_000;
    await bus.produce(
      topic,
      [0, 1000, 2000, 3000].map((d, i) => ({ key: 'k', value: `r${i}`, timestamp: t0 + d })),
    );
    const at = async (ts: number) => (await bus.offsetsForTime(topic, ts))[0]!.offset;
    expect(await at(t0 - 1)).toBe('0');
    expect(await at(t0)).toBe('0');
    expect(await at(t0 + 500)).toBe('1');
    expect(await at(t0 + 2000)).toBe('2');
    expect(await at(t0 + 10_000)).toBe('4');
    expect(await bus.endOffsets(topic)).toEqual([{ partition: 0, offset: '4' }]);
    const replay = await bus.read(topic, 0, '1', 2);
    expect(replay.map((r) => [r.offset, r.value!.toString()])).toEqual([
      ['1', 'r1'],
      ['2', 'r2'],
    ]);
    expect(await bus.read(topic, 0, '4', 10)).toEqual([]);
  });

  it(`${label}: a null value (a compacted topic's tombstone) is stored and read back as null`, async () => {
    const bus = await openBus();
    const topic = topicName('tombstone');
    await bus.ensureTopics([{ name: topic, partitions: 1, retentionMs: -1, cleanupPolicy: 'compact' }]);
    await bus.produce(topic, [
      { key: 'k', value: 'v' },
      { key: 'k', value: null },
    ]);
    const recs = await bus.read(topic, 0, '0', 10);
    expect(recs.map((r) => [r.key?.toString(), r.value?.toString() ?? null])).toEqual([
      ['k', 'v'],
      ['k', null],
    ]);
  });

  it(`${label}: retention by age removes expired records from the log start`, async () => {
    const bus = await openBus();
    const topic = topicName('retention');
    await bus.ensureTopics([{ name: topic, partitions: 1, retentionMs: 60_000, cleanupPolicy: 'delete' }]);
    const old = Date.now() - 3_600_000;
    await bus.produce(
      topic,
      Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: `old${i}`, timestamp: old + i })),
    );
    // Not read back here: a broker may already have removed them (Kafka checks every 2 s in kafka.sh).
    expect(await bus.endOffsets(topic)).toEqual([{ partition: 0, offset: '5' }]);
    await waitFor(
      'retention',
      async () => {
        await harness.retentionPass(bus);
        return (await bus.read(topic, 0, '0', 10)).length === 0;
      },
      60_000,
    );
    await bus.produce(topic, [{ key: 'k', value: 'fresh' }]);
    const left = await bus.read(topic, 0, '0', 10);
    expect(left.map((r) => [r.offset, r.value!.toString()])).toEqual([['5', 'fresh']]);
  });

  it(`${label}: an outage in the middle of a stream loses no event (count in = count out)`, async () => {
    const producer = await openBus();
    const consumerBus = await openBus();
    const topic = topicName('outage');
    await producer.ensureTopics([{ name: topic, partitions: 3, retentionMs: -1, cleanupPolicy: 'delete' }]);
    const seen = new Set<string>();
    let deliveries = 0;
    const sub = await consumerBus.consume({
      groupId: `g-${uid()}`,
      topics: [topic],
      fromBeginning: true,
      maxBatchSize: 200,
      handler: async (b) => {
        for (const r of b.records) {
          deliveries++;
          seen.add(r.value!.toString());
        }
      },
    });
    subs.push(sub);
    const total = 3000;
    const batch = 100;
    const errors: unknown[] = [];
    let outage: Promise<void> | null = null;
    for (let i = 0; i < total; i += batch) {
      if (i === total / 3) outage = harness.interrupt();
      const records = Array.from({ length: batch }, (_, j) => ({
        key: `k${(i + j) % 13}`,
        value: `e${i + j}`,
      }));
      await produceRetrying(producer, topic, records, errors);
      await sleep(20);
    }
    await outage;
    await waitFor(`${total} distinct events`, () => seen.size >= total, 90_000);
    expect(seen.size).toBe(total);
    for (const e of errors) expect(isRetriable(e), String(e)).toBe(true);
    console.log(
      `[${label}] outage: ${total} produced, ${seen.size} distinct consumed, ${deliveries - seen.size} redelivered, ${errors.length} produce calls rejected (retriable) and retried`,
    );
  });
}
