/**
 * Dead-letter envelopes (events/dead-letter.ts) and the injectable publisher that sends them:
 * in-process a Bus, on Lambda a lazily created Kafka producer (see deps.ts).
 */
import type { Bus, InRecord } from '../../bus/types.ts';
import type { DeadLetter } from '../../events/dead-letter.ts';
import { TOPICS, topicName } from '../../events/topics.ts';
import { DeadLetterPublishError, type FailureStage } from './errors.ts';
import type { LambdaKafkaRecord } from './kafka-event.ts';

export interface DeadLetterPublisher {
  /** Resolves once every letter is durably accepted; rejects otherwise (the batch is then retried). */
  publish(letters: DeadLetter[]): Promise<void>;
}

export interface FailureInfo {
  stage: FailureStage;
  code: string;
  message: string;
  details?: unknown;
}

/**
 * Deterministic eventId: a redelivered batch dead-letters the same record under the same id, so a
 * dead-letter consumer can drop the duplicates that at-least-once delivery produces.
 */
export function deadLetterId(consumer: string, topic: string, partition: number, offset: string): string {
  return `dl:${consumer}:${topic}:${partition}:${offset}`;
}

export function deadLetterFromRecord(
  consumer: string,
  record: InRecord,
  failure: FailureInfo,
  now: Date = new Date(),
): DeadLetter {
  return {
    type: 'dead-letter',
    schemaVersion: 1,
    eventId: deadLetterId(consumer, record.topic, record.partition, record.offset),
    occurredAt: now.toISOString(),
    consumer,
    source: {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: Number.isFinite(record.timestamp) ? Math.trunc(record.timestamp) : null,
    },
    original: {
      key: record.key === null ? null : record.key.toString('base64'),
      value: record.value === null ? null : record.value.toString('base64'),
      headers: Object.fromEntries(Object.entries(record.headers).map(([k, v]) => [k, v.toString('base64')])),
    },
    error: withDetails(failure),
  };
}

/** For records that could not be decoded at all: the original fields are kept as Lambda sent them. */
export function deadLetterFromRaw(
  consumer: string,
  coords: { topic: string; partition: number; offset: string; timestamp: number | null },
  raw: LambdaKafkaRecord,
  failure: FailureInfo,
  now: Date = new Date(),
): DeadLetter {
  const headers: Record<string, string> = {};
  if (Array.isArray(raw.headers)) {
    for (const h of raw.headers) {
      if (typeof h !== 'object' || h === null) continue;
      for (const [k, v] of Object.entries(h)) {
        if (Array.isArray(v)) headers[k] = Buffer.from(v.map((b) => Number(b) & 0xff)).toString('base64');
      }
    }
  }
  return {
    type: 'dead-letter',
    schemaVersion: 1,
    eventId: deadLetterId(consumer, coords.topic, coords.partition, coords.offset),
    occurredAt: now.toISOString(),
    consumer,
    source: { ...coords, timestamp: coords.timestamp === null ? null : Math.trunc(coords.timestamp) },
    original: {
      key: typeof raw.key === 'string' ? raw.key : null,
      value: typeof raw.value === 'string' ? raw.value : null,
      headers,
    },
    error: withDetails(failure),
  };
}

function withDetails(f: FailureInfo): DeadLetter['error'] {
  const e: DeadLetter['error'] = { stage: f.stage, code: f.code, message: f.message };
  if (f.details !== undefined) e.details = f.details;
  return e;
}

/** Publishes to the dead-letter topic of a Bus (embedded log, Kafka, MemoryBus in tests). */
export function busDeadLetterPublisher(bus: Pick<Bus, 'produce'>, topicPrefix = ''): DeadLetterPublisher {
  const topic = topicName(TOPICS.deadLetter, topicPrefix);
  return {
    async publish(letters) {
      if (letters.length === 0) return;
      try {
        await bus.produce(
          topic,
          letters.map((l) => ({
            key: TOPICS.deadLetter.key(l),
            value: JSON.stringify(l),
            headers: { 'mesh-apim-consumer': l.consumer },
          })),
        );
      } catch (err) {
        throw new DeadLetterPublishError(`dead-letter publish to ${topic} failed`, err);
      }
    },
  };
}

/** Collects letters in memory (tests, `invoke --dry-run`). */
export class MemoryDeadLetterPublisher implements DeadLetterPublisher {
  readonly letters: DeadLetter[] = [];
  async publish(letters: DeadLetter[]): Promise<void> {
    this.letters.push(...letters);
  }
}
