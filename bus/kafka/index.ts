/**
 * The Kafka bus (kafkajs). Producer: idempotent (acks=all, one request in flight so retries cannot
 * reorder), gzip, one sendBatch per produce() call; batching by size/time is the caller's job (the
 * emitter), since kafkajs has no linger. Consumers: autoCommit off, a batch's offset is committed only
 * after the handler resolved; a rejected handler gets the same records again after a backoff.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
// kafkajs is CommonJS: Node's ESM loader sees only its default export (named imports fail at run time).
import kafkajs, {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type KafkaConfig,
  type LogEntry,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import type { Config } from '../../common/config/index.ts';
import { ConfigError, errorMessage } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import {
  BrokerUnavailableError,
  BusClosedError,
  BusError,
  MskIamAuthError,
  ProduceError,
  TopicError,
} from '../errors.ts';
import { Redelivery } from '../redelivery.ts';
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
import { type MskIamTokenProvider, type MskTokenSigner, mskIamTokenProvider, mskRegion } from './msk-iam.ts';

const { CompressionTypes, ConfigResourceTypes, Kafka, logLevel: KafkaLogLevel, Partitioners } = kafkajs;

export type KafkaBusConfig = Config['bus']['kafka'];

/** Uncompressed bytes per sendBatch: stays under the broker's default message.max.bytes (1 MiB). */
const MAX_REQUEST_BYTES = 900 * 1024;
const JOIN_TIMEOUT_MS = 60_000;
const READ_TIMEOUT_MS = 30_000;

/** kafkajs log entries -> our pino logger (kafkajs levels: ERROR 1, WARN 2, INFO 4, DEBUG 5). */
export function kafkaLogCreator(logger: Logger) {
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _ts, logger: _l, ...extra } = log as LogEntry['log'] & { logger?: string };
      const fields = { namespace, ...extra };
      if (level === KafkaLogLevel.ERROR) logger.error(fields, message);
      else if (level === KafkaLogLevel.WARN) logger.warn(fields, message);
      else if (level === KafkaLogLevel.INFO) logger.info(fields, message);
      else logger.debug(fields, message);
    };
}

export interface KafkaClientOptions {
  /** MSK IAM token signer (tests); default: aws-msk-iam-sasl-signer-js with the default credential chain. */
  mskSigner?: MskTokenSigner;
}

function sasl(cfg: KafkaBusConfig, logger: Logger, options: KafkaClientOptions): SASLOptions | undefined {
  switch (cfg.saslMechanism) {
    case 'none':
      return undefined;
    case 'plain':
    case 'scram-sha-256':
    case 'scram-sha-512':
      if (!cfg.saslUsername || !cfg.saslPassword)
        throw new ConfigError(
          `bus.kafka.saslMechanism ${cfg.saslMechanism} needs bus.kafka.saslUsername and bus.kafka.saslPassword`,
        );
      return { mechanism: cfg.saslMechanism, username: cfg.saslUsername, password: cfg.saslPassword };
    case 'aws':
      // MSK IAM: SASL/OAUTHBEARER carrying a SigV4-presigned kafka-cluster:Connect (bus/kafka/msk-iam.ts).
      return {
        mechanism: 'oauthbearer',
        oauthBearerProvider: mskIamTokenProvider({
          region: mskRegion(cfg),
          refreshMarginMs: cfg.awsTokenRefreshMarginMs,
          logger,
          ...(options.mskSigner ? { signer: options.mskSigner } : {}),
        }),
      };
  }
}

/** kafkajs `ssl`: true/false, or tls.connect options when a CA or client certificate is configured. */
function tls(cfg: KafkaBusConfig): KafkaConfig['ssl'] {
  if (!cfg.ssl) {
    if (cfg.sslCa || cfg.sslCert || cfg.sslKey)
      throw new ConfigError('bus.kafka.sslCa/sslCert/sslKey are set but bus.kafka.ssl is false');
    return false;
  }
  if (!cfg.sslCert !== !cfg.sslKey)
    throw new ConfigError('bus.kafka.sslCert and bus.kafka.sslKey must be set together (mutual TLS)');
  if (!cfg.sslCa && !cfg.sslCert) return true;
  return {
    ...(cfg.sslCa ? { ca: [cfg.sslCa] } : {}),
    ...(cfg.sslCert ? { cert: cfg.sslCert, key: cfg.sslKey } : {}),
    ...(cfg.sslKeyPassword ? { passphrase: cfg.sslKeyPassword } : {}),
  };
}

