/**
 * Consumer groups on the writer: partition leases (one consumer of a group per partition, taken
 * over after its lease lapses) and committed offsets, each change in its own IMMEDIATE transaction.
 * The consuming side (the poll loop on the main thread) is consumer.ts.
 */
import type Database from 'better-sqlite3';
import type { Statements, TopicRow } from './schema.ts';

/** Claims (or renews) the group's leases on the topics' partitions; returns the ones this owner holds. */
export function claimLeases(
  db: Database.Database,
  stmt: Statements,
  topics: readonly TopicRow[],
  o: { groupId: string; owner: string; leaseMs: number; now: number },
): { topic: string; partition: number }[] {
  return db
    .transaction(() => {
      const mine: { topic: string; partition: number }[] = [];
      for (const t of topics) {
        for (let p = 0; p < t.partitions; p++) {
          stmt.claim.run({
            g: o.groupId,
            t: t.id,
            p,
            owner: o.owner,
            expires: o.now + o.leaseMs,
            now: o.now,
          });
          if (stmt.leaseOwner.get(o.groupId, t.id, p)?.owner === o.owner)
            mine.push({ topic: t.name, partition: p });
        }
      }
      return mine;
    })
    .immediate();
}

/** The group's committed offset, pinned first (log start, or end when fromBeginning is false) when it has none. */
export function groupPosition(
  db: Database.Database,
  stmt: Statements,
  t: TopicRow,
  o: { groupId: string; partition: number; fromBeginning: boolean },
): number {
  return db
    .transaction(() => {
      const committed = stmt.committed.get(o.groupId, t.id, o.partition)?.offset;
      if (committed !== undefined) return committed;
      const part = stmt.partitions.all(t.id)[o.partition]!;
      const offset = o.fromBeginning ? part.start_offset : part.next_offset;
      // Pin the starting point so a restart before the first record does not skip ahead ("latest").
      stmt.commit.run(o.groupId, t.id, o.partition, offset);
      return offset;
    })
    .immediate();
}

/** Commits only while the owner still holds the partition (else another consumer took over). */
export function commitOffset(
  db: Database.Database,
  stmt: Statements,
  t: TopicRow,
  o: { groupId: string; partition: number; offset: number; owner: string },
): boolean {
  return db
    .transaction(() => {
      if (stmt.leaseOwner.get(o.groupId, t.id, o.partition)?.owner !== o.owner) return false;
      stmt.commit.run(o.groupId, t.id, o.partition, o.offset);
      return true;
    })
    .immediate();
}

/** Gives up every lease of one consumer (its subscription stopped). */
export function releaseLeases(stmt: Statements, owner: string): void {
  stmt.release.run(owner);
}
