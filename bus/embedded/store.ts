/**
 * The embedded log's SQLite layer: schema, prepared statements, and the write operations (topics,
 * produce, leases, commits, retention). The writes run on the writer worker's connection
 * (writer.ts), never on the event loop; EmbeddedBus keeps its own connection for reads. Both are
 * plain better-sqlite3 connections to one WAL database, so readers never wait for the writer.
 */
import Database from 'better-sqlite3';
import { partitionOfBytes } from '../partition.ts';

export interface TopicRow {
  id: number;
  name: string;
  partitions: number;
  retention_ms: number;
  retention_bytes: number;
  cleanup_policy: 'delete' | 'compact';
}

export interface PartitionRow {
  partition: number;
  next_offset: number;
  start_offset: number;
  max_ts: number;
  bytes: number;
}

export interface RecordRow {
  partition: number;
  offset: number;
  ts: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: string | null;
}

/** A record as the main thread hands it to encodeWireBatch (strings are encoded once, into the batch). */
export interface WireRecord {
  key: string | Uint8Array | null;
  value: string | Uint8Array;
  headers: string | null;
  ts: number;
}

/*
 * A produce batch crosses to the writer worker as one transferred ArrayBuffer (no structured clone
 * of per-record objects: measured ~5 µs per record on the loop, and again on the worker). Record:
 * f64 ts | i32 key length (-1 = null) | key | u32 value length | value | i32 headers length (-1 =
 * null) | headers (JSON, utf8); little-endian, back to back.
 */
const byteLength = (v: string | Uint8Array): number =>
  typeof v === 'string' ? Buffer.byteLength(v) : v.byteLength;

function put(buf: Buffer, o: number, v: string | Uint8Array, length: number): number {
  if (typeof v === 'string') buf.write(v, o, length, 'utf8');
  else buf.set(v, o);
  return o + length;
}

/** Encodes records into one standalone buffer (its ArrayBuffer can be transferred). */
export function encodeWireBatch(records: readonly WireRecord[]): Buffer {
  let total = 0;
  const lengths = new Array<number>(records.length * 3);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const k = r.key === null ? -1 : byteLength(r.key);
    const v = byteLength(r.value);
    const h = r.headers === null ? -1 : Buffer.byteLength(r.headers);
    lengths[i * 3] = k;
    lengths[i * 3 + 1] = v;
    lengths[i * 3 + 2] = h;
    total += 8 + 4 + Math.max(0, k) + 4 + v + 4 + Math.max(0, h);
  }
  const buf = Buffer.allocUnsafeSlow(total);
  let o = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const k = lengths[i * 3]!;
    const v = lengths[i * 3 + 1]!;
    const h = lengths[i * 3 + 2]!;
    o = buf.writeDoubleLE(r.ts, o);
    o = buf.writeInt32LE(k, o);
    if (r.key !== null) o = put(buf, o, r.key, k);
    o = buf.writeUInt32LE(v, o);
    o = put(buf, o, r.value, v);
    o = buf.writeInt32LE(h, o);
    if (r.headers !== null) o = put(buf, o, r.headers, h);
  }
  return buf;
}

/** One decoded record of a wire batch: key and value are views into the batch (no copy). */
export interface BatchRecord {
  ts: number;
  key: Buffer | null;
  value: Buffer;
  headers: string | null;
}

/** Walks a wire batch; throws on a malformed one (a bug: both sides are this file). */
export function* decodeWireBatch(data: Uint8Array): Generator<BatchRecord> {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let o = 0;
  while (o < buf.length) {
    const ts = buf.readDoubleLE(o);
    const k = buf.readInt32LE(o + 8);
    o += 12;
    const key = k < 0 ? null : buf.subarray(o, o + k);
    o += Math.max(0, k);
    const v = buf.readUInt32LE(o);
    o += 4;
    const value = buf.subarray(o, o + v);
    o += v;
    const h = buf.readInt32LE(o);
    o += 4;
    const headers = h < 0 ? null : buf.toString('utf8', o, o + h);
    o += Math.max(0, h);
    if (o > buf.length) throw new Error('truncated produce batch');
    yield { ts, key, value, headers };
  }
}

