/**
 * Dead letters of function batches (the envelope itself: events/dead-letter.ts) and the injectable
 * publisher that sends them: in-process a Bus, on Lambda a lazily created Kafka producer (see deps.ts).
 */
import { publish, topicOf } from '../../bus/publish.ts';
import type { Bus, InRecord } from '../../bus/types.ts';
import { type DeadLetter, deadLetter, deadLetterId, originalOf } from '../../events/dead-letter.ts';
import { TOPICS } from '../../events/topics.ts';
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

/** Re-exported: the functions' lib API has always offered it (functions/lib/index.ts). */
export { deadLetterId };

export function deadLetterFromRecord(
  consumer: string,
  record: InRecord,
  failure: FailureInfo,
  now: Date = new Date(),
): DeadLetter {
  return deadLetter({
    eventId: deadLetterId(consumer, record.topic, record.partition, record.offset),
    consumer,
    source: {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: Number.isFinite(record.timestamp) ? Math.trunc(record.timestamp) : null,
    },
    original: originalOf(record.key, record.value, record.headers),
    error: failure,
    now,
  });
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
  return deadLetter({
    eventId: deadLetterId(consumer, coords.topic, coords.partition, coords.offset),
    consumer,
    source: { ...coords, timestamp: coords.timestamp === null ? null : Math.trunc(coords.timestamp) },
    original: {
      key: typeof raw.key === 'string' ? raw.key : null,
      value: typeof raw.value === 'string' ? raw.value : null,
      headers,
    },
    error: failure,
    now,
  });
}

/** Publishes to the dead-letter topic of a Bus (embedded log, Kafka, MemoryBus in tests). */
export function busDeadLetterPublisher(bus: Pick<Bus, 'produce'>, topicPrefix = ''): DeadLetterPublisher {
  const topic = topicOf(TOPICS.deadLetter, topicPrefix);
  return {
    async publish(letters) {
      try {
        await publish(bus, topic, letters, { headers: (l) => ({ 'mesh-apim-consumer': l.consumer }) });
      } catch (err) {
        throw new DeadLetterPublishError(`dead-letter publish to ${topic.name} failed`, err);
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
