/**
 * The embedded log's time index, Kafka's: every record stores ts_max, the running maximum timestamp
 * of its partition up to it, which never decreases with the offset. Offsets-for-times and retention
 * by age both binary-search it (read-only: used on the reader's and on the writer's connection).
 */
import type { PartitionRow, Statements } from './schema.ts';

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

/**
 * Kafka's offsets-for-times: the first offset whose own timestamp is >= ts (end offset if none).
 * Records before firstOffsetWithMaxTs are all older; from there a short scan finds the record, as
 * Kafka scans the batch its time index points at (needed when retention or compaction removed the
 * record that set ts_max).
 */
export function offsetForTime(stmt: Statements, topicId: number, p: PartitionRow, ts: number): number {
  const from = firstOffsetWithMaxTs(stmt, topicId, p, ts);
  return stmt.firstAtOrAfterTime.get(topicId, p.partition, from, ts)?.offset ?? p.next_offset;
}
