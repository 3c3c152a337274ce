/**
 * The embedded log's retention, on the writer: by age (the time index) and size for topics with
 * cleanup.policy=delete, latest-record-per-key for compacted ones. Like Kafka, retention ignores
 * consumer groups: a group that lags behind loses the removed records and resumes at the new log start.
 */
import type Database from 'better-sqlite3';
import type { PartitionRow, Statements, TopicRow } from './schema.ts';
import { firstOffsetWithMaxTs } from './time-index.ts';

const DELETE_CHUNK = 10_000;

/** One retention pass over every topic. Returns the records removed. */
export function enforceRetention(db: Database.Database, stmt: Statements, now: number): number {
  let removed = 0;
  for (const t of stmt.allTopics.all()) {
    for (const p of stmt.partitions.all(t.id)) {
      removed +=
        t.cleanup_policy === 'compact'
          ? compactPartition(db, stmt, t, p)
          : expirePartition(db, stmt, t, p, now);
    }
  }
  if (removed > 0) db.pragma('incremental_vacuum');
  return removed;
}

function expirePartition(
  db: Database.Database,
  stmt: Statements,
  t: TopicRow,
  p: PartitionRow,
  now: number,
): number {
  let cut = p.start_offset;
  if (t.retention_ms >= 0) cut = Math.max(cut, firstOffsetWithMaxTs(stmt, t.id, p, now - t.retention_ms));
  if (t.retention_bytes >= 0 && p.bytes > t.retention_bytes) {
    let excess = p.bytes - t.retention_bytes;
    let sizeCut = p.start_offset;
    for (const r of stmt.sizesFrom.iterate(t.id, p.partition)) {
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
    removed += db
      .transaction(() => {
        const gone = stmt.sumRange.get(t.id, p.partition, to, from)!;
        stmt.deleteBelow.run(t.id, p.partition, to, from);
        stmt.advanceStart.run(to, gone.bytes ?? 0, t.id, p.partition);
        return gone.n;
      })
      .immediate();
  }
  return removed;
}

/** Keeps the latest record per key (records without a key are kept). */
function compactPartition(db: Database.Database, stmt: Statements, t: TopicRow, p: PartitionRow): number {
  return db
    .transaction(() => {
      const removed = stmt.compact.run({ t: t.id, p: p.partition }).changes;
      if (removed > 0) {
        const stats = stmt.partitionStats.get(t.id, p.partition)!;
        stmt.setStart.run(stats.first ?? p.next_offset, stats.bytes ?? 0, t.id, p.partition);
      }
      return removed;
    })
    .immediate();
}
