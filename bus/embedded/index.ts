/**
 * The embedded durable log: Kafka's model (topics, partitions, per-partition offsets, consumer groups
 * with committed offsets, retention by age/size, compaction) in one SQLite database in WAL mode under
 * `<dataDir>/bus/`. Why SQLite and how it maps onto Kafka: see README "Event bus".
 *
 * Writes (produce, consumer commits and leases, topic creation, retention) run on a worker thread
 * that owns the write connection (writer.ts: group commit, answered after commit); this thread only
 * posts them, so a commit (an fsync with bus.embedded.fsync=true) never stalls the event loop and
 * the checks on it. Reads (consumers, replay, offsets) use this thread's own connection: in WAL mode
 * they never wait for the writer, and they are short indexed range scans (measured: bench/emit.ts).
 *
 * Several processes may open the same directory (`mesh-apim revoke` producing while `start` consumes):
 * SQLite serialises writers (busy_timeout), a consumer in another process sees new records on its next
 * poll (bus.embedded.pollIntervalMs); consumers in the producing process are woken at once.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { errorMessage } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import { BrokerUnavailableError, BusClosedError, BusError, ProduceError, TopicError } from '../errors.ts';
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
import {
  encodeWireBatch,
  firstOffsetWithMaxTs,
  openDatabase,
  type PartitionRow,
  prepare,
  type RecordRow,
  type Statements,
  type TopicRow,
  type WireRecord,
} from './store.ts';
import { WriterClient } from './writer-client.ts';

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

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

function toError(op: string, err: unknown): BusError {
  if (err instanceof BusError) return err;
  const name = (err as { name?: string }).name ?? '';
  if (name === 'TopicError') return new TopicError(errorMessage(err), { cause: err });
  const code = (err as { code?: string }).code ?? '';
  // Locked by another process beyond busy_timeout, disk full, I/O, the writer worker gone: the same
  // call can succeed later (nothing of it was acknowledged).
  if (/^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|PROTOCOL)/.test(code) || code === 'WRITER_EXITED')
    return new BrokerUnavailableError(`embedded log ${op}: ${errorMessage(err)}`, { cause: err });
  return new BusError('BUS_EMBEDDED', `embedded log ${op}: ${errorMessage(err)}`, { cause: err });
}

export class EmbeddedBus implements Bus, BusAdmin {
  readonly kind = 'embedded' as const;
  readonly path: string;
  /** Read-only use on this thread; every write goes to the writer worker. */
  private readonly db: Database.Database;
  readonly writer: WriterClient;
  private readonly log: Logger;
  private readonly pollIntervalMs: number;
  private readonly leaseMs: number;
  private readonly topicCache = new Map<string, TopicRow>();
  private readonly waiters = new Set<() => void>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly retentionTimer: NodeJS.Timeout;
  private closed = false;
  private readonly stmt: Statements;

  constructor(options: EmbeddedBusOptions) {
    mkdirSync(options.dir, { recursive: true });
    this.path = join(options.dir, 'log.db');
    this.log = options.logger ?? createLogger('bus.embedded');
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.leaseMs = options.leaseMs ?? 30_000;
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    const fsync = options.fsync !== false;
    try {
      // Creates the schema once, at start (synchronous, before anything is served).
      this.db = openDatabase(this.path, { busyTimeoutMs, fsync, create: true });
    } catch (err) {
      throw toError(`open ${this.path}`, err);
    }
    this.stmt = prepare(this.db);
    this.writer = new WriterClient(
      { path: this.path, fsync, busyTimeoutMs, defaultPartitions: options.defaultPartitions ?? 1 },
      this.log,
    );
    this.retentionTimer = setInterval(() => {
      this.enforceRetention().catch((err: unknown) =>
        this.log.warn({ err }, 'embedded log retention pass failed; retried next period'),
      );
    }, options.retentionCheckIntervalMs ?? 60_000);
    this.retentionTimer.unref();
  }

  private checkOpen(op: string): void {
    if (this.closed) throw new BusClosedError(op);
  }

  /** The topic's row, creating it with the default settings when it does not exist (Kafka's auto-create). */
  private async topic(name: string): Promise<TopicRow> {
    const cached = this.topicCache.get(name);
    if (cached) return cached;
    let row = this.stmt.topicByName.get(name);
    if (!row) {
      // The writer creates it (default settings) as part of its next request on the topic.
      await this.writer.request({
        op: 'createTopics',
        specs: [{ name, partitions: 0, retentionMs: -1, cleanupPolicy: 'delete' }],
      });
      row = this.stmt.topicByName.get(name);
      if (!row) throw new TopicError(`topic ${name} could not be created`);
    }
    this.topicCache.set(name, row);
    return row;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    this.checkOpen('ensureTopics');
    for (const s of specs) {
      if (!Number.isInteger(s.partitions) || s.partitions < 1)
        throw new TopicError(`topic ${s.name}: partitions must be a positive integer, got ${s.partitions}`);
    }
    try {
      await this.writer.request({ op: 'createTopics', specs });
    } catch (err) {
      throw toError('ensureTopics', err);
    }
  }

  async produce(topic: string, records: OutRecord[]): Promise<void> {
    this.checkOpen('produce');
    if (records.length === 0) return;
    const now = Date.now();
    // One buffer for the batch, transferred (not cloned) to the writer, which partitions and
    // appends; this thread only encodes and waits for the commit.
    let data: Buffer;
    try {
      const wire: WireRecord[] = records.map((r) => ({
        key: r.key,
        value: r.value,
        headers: r.headers && Object.keys(r.headers).length > 0 ? JSON.stringify(r.headers) : null,
        ts: r.timestamp ?? now,
      }));
      data = encodeWireBatch(wire);
    } catch (err) {
      throw new ProduceError(`produce to ${topic}: ${errorMessage(err)}`, { cause: err, retriable: false });
    }
    try {
      await this.writer.request({ op: 'produce', call: { topic, data } }, [data.buffer as ArrayBuffer]);
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
    const topics = new Map<string, TopicRow>();
    for (const name of options.topics) topics.set(name, await this.topic(name));
    /** Next offset to deliver, per owned partition ("topicId:partition"). */
    const positions = new Map<string, { topic: TopicRow; partition: number; offset: number }>();
    let running = true;
    let leaseCheckAt = 0;

    const claimLeases = async () => {
      const owned = await this.writer.request<{ topic: string; partition: number }[]>({
        op: 'claim',
        groupId: options.groupId,
        topics: options.topics,
        owner,
        leaseMs: this.leaseMs,
        now: Date.now(),
      });
      const keep = new Set<string>();
      for (const { topic: name, partition } of owned) {
        const t = topics.get(name)!;
        const k = `${t.id}:${partition}`;
        keep.add(k);
        if (positions.has(k)) continue;
        const offset = await this.writer.request<number>({
          op: 'position',
          groupId: options.groupId,
          topic: name,
          partition,
          fromBeginning: options.fromBeginning !== false,
        });
        positions.set(k, { topic: t, partition, offset });
      }
      for (const k of [...positions.keys()]) if (!keep.has(k)) positions.delete(k);
      leaseCheckAt = Date.now() + this.leaseMs / 3;
    };

    /** Commits only while this consumer still holds the partition (else another consumer took over). */
    const commit = (t: TopicRow, partition: number, offset: number): Promise<boolean> =>
      this.writer.request<boolean>({
        op: 'commit',
        groupId: options.groupId,
        topic: t.name,
        partition,
        offset,
        owner,
      });

    const loop = async () => {
      const backoff = new Map<string, number>();
      while (running) {
        let delivered = false;
        try {
          if (Date.now() >= leaseCheckAt) await claimLeases();
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
            if (await commit(pos.topic, pos.partition, next)) pos.offset = next;
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
      await claimLeases();
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
          await this.writer.request({ op: 'release', owner });
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
   * Kafka's offsets-for-times: the first offset whose own timestamp is >= ts (end offset if none).
   * Records before firstOffsetWithMaxTs are all older; from there a short scan finds the record, as
   * Kafka scans the batch its time index points at (needed when retention or compaction removed the
   * record that set ts_max).
   */
  private offsetForTime(topicId: number, p: PartitionRow, ts: number): number {
    const from = firstOffsetWithMaxTs(this.stmt, topicId, p, ts);
    return this.stmt.firstAtOrAfterTime.get(topicId, p.partition, from, ts)?.offset ?? p.next_offset;
  }

  private async partitionRows(topic: string): Promise<{ t: TopicRow; parts: PartitionRow[] }> {
    const t = await this.topic(topic);
    return { t, parts: this.stmt.partitions.all(t.id) };
  }

  async offsetsForTime(topic: string, timestampMs: number): Promise<PartitionOffset[]> {
    this.checkOpen('offsetsForTime');
    try {
      const { t, parts } = await this.partitionRows(topic);
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
      return (await this.partitionRows(topic)).parts.map((p) => ({
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
      t = await this.topic(topic);
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
   * One retention pass over every topic (runs every bus.embedded.retentionCheckIntervalMs), on the
   * writer. Like Kafka, retention ignores consumer groups: a group that lags behind loses the removed
   * records and resumes at the new log start. Resolves to the number of records removed.
   */
  async enforceRetention(now = Date.now()): Promise<number> {
    this.checkOpen('enforceRetention');
    const removed = await this.writer.request<number>({ op: 'retention', now });
    if (removed > 0) this.log.debug({ removed }, 'retention removed records');
    return removed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.closed = true;
    clearInterval(this.retentionTimer);
    await this.writer.close();
    this.db.close();
  }
}
