/**
 * The embedded durable log: Kafka's model (topics, partitions, per-partition offsets, consumer groups
 * with committed offsets, retention by age/size, compaction) in one SQLite database in WAL mode under
 * `<dataDir>/bus/`. Why SQLite and how it maps onto Kafka: see README "Event bus".
 *
 * Several processes may open the same directory (`mesh-apim revoke` producing while `start` consumes):
 * SQLite serialises writers (busy_timeout), a consumer in another process sees new records on its next
 * poll (bus.embedded.pollIntervalMs); consumers in the producing process are woken at once.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { errorMessage } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import { BrokerUnavailableError, BusClosedError, BusError, ProduceError, TopicError } from '../errors.ts';
import { partitionFor } from '../partition.ts';
import type {
  Bus,
  BusAdmin,
  ConsumeOptions,
  InRecord,
  OutRecord,
  PartitionOffset,
  Subscription,
  TopicDescription,
  TopicSpec,
} from '../types.ts';

export interface EmbeddedBusOptions {
  /** Directory of the log (`<dataDir>/bus`). */
  dir: string;
  pollIntervalMs?: number;
  retentionCheckIntervalMs?: number;
  /** synchronous=FULL (fsync per commit) when true, NORMAL otherwise. */
  fsync?: boolean;
  busyTimeoutMs?: number;
  /** Partitions of a topic created implicitly by produce/consume (Kafka's num.partitions). */
  defaultPartitions?: number;
  /** A consumer's claim on a partition; renewed while it runs, taken over by another consumer after it lapses. */
  leaseMs?: number;
  logger?: Logger;
}

interface TopicRow {
  id: number;
  name: string;
  partitions: number;
  retention_ms: number;
  retention_bytes: number;
  cleanup_policy: 'delete' | 'compact';
}

interface PartitionRow {
  partition: number;
  next_offset: number;
  start_offset: number;
  max_ts: number;
  bytes: number;
}

interface RecordRow {
  partition: number;
  offset: number;
  ts: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: string | null;
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
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

function toError(op: string, err: unknown): BusError {
  if (err instanceof BusError) return err;
  const code = (err as { code?: string }).code ?? '';
  // Locked by another process beyond busy_timeout, disk full, I/O: the same call can succeed later.
  if (/^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|PROTOCOL)/.test(code))
    return new BrokerUnavailableError(`embedded log ${op}: ${errorMessage(err)}`, { cause: err });
  return new BusError('BUS_EMBEDDED', `embedded log ${op}: ${errorMessage(err)}`, { cause: err });
}

export class EmbeddedBus implements Bus, BusAdmin {
  readonly kind = 'embedded' as const;
  readonly path: string;
  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly pollIntervalMs: number;
  private readonly defaultPartitions: number;
  private readonly leaseMs: number;
  private readonly topicCache = new Map<string, TopicRow>();
  private readonly waiters = new Set<() => void>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly retentionTimer: NodeJS.Timeout;
  private closed = false;
  private readonly stmt;

