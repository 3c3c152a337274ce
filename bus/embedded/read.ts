/**
 * The embedded log's read path: one page of a partition in one SQLite row. better-sqlite3 copies
 * every BLOB column into a Buffer of its own (a malloc'd backing store per key and per value, each
 * with a finalizer for the GC: measured ~2 µs a record, most of a scan, and most of a replay's GC).
 * The page query concatenates the page's keys, values and headers into one BLOB each (group_concat
 * over the ordered range) with a text column of per-record offset, timestamp and lengths; records
 * are views into those blobs. A view pins its page's blobs: a page is at most `max` records, and a
 * handler that keeps a record keeps its page.
 */
import Database from 'better-sqlite3';
import type { InRecord } from '../types.ts';

// A record's coordinates and lengths, comma-separated, -1 for NULL: "offset,ts,klen,vlen,hlen,".
// group_concat aggregates the ordered subquery's rows in order; decode() checks the offsets rise.
const PAGE_SQL = `
SELECT count(*) AS n,
  group_concat(offset || ',' || ts || ',' || coalesce(length(CAST(key AS BLOB)), -1) || ',' || coalesce(length(CAST(value AS BLOB)), -1)
    || ',' || coalesce(length(CAST(headers AS BLOB)), -1) || ',', '') AS meta,
  CAST(group_concat(coalesce(CAST(key AS BLOB), x''), '') AS BLOB) AS keys,
  CAST(group_concat(coalesce(CAST(value AS BLOB), x''), '') AS BLOB) AS vals,
  CAST(group_concat(coalesce(CAST(headers AS BLOB), x''), '') AS BLOB) AS hdrs
FROM (SELECT offset, ts, key, value, headers FROM records
      WHERE topic_id = ? AND partition = ? AND offset >= ? AND offset < ? ORDER BY offset LIMIT ?)`;

interface PageRow {
  n: number;
  meta: string | null;
  keys: Buffer | null;
  vals: Buffer | null;
  hdrs: Buffer | null;
}

export type PageStatement = Pick<
  Database.Statement<[number, number, number, number, number], PageRow>,
  'get'
>;

export function preparePage(db: Database.Database): PageStatement {
  return db.prepare<[number, number, number, number, number], PageRow>(PAGE_SQL);
}

const EMPTY = Buffer.alloc(0);
const COMMA = 44;
const MINUS = 45;

/** Reads a page: up to `max` records of the partition from `offset` on (before `end`), in offset order. */
export function readPage(
  stmt: PageStatement,
  topic: string,
  topicId: number,
  partition: number,
  offset: number,
  max: number,
  end = Number.MAX_SAFE_INTEGER,
): InRecord[] {
  let row: PageRow | undefined;
  try {
    row = stmt.get(topicId, partition, offset, end, max);
  } catch (err) {
    // A page's blobs over SQLite's length limit (1e9 bytes: a page of very large records): smaller
    // pages, down to one record, rather than a page no reader can ever get past.
    if ((err as { code?: unknown }).code === 'SQLITE_TOOBIG' && max > 1)
      return readPage(stmt, topic, topicId, partition, offset, Math.ceil(max / 2), end);
    throw err;
  }
  if (!row || row.n === 0 || row.meta === null) return [];
  return decodePage(topic, partition, row);
}

export function decodePage(topic: string, partition: number, row: PageRow): InRecord[] {
  const meta = row.meta!;
  const keys = row.keys ?? EMPTY;
  const vals = row.vals ?? EMPTY;
  const hdrs = row.hdrs ?? EMPTY;
  const out: InRecord[] = new Array(row.n);
  let at = 0;
  // Integers of the meta column, parsed in place (no split: 5 strings a record).
  const int = (): number => {
    let neg = false;
    let c = meta.charCodeAt(at);
    if (c === MINUS) {
      neg = true;
      c = meta.charCodeAt(++at);
    }
    let v = 0;
    while (c !== COMMA) {
      v = v * 10 + (c - 48);
      c = meta.charCodeAt(++at);
    }
    at++;
    return neg ? -v : v;
  };
  let k = 0;
  let v = 0;
  let h = 0;
  let last = -1;
  for (let i = 0; i < row.n; i++) {
    const offset = int();
    const ts = int();
    const klen = int();
    const vlen = int();
    const hlen = int();
    if (offset <= last) throw new Error(`embedded log page out of order at offset ${offset} after ${last}`);
    last = offset;
    const headers: Record<string, Buffer> = {};
    if (hlen > 0) {
      const json = hdrs.toString('utf8', h, h + hlen);
      for (const [name, value] of Object.entries(JSON.parse(json) as Record<string, string>))
        headers[name] = Buffer.from(value);
    }
    out[i] = {
      topic,
      partition,
      offset: String(offset),
      timestamp: ts,
      key: klen < 0 ? null : keys.subarray(k, k + klen),
      value: vlen < 0 ? null : vals.subarray(v, v + vlen),
      headers,
    };
    if (klen > 0) k += klen;
    if (vlen > 0) v += vlen;
    if (hlen > 0) h += hlen;
  }
  if (at !== meta.length || k !== keys.length || v !== vals.length || h !== hdrs.length)
    throw new Error('embedded log page does not add up (meta and blobs disagree)');
  return out;
}

/** Where a reader on another thread finds a topic's records (EmbeddedBus.readerSpec). */
export interface ReaderSpec {
  path: string;
  topic: string;
  topicId: number;
  busyTimeoutMs: number;
}

/**
 * A read-only connection of its own over the log (a replay worker): in WAL mode it reads while the
 * bus's writer appends, as the bus's own reader does.
 */
export function openPageReader(spec: ReaderSpec) {
  const db = new Database(spec.path, { readonly: true, fileMustExist: true, timeout: spec.busyTimeoutMs });
  const stmt = preparePage(db);
  return {
    /** The records of [from, end) of the partition, at most max. */
    read: (partition: number, from: number, end: number, max: number): InRecord[] =>
      readPage(stmt, spec.topic, spec.topicId, partition, from, max, end),
    close: () => db.close(),
  };
}
