import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EMBEDDED_BUS_DEFAULTS } from '../../bus/config.ts';
import { EmbeddedBus } from '../../bus/embedded/index.ts';
import { BrokerUnavailableError, BusClosedError, TopicError } from '../../bus/errors.ts';
import type { InRecord, Subscription } from '../../bus/types.ts';
import { busConformance, waitFor } from './conformance.ts';
import { embeddedHarness } from './embedded-harness.ts';

const harness = embeddedHarness();
afterAll(() => harness.cleanup());

describe('embedded log: the bus conformance suite', () => {
  busConformance('embedded', harness);
});

describe('embedded log', () => {
  const h = embeddedHarness();
  const buses: EmbeddedBus[] = [];
  const subs: Subscription[] = [];
  const open = (opts: Record<string, unknown> = {}) => {
    const b = new EmbeddedBus({
      ...EMBEDDED_BUS_DEFAULTS,
      dir: h.dir,
      pollIntervalMs: 20,
      fsync: false,
      ...opts,
    });
    buses.push(b);
    return b;
  };
  afterEach(async () => {
    for (const s of subs.splice(0)) await s.stop();
    for (const b of buses.splice(0)) await b.close();
  });
  afterAll(() => h.cleanup());

  it('keeps records, topic settings and committed offsets across a restart', async () => {
    const a = open();
    await a.ensureTopics([
      { name: 'durable', partitions: 2, retentionMs: 1000, retentionBytes: 5000, cleanupPolicy: 'delete' },
    ]);
    await a.produce(
      'durable',
      Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    );
    const got: InRecord[] = [];
    const sub = await a.consume({
      groupId: 'g',
      topics: ['durable'],
      handler: async (b) => void got.push(...b.records),
    });
    await waitFor('10', () => got.length === 10);
    await sub.stop();
    await a.close();
    const b = open();
    expect((await b.endOffsets('durable')).reduce((n, e) => n + Number(e.offset), 0)).toBe(10);
    const [desc] = await b.describeTopics(['durable']);
    expect(desc).toMatchObject({
      partitions: 2,
      retentionMs: 1000,
      retentionBytes: 5000,
      cleanupPolicy: 'delete',
    });
    await b.produce('durable', [{ key: 'x', value: 'after-restart' }]);
    const later: InRecord[] = [];
    subs.push(
      await b.consume({
        groupId: 'g',
        topics: ['durable'],
        handler: async (bt) => void later.push(...bt.records),
      }),
    );
    await waitFor('1', () => later.length === 1);
    await sleep(100);
    expect(later.map((r) => r.value!.toString())).toEqual(['after-restart']);
  });

  it('ensureTopics leaves an existing topic as it is and rejects a bad partition count', async () => {
    const b = open();
    await b.ensureTopics([{ name: 'keep', partitions: 3, retentionMs: -1, cleanupPolicy: 'delete' }]);
    await b.ensureTopics([{ name: 'keep', partitions: 8, retentionMs: 5, cleanupPolicy: 'compact' }]);
    expect((await b.describeTopics(['keep']))[0]).toMatchObject({ partitions: 3, retentionMs: -1 });
    await expect(
      b.ensureTopics([{ name: 'bad', partitions: 0, retentionMs: -1, cleanupPolicy: 'delete' }]),
    ).rejects.toThrow(TopicError);
  });

  it('sees records produced by another process, which waits for the lock instead of failing', async () => {
    const b = open();
    await b.ensureTopics([{ name: 'shared', partitions: 3, retentionMs: -1, cleanupPolicy: 'delete' }]);
    const got: InRecord[] = [];
    subs.push(
      await b.consume({
        groupId: 'g',
        topics: ['shared'],
        handler: async (bt) => void got.push(...bt.records),
      }),
    );
    const writer = (async () => {
      for (let i = 0; i < 20; i++) await b.produce('shared', [{ key: `p${i}`, value: `p${i}` }]);
    })();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/bus/fixtures/embedded-producer.ts', h.dir, 'shared', '200'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const [code] = await once(child, 'exit');
    await writer;
    expect(code).toBe(0);
    await waitFor('220 records', () => got.length >= 220, 30_000);
    expect(new Set(got.map((r) => r.value!.toString())).size).toBe(220);
  });

  it('records acknowledged before the writer is killed are there afterwards', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/bus/fixtures/embedded-producer.ts', h.dir, 'killed', '100000'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let acked = 0;
    child.stdout.on('data', (d: Buffer) => {
      const m = /acked (\d+)\n(?![\s\S]*acked)/.exec(d.toString());
      if (m) acked = Number(m[1]);
    });
    await waitFor('some acks', () => acked >= 200, 30_000);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const b = open();
    const end = (await b.endOffsets('killed'))[0]!;
    expect(Number(end.offset)).toBeGreaterThanOrEqual(acked);
    const all = await b.read('killed', 0, '0', acked);
    expect(all.map((r) => r.value!.toString())).toEqual(Array.from({ length: acked }, (_, i) => `c${i}`));
  });

  it('a commit waiting for the write lock does not stall the event loop (the writer is a worker thread)', async () => {
    const b = open({ busyTimeoutMs: 5000, fsync: true });
    await b.ensureTopics([{ name: 'locked', partitions: 1, retentionMs: -1, cleanupPolicy: 'delete' }]);
    // Another connection holds the write lock (as another process would) and lets go from a timer of this
    // thread: a produce that waited on this thread would hold the loop, the timer could never fire, and the
    // produce would end in SQLITE_BUSY after busyTimeoutMs.
    const locker = new Database(b.path);
    locker.exec('BEGIN IMMEDIATE');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    setTimeout(() => locker.exec('COMMIT'), 200);
    try {
      await b.produce('locked', [{ key: 'k', value: 'v' }]);
    } finally {
      clearInterval(ticker);
      locker.close();
    }
    expect(ticks).toBeGreaterThan(0);
    expect((await b.read('locked', 0, '0', 10)).map((r) => r.value!.toString())).toEqual(['v']);
  });

  it('a writer that dies fails the produces in flight with a retriable error; acknowledged records stay', async () => {
    const b = open();
    for (let i = 0; i < 10; i++) await b.produce('crash', [{ key: null, value: `acked-${i}` }]);
    const crash = b.writer.request({ op: 'crash' }).catch((e: unknown) => e);
    const inFlight = b.produce('crash', [{ key: null, value: 'unacked' }]).then(
      () => 'acked',
      (e: unknown) => e,
    );
    const outcome = await inFlight;
    await crash;
    // Either it made it before the exit (acknowledged, so on the log) or it failed retriably: never a silent loss.
    if (outcome !== 'acked') expect(outcome).toBeInstanceOf(BrokerUnavailableError);
    expect(b.writer.stats.restarts).toBe(1);
    await b.produce('crash', [{ key: null, value: 'after' }]); // a new writer
    const values = (await b.read('crash', 0, '0', 100)).map((r) => r.value!.toString());
    expect(values.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `acked-${i}`));
    expect(values.at(-1)).toBe('after');
    expect(values.includes('unacked')).toBe(outcome === 'acked');
  });

  it('produces arriving while a commit runs share the next commit (group commit), in order', async () => {
    const b = open({ fsync: true });
    await b.produce('group', [{ key: 'k', value: 'warm' }]);
    const before = b.writer.stats.commits;
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => b.produce('group', [{ key: 'k', value: `v${i}` }])),
    );
    expect(b.writer.stats.commits - before).toBeLessThan(200);
    const values = (await b.read('group', 0, '1', 1000)).map((r) => r.value!.toString());
    expect(values).toEqual(Array.from({ length: 200 }, (_, i) => `v${i}`));
  });

  it('the writer hands each batch buffer back and later batches are encoded into it, records intact', async () => {
    const b = open();
    const expected: string[] = [];
    // Sequential and concurrent produces of varied sizes: a reused buffer must never leak bytes of
    // the batch it held before into the next one.
    for (let round = 0; round < 5; round++) {
      const calls = Array.from({ length: 4 }, (_, c) => {
        const values = Array.from(
          { length: 1 + ((round * 7 + c * 3) % 11) },
          (_, i) => `r${round}c${c}i${i}:${'x'.repeat((round * 997 + c * 131 + i * 17) % 3000)}`,
        );
        return values;
      });
      for (const values of calls) expected.push(...values);
      await Promise.all(
        calls.map((values) =>
          b.produce(
            'pooled',
            values.map((value) => ({ key: 'k', value })),
          ),
        ),
      );
      expect(b.batchBuffers.size).toBeGreaterThan(0);
    }
    const got = (await b.read('pooled', 0, '0', 10_000)).map((r) => r.value!.toString());
    expect(got).toEqual(expected);
  });

  it('retention by size keeps the newest records within the bound per partition', async () => {
    const b = open();
    await b.ensureTopics([
      { name: 'sized', partitions: 1, retentionMs: -1, retentionBytes: 1000, cleanupPolicy: 'delete' },
    ]);
    await b.produce(
      'sized',
      Array.from({ length: 50 }, (_, i) => ({ key: null, value: 'x'.repeat(100 - String(i).length) + i })),
    );
    await b.enforceRetention();
    const left = await b.read('sized', 0, '0', 100);
    expect(left.map((r) => r.offset)).toEqual(Array.from({ length: 10 }, (_, i) => String(40 + i)));
    expect((await b.describeTopics(['sized']))[0]!.offsets).toEqual([
      { partition: 0, start: '40', end: '50' },
    ]);
    await b.enforceRetention();
    expect((await b.read('sized', 0, '0', 100)).length).toBe(10);
  });

  it('retention ignores consumer groups: a lagging group resumes at the new log start', async () => {
    const b = open();
    await b.ensureTopics([{ name: 'lag', partitions: 1, retentionMs: 1000, cleanupPolicy: 'delete' }]);
    // Kafka expires by the running maximum timestamp (a segment's largest): old records after a newer one
    // stay, so every record before 'new' is old here.
    await b.produce('lag', [{ key: null, value: 'first', timestamp: Date.now() - 20_000 }]);
    const got: InRecord[] = [];
    const sub = await b.consume({
      groupId: 'slow',
      topics: ['lag'],
      handler: async (bt) => void got.push(...bt.records),
    });
    await waitFor('first', () => got.length === 1);
    await sub.stop();
    await b.produce(
      'lag',
      [1, 2, 3].map((i) => ({ key: null, value: `old${i}`, timestamp: Date.now() - 10_000 })),
    );
    await b.produce('lag', [{ key: null, value: 'new' }]);
    await b.enforceRetention();
    expect((await b.describeTopics(['lag']))[0]!.offsets[0]!.start).toBe('4');
    subs.push(
      await b.consume({
        groupId: 'slow',
        topics: ['lag'],
        handler: async (bt) => void got.push(...bt.records),
      }),
    );
    await waitFor('new', () => got.length === 2);
    expect(got.map((r) => [r.offset, r.value!.toString()])).toEqual([
      ['0', 'first'],
      ['4', 'new'],
    ]);
  });

  it('compaction keeps the latest record per key', async () => {
    const b = open();
    await b.ensureTopics([{ name: 'compacted', partitions: 1, retentionMs: -1, cleanupPolicy: 'compact' }]);
    await b.produce(
      'compacted',
      ['a', 'b', 'a', 'c', 'b', 'a'].map((k, i) => ({ key: k, value: `${k}${i}` })),
    );
    await b.enforceRetention();
    const left = await b.read('compacted', 0, '0', 10);
    expect(left.map((r) => [r.offset, r.value!.toString()])).toEqual([
      ['3', 'c3'],
      ['4', 'b4'],
      ['5', 'a5'],
    ]);
  });

  it('offsetsForTime follows the running maximum timestamp, as Kafka does', async () => {
    const b = open();
    await b.ensureTopics([{ name: 'skew', partitions: 1, retentionMs: -1, cleanupPolicy: 'delete' }]);
    await b.produce(
      'skew',
      [100, 300, 200, 400].map((ts) => ({ key: null, value: String(ts), timestamp: ts })),
    );
    const at = async (ts: number) => (await b.offsetsForTime('skew', ts))[0]!.offset;
    expect(await at(150)).toBe('1');
    expect(await at(250)).toBe('1');
    expect(await at(350)).toBe('3');
    expect(await at(500)).toBe('4');
  });

  it('offsetsForTime equals a scan for the first record with timestamp >= t, with gaps from compaction', async () => {
    const b = open();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.constantFrom('a', 'b', 'c', 'd')), {
          minLength: 1,
          maxLength: 60,
        }),
        fc.integer({ min: -10, max: 1010 }),
        fc.boolean(),
        async (recs, t, compact) => {
          const name = `prop-${n++}`;
          await b.ensureTopics([
            { name, partitions: 1, retentionMs: -1, cleanupPolicy: compact ? 'compact' : 'delete' },
          ]);
          await b.produce(
            name,
            recs.map(([ts, key]) => ({ key, value: String(ts), timestamp: ts })),
          );
          if (compact) await b.enforceRetention();
          const left = await b.read(name, 0, '0', 100);
          const idx = left.findIndex((r) => r.timestamp >= t);
          const expected = idx === -1 ? String(recs.length) : left[idx]!.offset;
          expect((await b.offsetsForTime(name, t))[0]!.offset).toBe(expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('one consumer of a group owns a partition; another takes over when it stops', async () => {
    const b = open({ leaseMs: 1500 });
    const c = open({ leaseMs: 1500 });
    await b.ensureTopics([{ name: 'owned', partitions: 1, retentionMs: -1, cleanupPolicy: 'delete' }]);
    const gotB: string[] = [];
    const gotC: string[] = [];
    const subB = await b.consume({
      groupId: 'g',
      topics: ['owned'],
      handler: async (bt) => void gotB.push(...bt.records.map((r) => r.value!.toString())),
    });
    subs.push(
      await c.consume({
        groupId: 'g',
        topics: ['owned'],
        handler: async (bt) => void gotC.push(...bt.records.map((r) => r.value!.toString())),
      }),
    );
    await b.produce('owned', [{ key: null, value: 'one' }]);
    await waitFor('one', () => gotB.length === 1);
    await subB.stop();
    await b.produce('owned', [{ key: null, value: 'two' }]);
    // c looks at the lease again within leaseMs/3.
    await waitFor('two', () => gotC.length === 1, 15_000);
    expect(gotB).toEqual(['one']);
    expect(gotC).toEqual(['two']);
  });

  it('a locked log rejects produce with a retriable error; a closed bus rejects with a non-retriable one', async () => {
    const b = open({ busyTimeoutMs: 50 });
    await b.ensureTopics([{ name: 'locked', partitions: 1, retentionMs: -1, cleanupPolicy: 'delete' }]);
    const outage = h.interrupt();
    await sleep(100);
    const err = await b.produce('locked', [{ key: null, value: 'x' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerUnavailableError);
    await outage;
    await b.produce('locked', [{ key: null, value: 'x' }]);
    await b.close();
    await expect(b.produce('locked', [{ key: null, value: 'y' }])).rejects.toThrow(BusClosedError);
  });
});
