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
