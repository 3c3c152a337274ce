/**
 * The event bus: one interface, implemented by Kafka (kafkajs) and by the embedded durable log.
 * Semantics follow Kafka's so that code written against one runs on the other: topics with
 * partitions, per-partition offsets (decimal strings), consumer groups that commit an offset only
 * after the handler succeeded (at-least-once), records keyed for ordering.
 */

export interface OutRecord {
  key: string | null;
  /** null = a tombstone: compaction of a compacted topic removes the key (Kafka's delete marker). */
  value: Buffer | string | null;
  headers?: Record<string, string>;
  /** ms since epoch; defaults to now. */
  timestamp?: number;
}

export interface InRecord {
  topic: string;
  partition: number;
  /** Decimal string, as in Kafka. */
  offset: string;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** -1 = forever. */
  retentionMs: number;
  retentionBytes?: number;
  cleanupPolicy: 'delete' | 'compact';
}

/** A batch of records of one partition, in offset order. */
export interface Batch {
  topic: string;
  partition: number;
  records: InRecord[];
}

export interface ConsumeOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts. */
  fromBeginning?: boolean;
  /** Max records per handler call. */
  maxBatchSize?: number;
  /** Max wait to fill a batch before handing over what there is. */
  maxWaitMs?: number;
  /**
   * Called with each batch; resolves -> the batch's last offset + 1 is committed.
   * Rejects -> nothing is committed and the same batch is delivered again (after backoff).
   */
  handler(batch: Batch): Promise<void>;
}

export interface Subscription {
  stop(): Promise<void>;
}

export interface PartitionOffset {
  partition: number;
  offset: string;
}

export interface Bus {
  readonly kind: 'kafka' | 'embedded' | 'memory';
  /** Creates missing topics; existing ones are left as they are (idempotent). */
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  /** Resolves once the records are durably accepted (Kafka: acks=all). Rejects on failure: nothing partial is reported as sent. */
  produce(topic: string, records: OutRecord[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<Subscription>;
  /** Per partition, the earliest offset whose timestamp is >= ts (the end offset if none): Kafka's offsets-for-times. */
  offsetsForTime(topic: string, timestampMs: number): Promise<PartitionOffset[]>;
  /** Per partition, the offset the next produced record will get. */
  endOffsets(topic: string): Promise<PartitionOffset[]>;
  /**
   * Reads without a consumer group (replay): up to maxRecords from `offset` on one partition. An offset
   * below the log start (records removed by retention) reads from the log start, as a consumer with
   * auto.offset.reset=earliest would; at or past the end it returns [].
   */
  read(topic: string, partition: number, offset: string, maxRecords: number): Promise<InRecord[]>;
  close(): Promise<void>;
}

/** What a bus reports about an existing topic (`mesh-apim topics list`, `topics apply` verification). */
export interface TopicDescription extends TopicSpec {
  /** Per partition, the first offset still in the log (retention moves it) and the end offset. */
  offsets: { partition: number; start: string; end: string }[];
}

/**
 * Administration beside the data path, implemented by the Kafka and embedded buses (createBus returns
 * both). Kept out of Bus so that test doubles of Bus need not implement it.
 */
export interface BusAdmin {
  /** The named topics that exist (all topics when names is omitted), with their settings. */
  describeTopics(names?: string[]): Promise<TopicDescription[]>;
}
