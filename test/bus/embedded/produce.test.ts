import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogWriter } from '../../../bus/embedded/log-writer.ts';
import {
  BatchBuffers,
  decodeWireBatch,
  encodeWireBatch,
  type WireRecord,
} from '../../../bus/embedded/produce.ts';
import { openDatabase } from '../../../bus/embedded/schema.ts';
import { partitionOfBytes } from '../../../bus/partition.ts';

const records = (n: number, size: number): WireRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    key: `k${i}`,
    value: `${'é'.repeat(size)}${i}`,
    headers: i % 2 ? '{"h":"1"}' : null,
    ts: 1_700_000_000_000 + i,
  }));

const decoded = (buf: Buffer) =>
  [...decodeWireBatch(buf)].map((r) => ({
    key: r.key?.toString(),
    value: r.value?.toString(),
    headers: r.headers,
    ts: r.ts,
  }));

describe('BatchBuffers', () => {
  it('encodes into a view of exactly the batch over a buffer that holds nothing else', () => {
    const pool = new BatchBuffers({ keep: 2, maxBytes: 1 << 20, minBytes: 4096 });
    const batch = records(3, 10);
    const buf = encodeWireBatch(batch, pool.take);
    expect(buf.byteOffset).toBe(0);
    expect(buf.buffer.byteLength).toBe(4096);
    expect(buf.byteLength).toBeLessThan(4096);
    expect(decoded(buf)).toEqual(batch);
  });

  it('reuses a handed-back buffer, the smallest that fits, and the reused bytes decode to the new batch only', () => {
    const pool = new BatchBuffers({ keep: 4, maxBytes: 1 << 20, minBytes: 1024 });
    const big = encodeWireBatch(records(40, 100), pool.take);
    const small = encodeWireBatch(records(1, 5), pool.take);
    pool.give(big.buffer as ArrayBuffer);
    pool.give(small.buffer as ArrayBuffer);
    expect(pool.size).toBe(2);
    const next = records(2, 3);
    const again = encodeWireBatch(next, pool.take);
    // The 1 KiB buffer fits and is the smaller: the big one stays free for a big batch.
    expect(again.buffer).toBe(small.buffer);
    expect(decoded(again)).toEqual(next);
    expect(pool.size).toBe(1);
  });

  it('keeps at most `keep` buffers and none over maxBytes (those are left to the GC)', () => {
    const pool = new BatchBuffers({ keep: 1, maxBytes: 8192, minBytes: 1024 });
    pool.give(new ArrayBuffer(1 << 20));
    expect(pool.size).toBe(0);
    pool.give(new ArrayBuffer(2048));
    pool.give(new ArrayBuffer(2048));
    expect(pool.size).toBe(1);
    // A batch over maxBytes gets a buffer of its exact size (not a power of two of it).
    const huge = pool.take(10_000);
    expect(huge.buffer.byteLength).toBe(10_000);
  });
});

describe('appendBatches (multi-row inserts)', () => {
  it('stores every record of batches around the rows-per-statement boundary, in order, offsets dense per partition', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-produce-'));
    try {
      const path = join(dir, 'log.db');
      openDatabase(path, { busyTimeoutMs: 1000, fsync: false, create: true }).close();
      const db = openDatabase(path, { busyTimeoutMs: 1000, fsync: false, create: false });
      const writer = new LogWriter(db, 1);
      writer.createTopics([{ name: 't', partitions: 3, retentionMs: -1, cleanupPolicy: 'delete' }]);
      // 1, 63, 64, 65 and 130 records (one call each), then two calls in one transaction (group commit).
      const sizes = [1, 63, 64, 65, 130];
      let n = 0;
      const batch = (size: number) =>
        encodeWireBatch(
          Array.from({ length: size }, () => {
            const i = n++;
            return { key: `k${i}`, value: `v${i}`, headers: i % 3 ? null : '{"h":"x"}', ts: 1000 + i };
          }),
        );
      for (const size of sizes) writer.produce([{ topic: 't', data: batch(size) }]);
      writer.produce([
        { topic: 't', data: batch(70) },
        { topic: 't', data: batch(5) },
      ]);
      const t = writer.stmt.topicByName.get('t')!;
      const stored = db
        .prepare<
          [number],
          {
            partition: number;
            offset: number;
            key: Buffer;
            value: Buffer;
            headers: string | null;
            ts: number;
            ts_max: number;
            size: number;
          }
        >(
          'SELECT partition, offset, key, value, headers, ts, ts_max, size FROM records WHERE topic_id = ? ORDER BY rowid',
        )
        .all(t.id);
      expect(stored).toHaveLength(n);
      const next = [0, 0, 0];
      stored.forEach((r, i) => {
        expect(r.key.toString()).toBe(`k${i}`);
        expect(r.value.toString()).toBe(`v${i}`);
        expect(r.headers).toBe(i % 3 ? null : '{"h":"x"}');
        expect(r.ts).toBe(1000 + i);
        expect(r.partition).toBe(partitionOfBytes(Buffer.from(`k${i}`), 3));
        expect(r.offset).toBe(next[r.partition]!++);
        expect(r.size).toBe(r.key.length + r.value.length + (r.headers?.length ?? 0));
      });
      const parts = writer.stmt.partitions.all(t.id);
      for (const p of parts) {
        const mine = stored.filter((r) => r.partition === p.partition);
        expect(p.next_offset).toBe(mine.length);
        expect(p.bytes).toBe(mine.reduce((s, r) => s + r.size, 0));
        expect(p.max_ts).toBe(Math.max(0, ...mine.map((r) => r.ts)));
      }
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