  constructor(options: EmbeddedBusOptions) {
    mkdirSync(options.dir, { recursive: true });
    this.path = join(options.dir, 'log.db');
    this.log = options.logger ?? createLogger('bus.embedded');
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.defaultPartitions = options.defaultPartitions ?? 1;
    this.leaseMs = options.leaseMs ?? 30_000;
    try {
      this.db = new Database(this.path, { timeout: options.busyTimeoutMs ?? 5000 });
      // auto_vacuum must be chosen before the first table exists; incremental lets retention give pages back.
      this.db.pragma('auto_vacuum = INCREMENTAL');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.fsync === false ? 'NORMAL' : 'FULL'}`);
      this.db.exec(SCHEMA);
    } catch (err) {
      throw toError(`open ${this.path}`, err);
    }
    const db = this.db;
    this.stmt = {
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
    this.retentionTimer = setInterval(() => {
      try {
        this.enforceRetention();
      } catch (err) {
        this.log.warn({ err }, 'embedded log retention pass failed; retried next period');
      }
    }, options.retentionCheckIntervalMs ?? 60_000);
    this.retentionTimer.unref();
  }

  private checkOpen(op: string): void {
    if (this.closed) throw new BusClosedError(op);
  }

  /** The topic's row, creating it with the default settings when it does not exist (Kafka's auto-create). */
  private topic(name: string): TopicRow {
    const cached = this.topicCache.get(name);
    if (cached) return cached;
    let row = this.stmt.topicByName.get(name);
    if (!row) {
      this.createTopics([
        { name, partitions: this.defaultPartitions, retentionMs: -1, cleanupPolicy: 'delete' },
      ]);
      row = this.stmt.topicByName.get(name)!;
    }
    this.topicCache.set(name, row);
    return row;
  }

  private createTopics(specs: TopicSpec[]): void {
    this.db
      .transaction(() => {
        for (const s of specs) {
          this.stmt.insertTopic.run(
            s.name,
            s.partitions,
            s.retentionMs,
            s.retentionBytes ?? -1,
            s.cleanupPolicy,
          );
          const id = this.stmt.topicByName.get(s.name)!.id;
          // Partitions from the stored row: an existing topic keeps its own count.
          const n = this.stmt.topicByName.get(s.name)!.partitions;
          for (let p = 0; p < n; p++) this.stmt.insertPartition.run(id, p);
        }
      })
      .immediate();
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    this.checkOpen('ensureTopics');
    for (const s of specs) {
      if (!Number.isInteger(s.partitions) || s.partitions < 1)
        throw new TopicError(`topic ${s.name}: partitions must be a positive integer, got ${s.partitions}`);
    }
    try {
      this.createTopics(specs);
    } catch (err) {
      throw toError('ensureTopics', err);
    }
  }

  async produce(topic: string, records: OutRecord[]): Promise<void> {
    this.checkOpen('produce');
    if (records.length === 0) return;
    try {
      const t = this.topic(topic);
      const now = Date.now();
      const rows = records.map((r) => {
        const key = r.key === null ? null : Buffer.from(r.key);
        const value = Buffer.from(r.value);
        const headers = r.headers && Object.keys(r.headers).length > 0 ? JSON.stringify(r.headers) : null;
        return {
          partition: partitionFor(r.key, t.partitions),
          ts: r.timestamp ?? now,
          key,
          value,
          headers,
          size: (key?.length ?? 0) + value.length + (headers?.length ?? 0),
        };
      });
      this.db
        .transaction(() => {
          const parts = this.stmt.partitions.all(t.id);
          const touched = new Set<PartitionRow>();
          for (const r of rows) {
            const p = parts[r.partition];
            if (!p) throw new TopicError(`topic ${topic} has no partition ${r.partition}`);
            p.max_ts = Math.max(p.max_ts, r.ts);
            p.bytes += r.size;
            this.stmt.insertRecord.run(
              t.id,
              r.partition,
              p.next_offset++,
              r.ts,
              p.max_ts,
              r.key,
              r.value,
              r.headers,
              r.size,
            );
            touched.add(p);
          }
          for (const p of touched)
            this.stmt.updatePartition.run(p.next_offset, p.max_ts, p.bytes, t.id, p.partition);
        })
        .immediate();
    } catch (err) {
      const e = toError(`produce to ${topic}`, err);
      throw e instanceof TopicError || e instanceof BrokerUnavailableError
        ? e
        : new ProduceError(e.message, { cause: err, retriable: e.retriable });
    }
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Sleeps up to ms, or less when a record is produced in this process or the bus is closing. */
  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private toInRecord(topic: string, r: RecordRow): InRecord {
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

  async consume(options: ConsumeOptions): Promise<Subscription> {
    this.checkOpen('consume');
    const owner = `${process.pid}:${randomUUID()}`;
    const maxBatch = options.maxBatchSize ?? 100;
    const log = this.log.child({ groupId: options.groupId });
    const topics = options.topics.map((name) => this.topic(name));
    /** Next offset to deliver, per owned partition ("topicId:partition"). */
    const positions = new Map<string, { topic: TopicRow; partition: number; offset: number }>();
    let running = true;
    let leaseCheckAt = 0;

    const claimLeases = () => {
      const now = Date.now();
      const owned = this.db
        .transaction(() => {
          const mine: { topic: TopicRow; partition: number }[] = [];
          for (const t of topics) {
            for (let p = 0; p < t.partitions; p++) {
              this.stmt.claim.run({
                g: options.groupId,
                t: t.id,
                p,
                owner,
                expires: now + this.leaseMs,
                now,
              });
              if (this.stmt.leaseOwner.get(options.groupId, t.id, p)?.owner === owner)
                mine.push({ topic: t, partition: p });
            }
          }
          return mine;
        })
        .immediate();
      const keep = new Set<string>();
      for (const { topic: t, partition } of owned) {
        const k = `${t.id}:${partition}`;
        keep.add(k);
        if (positions.has(k)) continue;
        const committed = this.stmt.committed.get(options.groupId, t.id, partition)?.offset;
        let offset = committed;
        if (offset === undefined) {
          const part = this.stmt.partitions.all(t.id)[partition]!;
          offset = options.fromBeginning === false ? part.next_offset : part.start_offset;
          // Pin the starting point so a restart before the first record does not skip ahead ("latest").
          this.stmt.commit.run(options.groupId, t.id, partition, offset);
        }
        positions.set(k, { topic: t, partition, offset });
      }
      for (const k of [...positions.keys()]) if (!keep.has(k)) positions.delete(k);
      leaseCheckAt = now + this.leaseMs / 3;
    };

    /** Commits only while this consumer still holds the partition (else another consumer took over). */
    const commit = (t: TopicRow, partition: number, offset: number): boolean =>
      this.db
        .transaction(() => {
          if (this.stmt.leaseOwner.get(options.groupId, t.id, partition)?.owner !== owner) return false;
          this.stmt.commit.run(options.groupId, t.id, partition, offset);
          return true;
        })
        .immediate();

    const loop = async () => {
      const backoff = new Map<string, number>();
      while (running) {
        let delivered = false;
        try {
          if (Date.now() >= leaseCheckAt) claimLeases();
          for (const [k, pos] of positions) {
            if (!running) break;
            const rows = this.stmt.read.all(pos.topic.id, pos.partition, pos.offset, maxBatch);
            if (rows.length === 0) continue;
            delivered = true;
            const records = rows.map((r) => this.toInRecord(pos.topic.name, r));
            try {
              await options.handler({ topic: pos.topic.name, partition: pos.partition, records });
            } catch (err) {
              const wait = backoff.get(k) ?? BACKOFF_MIN_MS;
              backoff.set(k, Math.min(wait * 2, BACKOFF_MAX_MS));
              log.warn(
                {
                  err,
                  topic: pos.topic.name,
                  partition: pos.partition,
                  offset: records[0]!.offset,
                  retryInMs: wait,
                },
                'handler failed; batch will be delivered again',
              );
              await this.idleUninterrupted(wait, () => running);
              continue;
            }
            backoff.delete(k);
            const next = rows[rows.length - 1]!.offset + 1;
            if (commit(pos.topic, pos.partition, next)) pos.offset = next;
            else positions.delete(k);
          }
        } catch (err) {
          // The database is locked by another process for longer than busy_timeout, or similar.
          log.warn({ err: toError('consume', err) }, 'embedded consumer poll failed; retrying');
          await this.idleUninterrupted(BACKOFF_MAX_MS, () => running);
        }
        if (!delivered && running) await this.idle(this.pollIntervalMs);
      }
    };

    try {
      claimLeases();
    } catch (err) {
      // Locked for longer than busy_timeout: the loop claims the partitions as soon as it can.
      log.warn({ err: toError('consume', err) }, 'could not claim partitions yet; retrying');
    }
    const done = loop();
    const sub: Subscription = {
      stop: async () => {
        if (!running) return done;
        running = false;
        this.wake();
        await done;
        this.subscriptions.delete(sub);
        try {
          this.stmt.release.run(owner);
        } catch (err) {
          log.warn({ err }, 'could not release partition leases; they lapse on their own');
        }
      },
    };
    this.subscriptions.add(sub);
    return sub;
  }

  /** A backoff sleep that ends early when the subscription stops (but not on new records). */
  private async idleUninterrupted(ms: number, isRunning: () => boolean): Promise<void> {
    const until = Date.now() + ms;
    while (isRunning() && Date.now() < until) await this.idle(Math.min(until - Date.now(), 100));
  }

  /**
   * The first offset whose running maximum timestamp (ts_max, Kafka's time index: non-decreasing with
   * the offset) is >= ts, the end offset if none. A binary search over the offset index finds it in
   * O(log n) lookups: no second index to maintain on every insert. Retention by age cuts here.
   */
  private firstOffsetWithMaxTs(topicId: number, p: PartitionRow, ts: number): number {
    let lo = p.start_offset;
    let hi = p.next_offset;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const r = this.stmt.firstFrom.get(topicId, p.partition, mid);
      if (!r || r.ts_max >= ts) hi = mid;
      else lo = r.offset + 1;
    }
    return this.stmt.firstFrom.get(topicId, p.partition, lo)?.offset ?? p.next_offset;
  }

  /**
   * Kafka's offsets-for-times: the first offset whose own timestamp is >= ts (end offset if none).
   * Records before firstOffsetWithMaxTs are all older; from there a short scan finds the record, as
   * Kafka scans the batch its time index points at (needed when retention or compaction removed the
   * record that set ts_max).
   */
  private offsetForTime(topicId: number, p: PartitionRow, ts: number): number {
    const from = this.firstOffsetWithMaxTs(topicId, p, ts);
    return this.stmt.firstAtOrAfterTime.get(topicId, p.partition, from, ts)?.offset ?? p.next_offset;
  }

  private partitionRows(topic: string): { t: TopicRow; parts: PartitionRow[] } {
    const t = this.topic(topic);
    return { t, parts: this.stmt.partitions.all(t.id) };
  }

  async offsetsForTime(topic: string, timestampMs: number): Promise<PartitionOffset[]> {
    this.checkOpen('offsetsForTime');
    try {
      const { t, parts } = this.partitionRows(topic);
      return parts.map((p) => ({
        partition: p.partition,
        offset: String(this.offsetForTime(t.id, p, timestampMs)),
      }));
    } catch (err) {
      throw toError('offsetsForTime', err);
    }
  }

  async endOffsets(topic: string): Promise<PartitionOffset[]> {
    this.checkOpen('endOffsets');
    try {
      return this.partitionRows(topic).parts.map((p) => ({
        partition: p.partition,
        offset: String(p.next_offset),
      }));
    } catch (err) {
      throw toError('endOffsets', err);
    }
  }

  async read(topic: string, partition: number, offset: string, maxRecords: number): Promise<InRecord[]> {
    this.checkOpen('read');
    let t: TopicRow;
    try {
      t = this.topic(topic);
    } catch (err) {
      throw toError('read', err);
    }
    if (!Number.isInteger(partition) || partition < 0 || partition >= t.partitions)
      throw new TopicError(`topic ${topic} has no partition ${partition}`);
    try {
      return this.stmt.read
        .all(t.id, partition, Number(offset), maxRecords)
        .map((r) => this.toInRecord(topic, r));
    } catch (err) {
      throw toError('read', err);
    }
  }

  async describeTopics(names?: string[]): Promise<TopicDescription[]> {
    this.checkOpen('describeTopics');
    const wanted = names ? new Set(names) : null;
    return this.stmt.allTopics
      .all()
      .filter((t) => !wanted || wanted.has(t.name))
      .map((t) => ({
        name: t.name,
        partitions: t.partitions,
        retentionMs: t.retention_ms,
        retentionBytes: t.retention_bytes,
        cleanupPolicy: t.cleanup_policy,
        offsets: this.stmt.partitions.all(t.id).map((p) => ({
          partition: p.partition,
          start: String(p.start_offset),
          end: String(p.next_offset),
        })),
      }));
  }

  /**
   * One retention pass over every topic (runs every bus.embedded.retentionCheckIntervalMs). Like Kafka,
   * retention ignores consumer groups: a group that lags behind loses the removed records and resumes at
   * the new log start. Returns the number of records removed.
   */
  enforceRetention(now = Date.now()): number {
    this.checkOpen('enforceRetention');
    let removed = 0;
    for (const t of this.stmt.allTopics.all()) {
      for (const p of this.stmt.partitions.all(t.id)) {
        removed +=
          t.cleanup_policy === 'compact' ? this.compactPartition(t, p) : this.expirePartition(t, p, now);
      }
    }
    if (removed > 0) {
      this.db.pragma('incremental_vacuum');
      this.log.debug({ removed }, 'retention removed records');
    }
    return removed;
  }

  private expirePartition(t: TopicRow, p: PartitionRow, now: number): number {
    let cut = p.start_offset;
    if (t.retention_ms >= 0) {
      cut = Math.max(cut, this.firstOffsetWithMaxTs(t.id, p, now - t.retention_ms));
    }
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

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.closed = true;
    clearInterval(this.retentionTimer);
    this.db.close();
  }
}