/** The kafkajs client settings for our configuration (pure: unit-tested without a broker). */
export function kafkaClientConfig(
  cfg: KafkaBusConfig,
  logger: Logger,
  options: KafkaClientOptions = {},
): KafkaConfig {
  if (cfg.brokers.length === 0) throw new ConfigError('bus.kafka.brokers (KAFKA_BROKERS) is empty');
  const mechanism = sasl(cfg, logger, options);
  return {
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    ssl: tls(cfg),
    ...(mechanism ? { sasl: mechanism } : {}),
    connectionTimeout: cfg.connectionTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    retry: { retries: cfg.retries, initialRetryTime: 300, maxRetryTime: 5000 },
    logLevel: logger.isLevelEnabled('debug') ? KafkaLogLevel.DEBUG : KafkaLogLevel.INFO,
    logCreator: kafkaLogCreator(logger),
  };
}

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let e: unknown = err;
  while (e && chain.length < 10 && !chain.includes(e)) {
    chain.push(e);
    e =
      (e as { cause?: unknown; originalError?: unknown }).cause ??
      (e as { originalError?: unknown }).originalError;
  }
  return chain;
}

const UNAVAILABLE =
  /KafkaJS(Connection|ConnectionClosed|RequestTimeout|BrokerNotFound|NoBrokerAvailable|Metadata|TopicMetadataNotLoaded|LockTimeout|GroupCoordinatorNotFound)Error|KafkaJSBrokerNotFound|KafkaJSNumberOfRetriesExceeded|KafkaJSTimeout/;

/** A kafkajs failure as a bus error: retriable when the broker was unreachable or said "try again". */
export function toBusError(op: string, err: unknown): BusError {
  if (err instanceof BusError || err instanceof ConfigError) return err as BusError;
  const chain = causes(err);
  // Ours, wrapped by kafkajs' retrier (e.g. the MSK IAM token provider's MskIamAuthError).
  const own = chain.find((e) => e instanceof BusError);
  if (own) return own as BusError;
  const names = chain.map((e) => (e as { name?: string }).name ?? '').join(' ');
  const protocol = chain.find((e) => (e as { name?: string }).name === 'KafkaJSProtocolError') as
    | { retriable?: boolean; type?: string }
    | undefined;
  const message = `kafka ${op}: ${errorMessage(err)}`;
  if (protocol && protocol.retriable === false) {
    if (protocol.type === 'UNKNOWN_TOPIC_OR_PARTITION') return new TopicError(message, { cause: err });
    return new BusError('BUS_KAFKA', message, { cause: err, retriable: false });
  }
  if (/SASLAuthentication/.test(names)) return new BusError('BUS_KAFKA_AUTH', message, { cause: err });
  if (
    UNAVAILABLE.test(names) ||
    protocol?.retriable ||
    chain.some((e) => (e as { retriable?: boolean }).retriable === true)
  )
    return new BrokerUnavailableError(message, { cause: err });
  return new BusError('BUS_KAFKA', message, { cause: err, retriable: false });
}

function headersOf(h: IHeaders | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return out;
}

function recordSize(r: OutRecord): number {
  let n =
    (r.key?.length ?? 0) +
    (r.value === null ? 0 : typeof r.value === 'string' ? Buffer.byteLength(r.value) : r.value.length);
  for (const [k, v] of Object.entries(r.headers ?? {})) n += k.length + v.length;
  return n + 64;
}

export class KafkaBus implements Bus, BusAdmin {
  readonly kind = 'kafka' as const;
  private readonly kafka: InstanceType<typeof Kafka>;
  private readonly log: Logger;
  private producer: Promise<Producer> | null = null;
  private admin: Promise<Admin> | null = null;
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;

  constructor(
    private readonly cfg: KafkaBusConfig,
    logger: Logger = createLogger('bus.kafka'),
    options: KafkaClientOptions = {},
  ) {
    this.log = logger;
    const clientConfig = kafkaClientConfig(cfg, logger, options);
    const provider = (clientConfig.sasl as { oauthBearerProvider?: Partial<MskIamTokenProvider> } | undefined)
      ?.oauthBearerProvider;
    this.authFailure = () => provider?.lastError ?? null;
    this.kafka = new Kafka(clientConfig);
  }

