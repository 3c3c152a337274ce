import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeRecords,
  encodedSize,
  encodeRecord,
  maxEncodedSize,
  Spool,
  type SpoolRecord,
} from '../../../adapter/emit/spool.ts';
import { silentLogger, tempDir } from './helpers.ts';

const rec = (i: number, size = 10): SpoolRecord => ({
  topic: 't.v1',
  key: i % 3 === 0 ? null : `k${i}`,
  value: `${i}:${'v'.repeat(size)}`,
  enqueuedAt: 1_700_000_000_000 + i,
});

let cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});

function spoolIn(dir: string, maxBytes = 1 << 20, segmentBytes = 4096) {
  const drops: Array<[number, string]> = [];
  const spool = new Spool(dir, {
    maxBytes,
    segmentBytes,
    logger: silentLogger,
    onDrop: (n, reason) => drops.push([n, reason]),
  });
  return { spool, drops };
}

async function readAll(spool: Spool, batch = 7): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  for (;;) {
    const { records, next } = await spool.read(batch);
    if (records.length === 0) return out;
    out.push(...records);
    await spool.commit(next);
  }
}

describe('spool record format', () => {
  it('round-trips records, null keys and unicode', () => {
    const rs = [rec(0), rec(1), { topic: 'ü.v1', key: 'ключ', value: '{"a":"€"}', enqueuedAt: 5.5 }];
    const d = decodeRecords(Buffer.concat(rs.map(encodeRecord)));
    expect(d.stop).toBe('ok');
    expect(d.records).toEqual(rs);
  });

  it('maxEncodedSize bounds the encoded size whatever the characters (the journal encodes on the bound)', () => {
    for (const text of ['', 'ascii', 'é', '€uro', '😀 emoji', '\u{10FFFF}', 'ключ'.repeat(50)]) {
      const r = { topic: `t${text}`, key: text || null, value: `{"v":"${text}"}`, enqueuedAt: 1 };
      expect(maxEncodedSize(r)).toBeGreaterThanOrEqual(encodedSize(r));
      expect(encodeRecord(r).length).toBe(encodedSize(r));
    }
  });

  it('detects a torn tail and a flipped bit', () => {
    const buf = Buffer.concat([encodeRecord(rec(1)), encodeRecord(rec(2))]);
    const torn = decodeRecords(buf.subarray(0, buf.length - 3));
    expect(torn.records).toHaveLength(1);
    expect(torn.stop).toBe('partial');
    const flipped = Buffer.from(buf);
    flipped[flipped.length - 2]! ^= 0x40;
    const bad = decodeRecords(flipped);
    expect(bad.records).toHaveLength(1);
    expect(bad.stop).toBe('corrupt');
  });
});

describe('Spool', () => {
  it('reads back in order across segments and deletes delivered segments', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { spool } = spoolIn(dir, 1 << 20, 512);
    await spool.open();
    for (let b = 0; b < 20; b++) await spool.append(Array.from({ length: 5 }, (_, i) => rec(b * 5 + i)));
    expect(spool.pending).toBe(100);
    expect(readdirSync(dir).filter((f) => f.endsWith('.seg')).length).toBeGreaterThan(3);
    const all = await readAll(spool);
    expect(all.map((r) => r.value.split(':')[0])).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    expect(spool.pending).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.seg')).length).toBeLessThanOrEqual(1);
    await spool.close();
  });

  it('resumes from the committed cursor after reopening (nothing skipped, nothing re-read)', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const a = spoolIn(dir, 1 << 20, 300).spool;
    await a.open();
    await a.append(Array.from({ length: 40 }, (_, i) => rec(i)));
    const first = await a.read(15);
    await a.commit(first.next);
    await a.read(10); // read but not committed: must come again
    await a.close();
    const b = spoolIn(dir, 1 << 20, 300).spool;
    await b.open();
    expect(b.pending).toBe(25);
    const rest = await readAll(b);
    expect(rest.map((r) => Number(r.value.split(':')[0]))).toEqual(
      Array.from({ length: 25 }, (_, i) => i + 15),
    );
    await b.close();
  });

  it('truncates a torn tail left by a crash and keeps everything before it', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const a = spoolIn(dir).spool;
    await a.open();
    await a.append(Array.from({ length: 10 }, (_, i) => rec(i)));
    await a.close();
    const seg = readdirSync(dir).find((f) => f.endsWith('.seg'))!;
    const half = encodeRecord(rec(99)).subarray(0, 11);
    appendFileSync(join(dir, seg), half);
    const b = spoolIn(dir).spool;
    await b.open();
    expect(b.pending).toBe(10);
    expect((await readAll(b)).length).toBe(10);
    await b.close();
  });

  it('when full, drops the oldest segments, reports how many events, and keeps the newest', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { spool, drops } = spoolIn(dir, 8 * 1024, 1024);
    await spool.open();
    for (let i = 0; i < 200; i++) await spool.append([rec(i, 100)]);
    const dirBytes = readdirSync(dir)
      .filter((f) => f.endsWith('.seg'))
      .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    expect(dirBytes).toBeLessThanOrEqual(8 * 1024);
    expect(spool.bytes).toBe(dirBytes);
    const dropped = drops.reduce((n, [c]) => n + c, 0);
    expect(drops.every(([, r]) => r === 'spool-full')).toBe(true);
    expect(dropped).toBeGreaterThan(0);
    const left = await readAll(spool);
    expect(left.length + dropped).toBe(200);
    // A contiguous suffix: the oldest went, the newest stayed, order kept.
    expect(left.map((r) => Number(r.value.split(':')[0]))).toEqual(
      Array.from({ length: left.length }, (_, i) => 200 - left.length + i),
    );
    await spool.close();
  });
});
