/**
 * usage-metering's whole meter state (open and retained windows, seen checkId ranges, watermarks), one
 * record per consumer (the key), written after every batch before the batch's offsets are committed,
 * on a compacted topic: the latest record per consumer is the state. It is how a Lambda cold start
 * gets the open hours back (the changelog pattern of Kafka Streams' state stores). Internal: only
 * usage-metering reads it. The state is gzip-compressed JSON in base64 (it compresses ~10x), so one
 * record holds the state of roughly 10^4 retained windows within Kafka's default 1 MB message limit.
 */
import { z } from 'zod';
import { envelope, IsoTime } from './common.ts';

export const UsageMeterState = z.object({
  ...envelope('usage-meter-state'),
  consumer: z.string().min(1).max(200).describe('Who owns this state (the function name); the partition key'),
  savedAt: IsoTime,
  encoding: z
    .literal('gzip+base64')
    .describe('How `state` is encoded: base64 of gzip of the JSON MeterState'),
  state: z.string().describe('The encoded MeterState (functions/usage-metering/meter.ts)'),
  bytes: z.number().int().nonnegative().describe('Length of the JSON MeterState before compression'),
});
export type UsageMeterState = z.infer<typeof UsageMeterState>;
