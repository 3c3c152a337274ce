import { describe, expect, it } from 'vitest';
import {
  BatchBuffers,
  decodeWireBatch,
  encodeWireBatch,
  type WireRecord,
} from '../../../bus/embedded/produce.ts';

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
