/**
 * The embedded log's SQLite schema: the tables (topics, partitions, records, group offsets, leases),
 * the row types, how a connection is opened, and the prepared statements both threads use. The
 * writer worker (writer.ts) writes through its own connection; EmbeddedBus reads through another.
 * Both are plain better-sqlite3 connections to one WAL database, so readers never wait for the writer.
 */
import Database from 'better-sqlite3';
import type { InRecord } from '../types.ts';

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

/** A stored record as the bus hands it out. */
export function toInRecord(topic: string, r: RecordRow): InRecord {
  const headers: Record<string, Buffer> = {};
  if (r.headers) {
    for (const [k, v] of Object.entries(JSON.parse(r.headers) as Record<string, string>))
      headers[k] = Buffer.from(v);
  }
  return {
    topic,
    partition: r.partition,
    offset: String(r.offset),
    timestamp: r.ts,
    key: r.key,
    value: r.value,
    headers,
  };
}
