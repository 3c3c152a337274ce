/**
 * usage-metering's meter state on a compacted topic, saved incrementally after every batch, before the
 * batch's offsets are committed: how a Lambda cold start gets the open and retained hours back (the
 * changelog pattern of Kafka Streams' state stores). Internal: only usage-metering reads it.
 *
 * - `segment` records, one per hour of state (key `<consumer>/<hour>`, e.g. `usage-metering/2026-11-26T04`):
 *   that hour's windows of every source partition and its seen checkId ranges. A segment whose encoded
 *   data would exceed one record's bound is cut into `parts` records (key `<consumer>/<hour>#<part>`).
 * - the `head` (key `<consumer>`): watermarks, retention marks and the segments (with the generation
 *   each was last written in) that make up the state. Written LAST, after the segments it lists were
 *   acknowledged: a reader uses the last head and, per segment, the record of the listed generation
 *   written before it, so a save cut off between its segments and its head leaves the previous state.
 * - a tombstone (null value) on a segment key once its hour expired, written after the head that no
 *   longer lists it; compaction then removes the key.
 * - `whole` (key `<consumer>`): the whole state in one record, as written before incremental saves;
 *   still read (a head replaces it under the same key), never written.
 *
 * Data is gzip-compressed JSON in base64 (functions/usage-metering/meter.ts: MeterHead, MeterSegment).
 */
import { z } from 'zod';
import { envelope, IsoTime } from './common.ts';

const Consumer = z
  .string()
  .min(1)
  .max(200)
  .describe('Who owns this state (the function name, with the topic prefix)');
const Encoding = z
  .literal('gzip+base64')
  .describe('How `data` (`state` in a whole record) is encoded: base64 of gzip of the JSON');
const Bytes = z.number().int().nonnegative().describe('Length of the JSON before compression');
const Generation = z.number().int().positive().describe('The save that wrote this record (1, 2, ...)');
const Segment = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}$/)
  .describe('The hour of state, UTC, `YYYY-MM-DDTHH`');

export const UsageMeterStateHead = z.object({
  ...envelope('usage-meter-state'),
  kind: z.literal('head'),
  consumer: Consumer,
  gen: Generation,
  savedAt: IsoTime,
  segments: z
    .array(
      z.object({
        segment: Segment,
        gen: Generation.describe('The save that last wrote this segment'),
        parts: z.number().int().positive(),
      }),
    )
    .describe('Every segment of the state, with the generation to read'),
  encoding: Encoding,
  data: z.string().describe('The encoded MeterHead'),
  bytes: Bytes,
});

export const UsageMeterStateSegment = z.object({
  ...envelope('usage-meter-state'),
  kind: z.literal('segment'),
  consumer: Consumer,
  gen: Generation,
  segment: Segment,
  part: z.number().int().nonnegative().describe('Which part of the encoded data this record holds'),
  parts: z.number().int().positive().describe('How many parts the encoded data was cut into'),
  encoding: Encoding,
  data: z.string().describe('This part of the encoded MeterSegment (the parts concatenated decode)'),
  bytes: Bytes.describe('Length of the whole segment JSON before compression'),
});

/** The record of state written before incremental saves (read, never written). */
export const UsageMeterStateWhole = z.object({
  ...envelope('usage-meter-state'),
  consumer: Consumer,
  savedAt: IsoTime,
  encoding: Encoding,
  state: z.string().describe('The encoded whole MeterState (v1)'),
  bytes: Bytes,
});

export const UsageMeterState = z.union([UsageMeterStateHead, UsageMeterStateSegment, UsageMeterStateWhole]);
export type UsageMeterState = z.infer<typeof UsageMeterState>;
export type UsageMeterStateHead = z.infer<typeof UsageMeterStateHead>;
export type UsageMeterStateSegment = z.infer<typeof UsageMeterStateSegment>;

/** The record key of a segment part (the head's and a whole record's key is the consumer). */
export function segmentKey(consumer: string, segment: string, part: number): string {
  return part === 0 ? `${consumer}/${segment}` : `${consumer}/${segment}#${part}`;
}

/** Partition (and compaction) key of a state record. */
export function usageMeterStateKey(e: UsageMeterState): string {
  return 'kind' in e && e.kind === 'segment' ? segmentKey(e.consumer, e.segment, e.part) : e.consumer;
}
