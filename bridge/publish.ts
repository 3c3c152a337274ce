/**
 * Bridge core: one incoming message -> one event on the bus, or a dead letter when it can never be
 * mapped. Resolves only once the bus accepted what it produced; the transport acknowledges after.
 */
import { publish, topicOf } from '../bus/publish.ts';
import type { Bus } from '../bus/types.ts';
import { PoisonMessageError } from '../common/revocation-errors.ts';
import type { ControlPlaneChanged } from '../events/control-plane-changed.ts';
import { deadLetter, originalOf } from '../events/dead-letter.ts';
import type { TokenRevoked } from '../events/token-revoked.ts';
import { TOPICS } from '../events/topics.ts';
import { stableEventId } from './wso2.ts';

export interface IncomingMessage {
  /** Where it came from, e.g. `amq.topic/tokenRevocation` or `http:/jti`. */
  source: string;
  body: Buffer;
  headers?: Record<string, string>;
  /** Transport position (AMQP delivery tag) for the dead letter's coordinates. */
  position?: string;
  timestamp?: number;
}

export type Outcome =
  | { status: 'published'; event: TokenRevoked | ControlPlaneChanged }
  /** A batch revocation: the re-pulled revoked set, published entry by entry (ids are stable). */
  | { status: 'republished'; events: readonly TokenRevoked[] }
  | { status: 'dead-lettered'; reason: string };

export type Mapped = TokenRevoked | ControlPlaneChanged | readonly TokenRevoked[];

export class EventPublisher {
  constructor(
    private readonly bus: Bus,
    private readonly topicPrefix = '',
    private readonly consumer = 'event-hub-bridge',
    private readonly now: () => number = Date.now,
  ) {}

  async revoked(event: TokenRevoked): Promise<void> {
    await publish(this.bus, topicOf(TOPICS.tokenRevoked, this.topicPrefix), [event]);
  }

  async changed(event: ControlPlaneChanged): Promise<void> {
    await publish(this.bus, topicOf(TOPICS.controlPlaneChanged, this.topicPrefix), [event]);
  }

  /** Maps with `map`; a PoisonMessageError dead-letters the original instead. Bus errors propagate. */
  async bridge(msg: IncomingMessage, map: (body: string) => Mapped | Promise<Mapped>): Promise<Outcome> {
    let event: Mapped;
    try {
      event = await map(msg.body.toString('utf8'));
    } catch (err) {
      if (!(err instanceof PoisonMessageError)) throw err;
      await this.deadLetter(msg, err);
      return { status: 'dead-lettered', reason: err.message };
    }
    if (Array.isArray(event)) {
      const events = event as readonly TokenRevoked[];
      await publish(this.bus, topicOf(TOPICS.tokenRevoked, this.topicPrefix), events);
      return { status: 'republished', events };
    }
    const one = event as TokenRevoked | ControlPlaneChanged;
    if (one.type === 'token-revoked') await this.revoked(one);
    else await this.changed(one);
    return { status: 'published', event: one };
  }

  private async deadLetter(msg: IncomingMessage, err: PoisonMessageError): Promise<void> {
    const dl = deadLetter({
      eventId: stableEventId('dl', msg.source, msg.body.toString('base64')),
      consumer: this.consumer,
      source: {
        topic: msg.source,
        partition: 0,
        offset: msg.position ?? '0',
        timestamp: msg.timestamp ?? null,
      },
      original: originalOf(null, msg.body, msg.headers ?? {}),
      error: { stage: 'decode', code: err.code, message: err.message },
      now: new Date(this.now()),
    });
    await publish(this.bus, topicOf(TOPICS.deadLetter, this.topicPrefix), [dl]);
  }
}