export interface TopicSpecRow {
  name: string;
  partitions: number;
  retentionMs: number;
  retentionBytes?: number;
  cleanupPolicy: 'delete' | 'compact';
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS topics (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  partitions INTEGER NOT NULL,
  retention_ms INTEGER NOT NULL,
  retention_bytes INTEGER NOT NULL,
  cleanup_policy TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS partitions (
  topic_id INTEGER NOT NULL,
  partition INTEGER NOT NULL,
  next_offset INTEGER NOT NULL DEFAULT 0,
  start_offset INTEGER NOT NULL DEFAULT 0,
  max_ts INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (topic_id, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  topic_id INTEGER NOT NULL,
  partition INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  ts_max INTEGER NOT NULL,
  key BLOB,
  value BLOB,
  headers TEXT,
  size INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_offset ON records (topic_id, partition, offset);
CREATE TABLE IF NOT EXISTS group_offsets (
  group_id TEXT NOT NULL,
  topic_id INTEGER NOT NULL,
  partition INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  PRIMARY KEY (group_id, topic_id, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
  group_id TEXT NOT NULL,
  topic_id INTEGER NOT NULL,
  partition INTEGER NOT NULL,
  owner TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (group_id, topic_id, partition)
) WITHOUT ROWID;
`;

const DELETE_CHUNK = 10_000;

/** Opens the database; `create` (the reader, first) sets it up, the writer only opens it. */
export function openDatabase(
  path: string,
  o: { busyTimeoutMs: number; fsync: boolean; create: boolean },
): Database.Database {
  const db = new Database(path, { timeout: o.busyTimeoutMs });
  if (o.create) {
    // auto_vacuum must be chosen before the first table exists; incremental lets retention give pages back.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
  }
  db.pragma(`synchronous = ${o.fsync ? 'FULL' : 'NORMAL'}`);
  if (o.create) db.exec(SCHEMA);
  return db;
}

export function prepare(db: Database.Database) {
  return {
    topicByName: db.prepare<[string], TopicRow>('SELECT * FROM topics WHERE name = ?'),
    allTopics: db.prepare<[], TopicRow>('SELECT * FROM topics ORDER BY name'),
    insertTopic: db.prepare(
      'INSERT OR IGNORE INTO topics (name, partitions, retention_ms, retention_bytes, cleanup_policy) VALUES (?, ?, ?, ?, ?)',
    ),
    insertPartition: db.prepare('INSERT OR IGNORE INTO partitions (topic_id, partition) VALUES (?, ?)'),
    partitions: db.prepare<[number], PartitionRow>(
      'SELECT partition, next_offset, start_offset, max_ts, bytes FROM partitions WHERE topic_id = ? ORDER BY partition',
    ),
    updatePartition: db.prepare(
      'UPDATE partitions SET next_offset = ?, max_ts = ?, bytes = ? WHERE topic_id = ? AND partition = ?',
    ),
    setStart: db.prepare(
      'UPDATE partitions SET start_offset = ?, bytes = ? WHERE topic_id = ? AND partition = ?',
    ),
    advanceStart: db.prepare(
      'UPDATE partitions SET start_offset = ?, bytes = bytes - ? WHERE topic_id = ? AND partition = ?',
    ),
    insertRecord: db.prepare(
      'INSERT INTO records (topic_id, partition, offset, ts, ts_max, key, value, headers, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    read: db.prepare<[number, number, number, number], RecordRow>(
      'SELECT partition, offset, ts, key, value, headers FROM records WHERE topic_id = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?',
    ),
    firstAtOrAfterTime: db.prepare<[number, number, number, number], { offset: number }>(
      'SELECT offset FROM records WHERE topic_id = ? AND partition = ? AND offset >= ? AND ts >= ? ORDER BY offset LIMIT 1',
    ),
    firstFrom: db.prepare<[number, number, number], { offset: number; ts_max: number }>(
      'SELECT offset, ts_max FROM records WHERE topic_id = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT 1',
    ),
    sizesFrom: db.prepare<[number, number], { offset: number; size: number }>(
      'SELECT offset, size FROM records WHERE topic_id = ? AND partition = ? ORDER BY offset',
    ),
    deleteBelow: db.prepare(
      'DELETE FROM records WHERE topic_id = ? AND partition = ? AND offset < ? AND offset >= ?',
    ),
    sumRange: db.prepare<[number, number, number, number], { n: number; bytes: number | null }>(
      'SELECT COUNT(*) AS n, SUM(size) AS bytes FROM records WHERE topic_id = ? AND partition = ? AND offset < ? AND offset >= ?',
    ),
    compact: db.prepare(
      `DELETE FROM records WHERE topic_id = @t AND partition = @p AND key IS NOT NULL AND offset NOT IN
         (SELECT MAX(offset) FROM records WHERE topic_id = @t AND partition = @p AND key IS NOT NULL GROUP BY key)`,
    ),
    partitionStats: db.prepare<[number, number], { first: number | null; bytes: number | null }>(
      'SELECT MIN(offset) AS first, SUM(size) AS bytes FROM records WHERE topic_id = ? AND partition = ?',
    ),
    committed: db.prepare<[string, number, number], { offset: number }>(
      'SELECT offset FROM group_offsets WHERE group_id = ? AND topic_id = ? AND partition = ?',
    ),
    commit: db.prepare(
      `INSERT INTO group_offsets (group_id, topic_id, partition, offset) VALUES (?, ?, ?, ?)
       ON CONFLICT (group_id, topic_id, partition) DO UPDATE SET offset = excluded.offset`,
    ),
    claim: db.prepare(
      `INSERT INTO leases (group_id, topic_id, partition, owner, expires_at) VALUES (@g, @t, @p, @owner, @expires)
       ON CONFLICT (group_id, topic_id, partition) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
       WHERE leases.owner = excluded.owner OR leases.expires_at < @now`,
    ),
    leaseOwner: db.prepare<[string, number, number], { owner: string }>(
      'SELECT owner FROM leases WHERE group_id = ? AND topic_id = ? AND partition = ?',
    ),
    release: db.prepare('DELETE FROM leases WHERE owner = ?'),
  };
}

export type Statements = ReturnType<typeof prepare>;

/**
 * The first offset whose running maximum timestamp (ts_max, Kafka's time index: non-decreasing with
 * the offset) is >= ts, the end offset if none. A binary search over the offset index finds it in
 * O(log n) lookups: no second index to maintain on every insert. Retention by age cuts here.
 */
export function firstOffsetWithMaxTs(stmt: Statements, topicId: number, p: PartitionRow, ts: number): number {
  let lo = p.start_offset;
  let hi = p.next_offset;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const r = stmt.firstFrom.get(topicId, p.partition, mid);
    if (!r || r.ts_max >= ts) hi = mid;
    else lo = r.offset + 1;
  }
  return stmt.firstFrom.get(topicId, p.partition, lo)?.offset ?? p.next_offset;
}

/** A produce call for the writer: one topic, its records in order (encodeWireBatch). */
export interface ProduceCall {
  topic: string;
  data: Uint8Array;
}

/** Thrown for a record aimed at a partition the topic does not have (surfaced as TopicError). */
export class NoSuchPartition extends Error {
  override readonly name = 'TopicError';
}

/** The write side: runs on the writer worker's connection. */
export class LogWriter {
  readonly stmt: Statements;
  private readonly topics = new Map<string, TopicRow>();

  constructor(
    readonly db: Database.Database,
    private readonly defaultPartitions: number,
  ) {
    this.stmt = prepare(db);
  }

  /** Creates missing topics (partitions < 1: the default count, Kafka's num.partitions); existing ones are kept. */
  createTopics(specs: TopicSpecRow[]): void {
    this.db
      .transaction(() => {
        for (const s of specs) {
          const partitions = s.partitions >= 1 ? s.partitions : this.defaultPartitions;
          this.stmt.insertTopic.run(
            s.name,
            partitions,
            s.retentionMs,
            s.retentionBytes ?? -1,
            s.cleanupPolicy,
          );
          const row = this.stmt.topicByName.get(s.name)!;
          // Partitions from the stored row: an existing topic keeps its own count.
          for (let p = 0; p < row.partitions; p++) this.stmt.insertPartition.run(row.id, p);
        }
      })
      .immediate();
  }

  /** The topic's row, creating it with the default settings when it does not exist (Kafka's auto-create). */
  topic(name: string): TopicRow {
    const cached = this.topics.get(name);
    if (cached) return cached;
    let row = this.stmt.topicByName.get(name);
    if (!row) {
      this.createTopics([{ name, partitions: 0, retentionMs: -1, cleanupPolicy: 'delete' }]);
      row = this.stmt.topicByName.get(name)!;
    }
    this.topics.set(name, row);
    return row;
  }

  /**
   * Appends the calls' records in one IMMEDIATE transaction (one commit, one fsync with
   * synchronous=FULL, however many calls): the writer's group commit. All or nothing.
   */
  produce(calls: ProduceCall[]): void {
    const prepared = calls.map((c) => ({ t: this.topic(c.topic), data: c.data }));
    this.db
      .transaction(() => {
        const parts = new Map<number, PartitionRow[]>();
        const touched = new Set<PartitionRow>();
        for (const { t, data } of prepared) {
          let ps = parts.get(t.id);
          if (!ps) {
            ps = this.stmt.partitions.all(t.id);
            parts.set(t.id, ps);
          }
          for (const r of decodeWireBatch(data)) {
            const { key, value } = r;
            const partition = partitionOfBytes(key, t.partitions);
            const p = ps[partition];
            if (!p) throw new NoSuchPartition(`topic ${t.name} has no partition ${partition}`);
            const size = (key?.length ?? 0) + value.length + (r.headers?.length ?? 0);
            p.max_ts = Math.max(p.max_ts, r.ts);
            p.bytes += size;
            this.stmt.insertRecord.run(
              t.id,
              partition,
              p.next_offset++,
              r.ts,
              p.max_ts,
              key,
              value,
              r.headers,
              size,
            );
            touched.add(p);
          }
          for (const p of touched)
            this.stmt.updatePartition.run(p.next_offset, p.max_ts, p.bytes, t.id, p.partition);
          touched.clear();
        }
      })
      .immediate();
  }

  /** Claims (or renews) the group's leases on the topics' partitions; returns the ones this owner holds. */
  claim(o: { groupId: string; topics: string[]; owner: string; leaseMs: number; now: number }) {
    const ts = o.topics.map((n) => this.topic(n));
    return this.db
      .transaction(() => {
        const mine: { topic: string; partition: number }[] = [];
        for (const t of ts) {
          for (let p = 0; p < t.partitions; p++) {
            this.stmt.claim.run({
              g: o.groupId,
              t: t.id,
              p,
              owner: o.owner,
              expires: o.now + o.leaseMs,
              now: o.now,
            });
            if (this.stmt.leaseOwner.get(o.groupId, t.id, p)?.owner === o.owner)
              mine.push({ topic: t.name, partition: p });
          }
        }
        return mine;
      })
      .immediate();
  }

  /** The group's committed offset, pinned first (log start, or end when fromBeginning is false) when it has none. */
  position(o: { groupId: string; topic: string; partition: number; fromBeginning: boolean }): number {
    const t = this.topic(o.topic);
    return this.db
      .transaction(() => {
        const committed = this.stmt.committed.get(o.groupId, t.id, o.partition)?.offset;
        if (committed !== undefined) return committed;
        const part = this.stmt.partitions.all(t.id)[o.partition]!;
        const offset = o.fromBeginning ? part.start_offset : part.next_offset;
        // Pin the starting point so a restart before the first record does not skip ahead ("latest").
        this.stmt.commit.run(o.groupId, t.id, o.partition, offset);
        return offset;
      })
      .immediate();
  }

  /** Commits only while the owner still holds the partition (else another consumer took over). */
  commit(o: { groupId: string; topic: string; partition: number; offset: number; owner: string }): boolean {
    const t = this.topic(o.topic);
    return this.db
      .transaction(() => {
        if (this.stmt.leaseOwner.get(o.groupId, t.id, o.partition)?.owner !== o.owner) return false;
        this.stmt.commit.run(o.groupId, t.id, o.partition, o.offset);
        return true;
      })
      .immediate();
  }

  release(owner: string): void {
    this.stmt.release.run(owner);
  }

  /**
   * One retention pass over every topic. Like Kafka, retention ignores consumer groups: a group that
   * lags behind loses the removed records and resumes at the new log start. Returns the records removed.
   */
  enforceRetention(now: number): number {
    let removed = 0;
    for (const t of this.stmt.allTopics.all()) {
      for (const p of this.stmt.partitions.all(t.id)) {
        removed +=
          t.cleanup_policy === 'compact' ? this.compactPartition(t, p) : this.expirePartition(t, p, now);
      }
    }
    if (removed > 0) this.db.pragma('incremental_vacuum');
    return removed;
  }

  private expirePartition(t: TopicRow, p: PartitionRow, now: number): number {
    let cut = p.start_offset;
    if (t.retention_ms >= 0)
      cut = Math.max(cut, firstOffsetWithMaxTs(this.stmt, t.id, p, now - t.retention_ms));
    if (t.retention_bytes >= 0 && p.bytes > t.retention_bytes) {
      let excess = p.bytes - t.retention_bytes;
      let sizeCut = p.start_offset;
      for (const r of this.stmt.sizesFrom.iterate(t.id, p.partition)) {
        if (excess <= 0) break;
        excess -= r.size;
        sizeCut = r.offset + 1;
      }
      cut = Math.max(cut, sizeCut);
    }
    if (cut <= p.start_offset) return 0;
    let removed = 0;
    // Chunks keep each write transaction (and the lock other processes wait on) short.
    for (let from = p.start_offset; from < cut; from += DELETE_CHUNK) {
      const to = Math.min(cut, from + DELETE_CHUNK);
      removed += this.db
        .transaction(() => {
          const gone = this.stmt.sumRange.get(t.id, p.partition, to, from)!;
          this.stmt.deleteBelow.run(t.id, p.partition, to, from);
          this.stmt.advanceStart.run(to, gone.bytes ?? 0, t.id, p.partition);
          return gone.n;
        })
        .immediate();
    }
    return removed;
  }

  /** Keeps the latest record per key (records without a key are kept). */
  private compactPartition(t: TopicRow, p: PartitionRow): number {
    return this.db
      .transaction(() => {
        const removed = this.stmt.compact.run({ t: t.id, p: p.partition }).changes;
        if (removed > 0) {
          const stats = this.stmt.partitionStats.get(t.id, p.partition)!;
          this.stmt.setStart.run(stats.first ?? p.next_offset, stats.bytes ?? 0, t.id, p.partition);
        }
        return removed;
      })
      .immediate();
  }
}
