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
 *
 * By job: schema.ts (tables, statements), produce.ts (wire batch, append), consumer.ts (group
 * consumer) over groups.ts (leases, commits), time-index.ts (offsets-for-times), retention.ts;
 * log-writer.ts is the worker's write side.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { errorMessage } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import type { EmbeddedBusSettings } from '../config.ts';
import { BrokerUnavailableError, BusClosedError, ProduceError, TopicError } from '../errors.ts';
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
import { consumeGroup } from './consumer.ts';
import { toError } from './errors.ts';
import { BatchBuffers, encodeRecords } from './produce.ts';
import { type PageStatement, preparePage, type ReaderSpec, readPage } from './read.ts';
import { openDatabase, type PartitionRow, prepare, type Statements, type TopicRow } from './schema.ts';
import { offsetForTime } from './time-index.ts';
import { WriterClient } from './writer-client.ts';

/** `bus.embedded.*` resolved (their defaults live in bus/config.ts: EMBEDDED_BUS_DEFAULTS). */
export interface EmbeddedBusOptions extends EmbeddedBusSettings {
  /** Directory of the log (`<dataDir>/bus`). */
  dir: string;
  /** Partitions of a topic created implicitly by produce/consume (Kafka's num.partitions). */
  defaultPartitions?: number;
  /** A consumer's claim on a partition; renewed while it runs, taken over by another consumer after it lapses. */
  leaseMs?: number;
  logger?: Logger;
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
  private readonly busyTimeoutMs: number;
  private readonly topicCache = new Map<string, TopicRow>();
  private readonly waiters = new Set<() => void>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly retentionTimer: NodeJS.Timeout;
  private closed = false;
  private readonly stmt: Statements;
  private readonly page: PageStatement;
  /** Produce batches' buffers, reused as the writer hands them back (a few in flight at a time). */
  readonly batchBuffers = new BatchBuffers({ keep: 8, maxBytes: 4 * 1024 * 1024, minBytes: 64 * 1024 });

  constructor(options: EmbeddedBusOptions) {
    mkdirSync(options.dir, { recursive: true });
    this.path = join(options.dir, 'log.db');
    this.log = options.logger ?? createLogger('bus.embedded');
    this.pollIntervalMs = options.pollIntervalMs;
    this.leaseMs = options.leaseMs ?? 30_000;
    const { busyTimeoutMs, fsync } = options;
    this.busyTimeoutMs = busyTimeoutMs;
    try {
      // Creates the schema once, at start (synchronous, before anything is served).
      this.db = openDatabase(this.path, { busyTimeoutMs, fsync, create: true });
    } catch (err) {
      throw toError(`open ${this.path}`, err);
    }
    this.stmt = prepare(this.db);
    this.page = preparePage(this.db);
    this.writer = new WriterClient(
      { path: this.path, fsync, busyTimeoutMs, defaultPartitions: options.defaultPartitions ?? 1 },
      this.log,
      (buffer) => this.batchBuffers.give(buffer),
    );
    this.retentionTimer = setInterval(() => {
      this.enforceRetention().catch((err: unknown) =>
        this.log.warn({ err }, 'embedded log retention pass failed; retried next period'),
      );
    }, options.retentionCheckIntervalMs);
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
      data = encodeRecords(records, now, this.batchBuffers.take);
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

  async consume(options: ConsumeOptions): Promise<Subscription> {
    this.checkOpen('consume');
    return consumeGroup(
      {
        writer: this.writer,
        page: this.page,
        log: this.log,
        leaseMs: this.leaseMs,
        pollIntervalMs: this.pollIntervalMs,
        topic: (name) => this.topic(name),
        idle: (ms) => this.idle(ms),
        wake: () => this.wake(),
        subscriptions: this.subscriptions,
      },
      options,
    );
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
        offset: String(offsetForTime(this.stmt, t.id, p, timestampMs)),
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
      return readPage(this.page, topic, t.id, partition, Number(offset), maxRecords);
    } catch (err) {
      throw toError('read', err);
    }
  }

  /** What a reader on another thread (read.ts openPageReader: replay workers) needs to read a topic. */
  async readerSpec(topic: string): Promise<ReaderSpec> {
    this.checkOpen('readerSpec');
    const t = await this.topic(topic);
    return { path: this.path, topic, topicId: t.id, busyTimeoutMs: this.busyTimeoutMs };
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
