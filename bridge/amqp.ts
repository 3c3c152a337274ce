/**
 * AMQP 0-9-1 transport of the bridge: subscribes to API Manager's event hub like its gateways do
 * (`amq.topic`, routing keys tokenRevocation + notification), through a durable queue so nothing
 * published while the bridge is down is lost. Messages are handled one at a time in order and
 * acknowledged only after the bus accepted the result; while the bus refuses, the message is held
 * and retried with backoff. Connection loss -> reconnect with capped exponential backoff.
 */
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { Backoff, sleep } from '../common/backoff.ts';
import { createLogger } from '../common/log.ts';
import { PoisonMessageError } from '../common/revocation-errors.ts';
import type { TokenRevoked } from '../events/token-revoked.ts';
import type { EventPublisher, Outcome } from './publish.ts';
import {
  BATCH_REVOCATION_TYPE,
  isBatchRevocation,
  type MapOptions,
  notificationFromWso2,
  ROUTING_KEY_NOTIFICATION,
  ROUTING_KEY_REVOCATION,
  revocationFromWso2,
} from './wso2.ts';

const log = createLogger('bridge-amqp');

export interface AmqpBridgeOptions extends MapOptions {
  url: string;
  exchange: string;
  queueName: string;
  reconnectMaxMs: number;
  reconnectMinMs?: number;
  prefetch?: number;
  onOutcome?: (o: Outcome) => void;
  /**
   * Re-pulls API Manager's revoked set (GET /internal/data/v1/revokedjwt) for a
   * TOKEN_REVOCATION_BATCH_EVENT. Absent (no apim.url): such a message is dead-lettered.
   */
  repullRevoked?: () => Promise<TokenRevoked[]>;
}

/** A `tokenRevocation` message -> one event, or the re-pulled revoked set for a batch event. */
export function revocationOrBatch(
  body: string,
  o: MapOptions & Pick<AmqpBridgeOptions, 'repullRevoked'>,
): TokenRevoked | Promise<TokenRevoked[]> {
  if (!isBatchRevocation(body)) return revocationFromWso2(body, o);
  if (!o.repullRevoked)
    throw new PoisonMessageError(
      `${BATCH_REVOCATION_TYPE}: set apim.url so the bridge can re-pull /revokedjwt`,
    );
  return o.repullRevoked();
}

export class AmqpBridge {
  private conn: ChannelModel | null = null;
  private channel: Channel | null = null;
  private stopped = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly reconnect: Backoff;
  private wake: (() => void) | null = null;
  private connectedOnce!: () => void;
  /** Resolves when the first consumer is attached. */
  readonly ready = new Promise<void>((r) => {
    this.connectedOnce = r;
  });
  private loop: Promise<void> | null = null;
  connections = 0;
  /** True while a consumer is attached (readiness of `mesh-apim bridge`). */
  consuming = false;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly o: AmqpBridgeOptions,
  ) {
    const minMs = Math.min(o.reconnectMinMs ?? 250, o.reconnectMaxMs);
    this.reconnect = new Backoff({ minMs, maxMs: o.reconnectMaxMs, jitter: 'none' });
  }

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const closed = await this.connect();
        this.reconnect.reset();
        await closed;
      } catch (err) {
        if (!this.stopped) log.warn({ err: String(err) }, 'event hub connection failed');
      }
      this.conn = null;
      this.channel = null;
      if (this.stopped) break;
      // Equal jitter: half the capped wait, plus up to the other half.
      const cap = this.reconnect.next();
      await this.sleep(cap / 2 + (Math.random() * cap) / 2);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Connects and starts consuming; resolves with a promise that settles when the connection is gone. */
  private async connect(): Promise<Promise<void>> {
    const conn = await amqp.connect(this.o.url, {
      clientProperties: { connection_name: 'mesh-apim-bridge' },
    });
    this.conn = conn;
    const closed = new Promise<void>((resolve) => {
      conn.on('close', () => resolve());
      conn.on('error', (err: Error) => log.warn({ err: err.message }, 'event hub connection error'));
    });
    const ch = await conn.createChannel();
    this.channel = ch;
    ch.on('error', (err: Error) => log.warn({ err: err.message }, 'event hub channel error'));
    ch.on('close', () => {
      this.consuming = false;
      // A channel closed by the broker leaves the connection up: close it to reconnect cleanly.
      if (!this.stopped) conn.close().catch(() => {});
    });
    await ch.assertQueue(this.o.queueName, { durable: true });
    await ch.bindQueue(this.o.queueName, this.o.exchange, ROUTING_KEY_REVOCATION);
    await ch.bindQueue(this.o.queueName, this.o.exchange, ROUTING_KEY_NOTIFICATION);
    await ch.prefetch(this.o.prefetch ?? 50);
    await ch.consume(this.o.queueName, (msg) => {
      if (msg) this.chain = this.chain.then(() => this.handle(ch, msg));
    });
    this.connections++;
    this.consuming = true;
    log.info({ queue: this.o.queueName, exchange: this.o.exchange }, 'bridging the event hub');
    this.connectedOnce();
    return closed;
  }

  private async handle(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const rk = msg.fields.routingKey;
    const map =
      rk === ROUTING_KEY_REVOCATION
        ? (b: string) => revocationOrBatch(b, this.o)
        : (b: string) => notificationFromWso2(b, this.o);
    const backoff = new Backoff({ minMs: 100, maxMs: 5_000, jitter: 'none' });
    for (;;) {
      if (this.stopped || this.channel !== ch) return; // unacked: the broker redelivers it
      try {
        const outcome = await this.publisher.bridge(
          {
            source: `${msg.fields.exchange}/${rk}`,
            body: msg.content,
            position: String(msg.fields.deliveryTag),
            timestamp: typeof msg.properties.timestamp === 'number' ? msg.properties.timestamp : Date.now(),
          },
          map,
        );
        if (rk !== ROUTING_KEY_REVOCATION && rk !== ROUTING_KEY_NOTIFICATION)
          log.warn({ routingKey: rk }, 'unexpected routing key, treated as notification');
        ch.ack(msg);
        this.o.onOutcome?.(outcome);
        return;
      } catch (err) {
        const wait = backoff.next();
        log.warn({ err: String(err), backoffMs: wait }, 'bus refused a bridged event; holding the message');
        await sleep(wait);
      }
    }
  }

  /** Test/ops hook: drop the connection as a network failure would. */
  async dropConnection(): Promise<void> {
    await this.conn?.close().catch(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.chain.catch(() => {});
    await this.conn?.close().catch(() => {});
    await this.loop;
  }
}