  /** MSK IAM: the token provider's current failure (kafkajs' own error hides it), else none. */
  private readonly authFailure: () => MskIamAuthError | null;

  private toError(op: string, err: unknown): BusError {
    return this.authFailure() ?? toBusError(op, err);
  }

  private checkOpen(op: string): void {
    if (this.closed) throw new BusClosedError(op);
  }

  /** Connected lazily and again after a failed connect, so a broker that is down at start is not fatal. */
  private getProducer(): Promise<Producer> {
    if (!this.producer) {
      const p = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      this.producer = p.connect().then(
        () => p,
        (err: unknown) => {
          this.producer = null;
          throw err;
        },
      );
    }
    return this.producer;
  }

  /**
   * After a failed send the idempotent producer's sequence numbers may no longer match the broker's
   * (the batch may or may not have been written): the next produce() starts a new producer id.
   */
  private resetProducer(): void {
    const old = this.producer;
    this.producer = null;
    old?.then((p) => p.disconnect()).catch(() => undefined);
  }

  private getAdmin(): Promise<Admin> {
    if (!this.admin) {
      const a = this.kafka.admin();
      this.admin = a.connect().then(
        () => a,
        (err: unknown) => {
          this.admin = null;
          throw err;
        },
      );
    }
    return this.admin;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    this.checkOpen('ensureTopics');
    for (const s of specs) {
      if (!Number.isInteger(s.partitions) || s.partitions < 1)
        throw new TopicError(`topic ${s.name}: partitions must be a positive integer, got ${s.partitions}`);
    }
    try {
      const admin = await this.getAdmin();
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(s.name));
      if (missing.length === 0) return;
      try {
        await admin.createTopics({
          waitForLeaders: true,
          timeout: this.cfg.requestTimeoutMs,
          topics: missing.map((s) => ({
            topic: s.name,
            numPartitions: s.partitions,
            replicationFactor: this.cfg.replicationFactor,
            configEntries: [
              { name: 'retention.ms', value: String(s.retentionMs) },
              { name: 'retention.bytes', value: String(s.retentionBytes ?? -1) },
              { name: 'cleanup.policy', value: s.cleanupPolicy },
            ],
          })),
        });
      } catch (err) {
        // Another client may have created them in between: fine if they exist now.
        const now = new Set(await admin.listTopics());
        if (!missing.every((s) => now.has(s.name))) throw err;
      }
    } catch (err) {
      throw this.toError('ensureTopics', err);
    }
  }

  async produce(topic: string, records: OutRecord[]): Promise<void> {
    this.checkOpen('produce');
    if (records.length === 0) return;
    // Chunks go out one after the other (order kept); a failure rejects the whole call, and the
    // caller's retry may duplicate chunks that were acknowledged (at-least-once).
    const chunks: OutRecord[][] = [[]];
    let bytes = 0;
    for (const r of records) {
      const size = recordSize(r);
      if (bytes + size > MAX_REQUEST_BYTES && chunks[chunks.length - 1]!.length > 0) {
        chunks.push([]);
        bytes = 0;
      }
      chunks[chunks.length - 1]!.push(r);
      bytes += size;
    }
    try {
      const producer = await this.getProducer();
      for (const chunk of chunks) {
        await producer.sendBatch({
          acks: -1,
          timeout: this.cfg.requestTimeoutMs,
          compression: CompressionTypes.GZIP,
          topicMessages: [
            {
              topic,
              messages: chunk.map((r) => ({
                key: r.key,
                value: r.value,
                ...(r.headers ? { headers: r.headers } : {}),
                ...(r.timestamp !== undefined ? { timestamp: String(r.timestamp) } : {}),
              })),
            },
          ],
        });
      }
    } catch (err) {
      this.resetProducer();
      const e = this.toError(`produce to ${topic}`, err);
      // Not a produce problem: no IAM token could be signed (the caller retries; the message says why).
      throw e instanceof BrokerUnavailableError || e instanceof TopicError || e instanceof MskIamAuthError
        ? e
        : new ProduceError(e.message, { cause: err, retriable: e.retriable });
    }
  }

  /** Resolves once the consumer joined its group (or after JOIN_TIMEOUT_MS, still running). */
  private async startConsumer(
    consumer: Consumer,
    topics: string[],
    fromBeginning: boolean,
    eachBatch: (p: EachBatchPayload) => Promise<void>,
    afterRun?: () => void,
  ): Promise<void> {
    let joined!: () => void;
    const join = new Promise<void>((resolve) => {
      joined = resolve;
    });
    const off = consumer.on(consumer.events.GROUP_JOIN, () => joined());
    consumer.on(consumer.events.CRASH, (e) =>
      this.log.warn({ err: e.payload.error, restart: e.payload.restart }, 'kafka consumer crashed'),
    );
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch,
    });
    afterRun?.();
    const timer = sleep(JOIN_TIMEOUT_MS).then(() => 'timeout' as const);
    const r = await Promise.race([join.then(() => 'joined' as const), timer]);
    off();
    if (r === 'timeout') this.log.warn({ topics }, 'consumer has not joined its group yet; it keeps trying');
  }

  async consume(options: ConsumeOptions): Promise<Subscription> {
    this.checkOpen('consume');
    const maxBatch = options.maxBatchSize ?? 100;
    const log = this.log.child({ groupId: options.groupId });
    const consumer = this.kafka.consumer({
      groupId: options.groupId,
      maxWaitTimeInMs: options.maxWaitMs ?? 500,
      sessionTimeout: this.cfg.sessionTimeoutMs,
      rebalanceTimeout: Math.max(60_000, this.cfg.sessionTimeoutMs),
      heartbeatInterval: Math.min(3000, Math.floor(this.cfg.sessionTimeoutMs / 3)),
      allowAutoTopicCreation: false,
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 5000 },
    });
    let running = true;
    const redelivery = new Redelivery(options.handler, { log });
    const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
      const messages = batch.messages;
      for (let i = 0; i < messages.length; i += maxBatch) {
        const chunk = messages.slice(i, i + maxBatch);
        const records: InRecord[] = chunk.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          timestamp: Number(m.timestamp),
          key: m.key ?? null,
          value: m.value ?? null,
          headers: headersOf(m.headers),
        }));
        const key = `${batch.topic}|${batch.partition}`;
        // The backoff sleep ends early when the subscription stops or loses the partition.
        const wait = async (ms: number) => {
          const until = Date.now() + ms;
          while (running && isRunning() && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
        };
        for (;;) {
          if (!running || !isRunning() || isStale()) {
            redelivery.forget(key);
            return; // uncommitted: redelivered to the next owner
          }
          if (
            await redelivery.deliver(key, { topic: batch.topic, partition: batch.partition, records }, wait)
          )
            break;
          await heartbeat().catch(() => undefined);
        }
        const last = chunk[chunk.length - 1]!.offset;
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ]);
        resolveOffset(last);
        await heartbeat();
      }
    };
    try {
      await this.startConsumer(consumer, options.topics, options.fromBeginning !== false, eachBatch);
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw this.toError(`consume ${options.topics.join(',')}`, err);
    }
    const sub: Subscription = {
      stop: async () => {
        if (!running) return;
        running = false;
        this.subscriptions.delete(sub);
        await consumer.disconnect().catch((err: unknown) => log.warn({ err }, 'consumer disconnect failed'));
      },
    };
    this.subscriptions.add(sub);
    return sub;
  }

  async offsetsForTime(topic: string, timestampMs: number): Promise<PartitionOffset[]> {
    this.checkOpen('offsetsForTime');
    try {
      const admin = await this.getAdmin();
      // kafkajs already answers the high watermark for partitions with no record at/after the time.
      const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, timestampMs);
      return offsets
        .map((o) => ({ partition: o.partition, offset: o.offset }))
        .sort((a, b) => a.partition - b.partition);
    } catch (err) {
      throw this.toError(`offsetsForTime ${topic}`, err);
    }
  }

  private async watermarks(topic: string) {
    const admin = await this.getAdmin();
    return (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
  }

  async endOffsets(topic: string): Promise<PartitionOffset[]> {
    this.checkOpen('endOffsets');
    try {
      return (await this.watermarks(topic)).map((o) => ({ partition: o.partition, offset: o.high }));
    } catch (err) {
      throw this.toError(`endOffsets ${topic}`, err);
    }
  }

  /**
   * Replay without a group. kafkajs has no manual partition assignment, so this joins a throw-away
   * group (unique id, never commits: nothing of it stays on the broker once it leaves), seeks the
   * partition and collects. Costs a group join per call: for replays and tools, not the hot path.
   */
  async read(topic: string, partition: number, offset: string, maxRecords: number): Promise<InRecord[]> {
    this.checkOpen('read');
    let marks: Awaited<ReturnType<KafkaBus['watermarks']>>;
    try {
      marks = await this.watermarks(topic);
    } catch (err) {
      throw this.toError(`read ${topic}`, err);
    }
    const mark = marks.find((m) => m.partition === partition);
    if (!mark) throw new TopicError(`topic ${topic} has no partition ${partition}`);
    const high = BigInt(mark.high);
    const start = BigInt(offset) < BigInt(mark.low) ? BigInt(mark.low) : BigInt(offset);
    if (maxRecords <= 0 || start >= high) return [];
    const consumer = this.kafka.consumer({
      groupId: `${this.cfg.clientId}.replay.${randomUUID()}`,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
      retry: { retries: 3 },
    });
    const out: InRecord[] = [];
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const eachBatch = async ({ batch, pause }: EachBatchPayload) => {
      if (batch.partition !== partition) {
        pause();
        return;
      }
      for (const m of batch.messages) {
        if (BigInt(m.offset) < start) continue;
        out.push({
          topic,
          partition,
          offset: m.offset,
          timestamp: Number(m.timestamp),
          key: m.key ?? null,
          value: m.value ?? null,
          headers: headersOf(m.headers),
        });
        if (out.length >= maxRecords || BigInt(m.offset) + 1n >= high) break;
      }
      const last = out[out.length - 1];
      if (out.length >= maxRecords || (last && BigInt(last.offset) + 1n >= high)) finish();
    };
    try {
      await this.startConsumer(consumer, [topic], true, eachBatch, () =>
        consumer.seek({ topic, partition, offset: start.toString() }),
      );
      // Retention may remove the wanted records after the watermarks were read: the fetch then resets
      // to the new log start and, if that is the old end, no batch ever comes. Watch the log start.
      const until = Date.now() + READ_TIMEOUT_MS;
      let finished = false;
      void done.then(() => {
        finished = true;
      });
      while (!finished) {
        await Promise.race([done, sleep(250)]);
        if (finished) break;
        const now = (await this.watermarks(topic)).find((m) => m.partition === partition);
        if (now && BigInt(now.low) >= high) break; // nothing left in [start, high)
        if (Date.now() > until)
          throw new BrokerUnavailableError(
            `kafka read ${topic}/${partition}: no records within ${READ_TIMEOUT_MS} ms`,
          );
      }
      return out.slice(0, maxRecords);
    } catch (err) {
      throw this.toError(`read ${topic}/${partition}`, err);
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
  }

  async describeTopics(names?: string[]): Promise<TopicDescription[]> {
    this.checkOpen('describeTopics');
    try {
      const admin = await this.getAdmin();
      const all = await admin.listTopics();
      const wanted = (names ?? all.filter((t) => !t.startsWith('__'))).filter((t) => all.includes(t)).sort();
      if (wanted.length === 0) return [];
      const meta = await admin.fetchTopicMetadata({ topics: wanted });
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: wanted.map((name) => ({
          type: ConfigResourceTypes.TOPIC,
          name,
          configNames: ['retention.ms', 'retention.bytes', 'cleanup.policy'],
        })),
      });
      const out: TopicDescription[] = [];
      for (const name of wanted) {
        const entries = configs.resources.find((r) => r.resourceName === name)?.configEntries ?? [];
        const conf = (k: string) => entries.find((e) => e.configName === k)?.configValue;
        const marks = await this.watermarks(name);
        out.push({
          name,
          partitions: meta.topics.find((t) => t.name === name)?.partitions.length ?? 0,
          retentionMs: Number(conf('retention.ms') ?? -1),
          retentionBytes: Number(conf('retention.bytes') ?? -1),
          cleanupPolicy: conf('cleanup.policy') === 'compact' ? 'compact' : 'delete',
          offsets: marks.map((m) => ({ partition: m.partition, start: m.low, end: m.high })),
        });
      }
      return out;
    } catch (err) {
      throw this.toError('describeTopics', err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    const producer = this.producer;
    const admin = this.admin;
    this.producer = null;
    this.admin = null;
    await Promise.all([
      producer?.then((p) => p.disconnect()).catch(() => undefined),
      admin?.then((a) => a.disconnect()).catch(() => undefined),
    ]);
  }
}
