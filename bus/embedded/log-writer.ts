/**
 * The write side of the embedded log, on the writer worker's connection (writer.ts): topic creation
 * here, the rest by job (produce.ts, groups.ts, retention.ts). Every write of the log goes through it.
 */
import type Database from 'better-sqlite3';
import { claimLeases, commitOffset, groupPosition, releaseLeases } from './groups.ts';
import { appendBatches, type ProduceCall } from './produce.ts';
import { enforceRetention } from './retention.ts';
import { prepare, type Statements, type TopicRow, type TopicSpecRow } from './schema.ts';

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

  /** The calls' records in one transaction (group commit): all or nothing. */
  produce(calls: ProduceCall[]): void {
    const batches = calls.map((c) => ({ t: this.topic(c.topic), data: c.data }));
    appendBatches(this.db, this.stmt, batches);
  }

  claim(o: { groupId: string; topics: string[]; owner: string; leaseMs: number; now: number }) {
    return claimLeases(
      this.db,
      this.stmt,
      o.topics.map((n) => this.topic(n)),
      o,
    );
  }

  position(o: { groupId: string; topic: string; partition: number; fromBeginning: boolean }): number {
    return groupPosition(this.db, this.stmt, this.topic(o.topic), o);
  }

  commit(o: { groupId: string; topic: string; partition: number; offset: number; owner: string }): boolean {
    return commitOffset(this.db, this.stmt, this.topic(o.topic), o);
  }

  release(owner: string): void {
    releaseLeases(this.stmt, owner);
  }

  enforceRetention(now: number): number {
    return enforceRetention(this.db, this.stmt, now);
  }
}
