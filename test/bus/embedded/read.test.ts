import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { preparePage, readPage } from '../../../bus/embedded/read.ts';
import { openDatabase } from '../../../bus/embedded/schema.ts';

describe('readPage: one page of a partition as views into concatenated blobs', () => {
  let db: Database.Database;
  const insert = (
    offset: number,
    key: Buffer | null,
    value: Buffer | null,
    headers: string | null,
    partition = 0,
  ) =>
    db
      .prepare(
        'INSERT INTO records (topic_id, partition, offset, ts, ts_max, key, value, headers, size) VALUES (1, ?, ?, ?, ?, ?, ?, ?, 0)',
      )
      .run(partition, offset, 1000 + offset, 1000 + offset, key, value, headers);

  beforeEach(() => {
    db = openDatabase(':memory:', { busyTimeoutMs: 100, fsync: false, create: true });
  });
  afterEach(() => db.close());

  it('returns every column of each record as the row query did: null key, tombstone, empty key, headers, gaps', () => {
    insert(0, Buffer.from('k0'), Buffer.from('{"a":"é"}'), null);
    insert(1, null, Buffer.from('v1'), '{"h":"ü","x":"2"}');
    insert(3, Buffer.from('k3'), null, null); // a gap at 2 (compaction), a tombstone
    insert(4, Buffer.alloc(0), Buffer.from([0, 255, 10, 0]), null); // an empty key, bytes that are not UTF-8
    insert(5, Buffer.from('other partition'), Buffer.from('x'), null, 1);
    const page = readPage(preparePage(db), 't', 1, 0, 0, 10);
    expect(
      page.map((r) => ({
        ...r,
        key: r.key === null ? null : [...r.key],
        value: r.value === null ? null : [...r.value],
        headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()])),
      })),
    ).toEqual([
      {
        topic: 't',
        partition: 0,
        offset: '0',
        timestamp: 1000,
        key: [...Buffer.from('k0')],
        value: [...Buffer.from('{"a":"é"}')],
        headers: {},
      },
      {
        topic: 't',
        partition: 0,
        offset: '1',
        timestamp: 1001,
        key: null,
        value: [...Buffer.from('v1')],
        headers: { h: 'ü', x: '2' },
      },
      {
        topic: 't',
        partition: 0,
        offset: '3',
        timestamp: 1003,
        key: [...Buffer.from('k3')],
        value: null,
        headers: {},
      },
      {
        topic: 't',
        partition: 0,
        offset: '4',
        timestamp: 1004,
        key: [],
        value: [0, 255, 10, 0],
        headers: {},
      },
    ]);
  });

  it('starts at the offset, stops at max, and an empty range is an empty page', () => {
    for (let i = 0; i < 50; i++) insert(i, Buffer.from(`k${i}`), Buffer.from(`value-${i}`), null);
    const stmt = preparePage(db);
    const page = readPage(stmt, 't', 1, 0, 17, 5);
    expect(page.map((r) => [r.offset, r.key?.toString(), r.value?.toString()])).toEqual(
      [17, 18, 19, 20, 21].map((i) => [String(i), `k${i}`, `value-${i}`]),
    );
    expect(readPage(stmt, 't', 1, 0, 50, 5)).toEqual([]);
    expect(readPage(stmt, 't', 1, 2, 0, 5)).toEqual([]);
  });

  it('a page too big for SQLite (SQLITE_TOOBIG) is read as smaller pages, down to one record', () => {
    for (let i = 0; i < 8; i++) insert(i, null, Buffer.from(`v${i}`), null);
    const real = preparePage(db);
    const asked: number[] = [];
    // SQLite's 1e9-byte limit cannot be lowered from here: a statement that fails as SQLite would above 2 records.
    const limited = {
      get: (...a: Parameters<typeof real.get>) => {
        asked.push(a[4]);
        if (a[4] > 2) throw Object.assign(new Error('string or blob too big'), { code: 'SQLITE_TOOBIG' });
        return real.get(...a);
      },
    };
    const page = readPage(limited, 't', 1, 0, 3, 8);
    expect(page.map((r) => [r.offset, r.value?.toString()])).toEqual([
      ['3', 'v3'],
      ['4', 'v4'],
    ]);
    expect(asked).toEqual([8, 4, 2]);
    const one = {
      get: () => {
        throw Object.assign(new Error('string or blob too big'), { code: 'SQLITE_TOOBIG' });
      },
    };
    expect(() => readPage(one, 't', 1, 0, 0, 1)).toThrow('string or blob too big');
  });
});
