/**
 * One closed hourly usage window: per (application, API, subscription tier, key type, hour) and per
 * source partition of request-attributes, how many requests were allowed, throttled or otherwise
 * denied, and the response bytes the access log reported. Published by usage-metering when the
 * partition's watermark passes the hour's end; a late event amends the window with the next revision,
 * which carries the full totals (not a delta): the latest revision of a windowId is the truth, and
 * the topic is compacted on windowId. Totals of an hour = sum over partitions of each window's latest
 * revision (request-attributes is keyed by request id, so one application's hour spans partitions).
 */
import { z } from 'zod';
import { envelope, IsoTime } from './common.ts';

const count = z.number().int().nonnegative();

export const Usage = z.object({
  ...envelope('usage'),
  windowId: z
    .string()
    .min(1)
    .max(120)
    .describe('Stable id of (hour, source partition, application, API, tier, key type); the partition key'),
  revision: z
    .number()
    .int()
    .positive()
    .describe('1 when the window closes; +1 for every amendment by late events (eventId ends with it)'),
  window: z.object({
    start: IsoTime.describe('Hour start (UTC, inclusive)'),
    end: IsoTime.describe('Hour end (UTC, exclusive)'),
  }),
  watermark: IsoTime.describe(
    "The source partition's watermark when published: max request time seen minus the allowed lateness",
  ),
  source: z.object({
    topic: z.string().describe('Wire name of the request-attributes topic'),
    partition: z.number().int().nonnegative(),
  }),
  application: z.object({ id: z.string(), name: z.string(), owner: z.string() }),
  api: z.object({ id: z.string(), name: z.string(), version: z.string(), context: z.string() }),
  subscriptionTier: z.string().nullable().describe('Subscription policy; null for an unsubscribed call'),
  keyType: z.enum(['PRODUCTION', 'SANDBOX']).nullable(),
  counts: z.object({
    allowed: count.describe('Requests let through (including over-quota ones)'),
    throttled: count.describe('Requests denied by a rate limit (decision rate-limited)'),
    denied: count.describe('Requests denied for another reason (forbidden, unauthenticated, ...)'),
    overQuota: count.describe('Allowed requests that were over quota (stopOnQuotaReach: false)'),
  }),
  responseBytes: count.describe('Sum of response body bytes of the requests whose access log reported them'),
  responseBytesKnown: count.describe('Allowed requests whose response bytes are known (access log seen)'),
  lateEvents: count.describe('Events counted after the window first closed (0 in revision 1)'),
  exact: z
    .boolean()
    .describe(
      'false when events without a checkId (older adapters) overflowed the bounded dedupe set: counts may include duplicates',
    ),
});
export type Usage = z.infer<typeof Usage>;
