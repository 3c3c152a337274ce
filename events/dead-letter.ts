/** A record a consumer could not process and will never succeed on retry, with where it came from. */
import { z } from 'zod';
import { envelope } from './common.ts';

export const DeadLetter = z.object({
  ...envelope('dead-letter'),
  consumer: z.string().describe('Function/consumer that gave up, e.g. analytics-publisher'),
  source: z.object({
    topic: z.string(),
    partition: z.number().int(),
    offset: z.string().describe('Kafka offset as a decimal string'),
    timestamp: z.number().int().nullable().describe('Record timestamp, ms since epoch'),
  }),
  original: z.object({
    key: z.string().nullable().describe('base64'),
    value: z.string().nullable().describe('base64'),
    headers: z.record(z.string(), z.string()).describe('header name -> base64 value'),
  }),
  error: z.object({
    stage: z.enum(['decode', 'validate', 'process']),
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional().describe('e.g. the API Manager error body'),
  }),
});
export type DeadLetter = z.infer<typeof DeadLetter>;

/**
 * The one builder of a dead-letter envelope (functions' batch runner, the bridge, ...): callers say
 * where the record came from and why it failed; the envelope fields and their order are fixed here.
 * `eventId` should be deterministic (deadLetterId) so a redelivered record is dead-lettered under the
 * same id and a dead-letter consumer can drop the duplicates at-least-once delivery makes.
 */
export function deadLetter(o: {
  eventId: string;
  consumer: string;
  source: DeadLetter['source'];
  original: DeadLetter['original'];
  error: { stage: DeadLetter['error']['stage']; code: string; message: string; details?: unknown };
  now: Date;
}): DeadLetter {
  const error: DeadLetter['error'] = { stage: o.error.stage, code: o.error.code, message: o.error.message };
  if (o.error.details !== undefined) error.details = o.error.details;
  return {
    type: 'dead-letter',
    schemaVersion: 1,
    eventId: o.eventId,
    occurredAt: o.now.toISOString(),
    consumer: o.consumer,
    source: o.source,
    original: o.original,
    error,
  };
}

/** The deterministic id of a bus record's dead letter. */
export function deadLetterId(consumer: string, topic: string, partition: number, offset: string): string {
  return `dl:${consumer}:${topic}:${partition}:${offset}`;
}

/** The original record's bytes as the envelope carries them (base64; header values as bytes or utf8). */
export function originalOf(
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: Record<string, Uint8Array | string>,
): DeadLetter['original'] {
  const b64 = (v: Uint8Array | string) =>
    (typeof v === 'string' ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength)).toString(
      'base64',
    );
  return {
    key: key === null ? null : b64(key),
    value: value === null ? null : b64(value),
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, b64(v)])),
  };
}
