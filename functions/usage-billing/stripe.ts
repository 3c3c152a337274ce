/**
 * Stripe usage records, in the shape WSO2's Stripe monetization sends them
 * (wso2-am-stripe-plugin StripeMonetizationImpl.publishMonetizationUsageRecords ->
 * UsageRecord.createOnSubscriptionItem): `POST /v1/subscription_items/{item}/usage_records`,
 * form-encoded `quantity`, `timestamp` (unix seconds), `action`, with `Authorization: Bearer <key>`,
 * `Stripe-Account` for a connected account and an `Idempotency-Key`.
 *
 * Where we differ from WSO2, and why:
 * - WSO2 posts `action=increment` of the requests counted since its last publish run, at the run's
 *   time, keyed `<item><lastPublishTime><count>`: a run that fails half-way and is re-run with a new
 *   lastPublishTime increments again. We post one record per usage window revision with
 *   `action=set` of the window's full total at a timestamp fixed per window: the hour's start plus a
 *   slot per (source partition, key type) (windows of one hour are per partition; with one slot each,
 *   `set` overwrites only the window's own earlier revision). Re-posting a revision, or replaying the
 *   usage topic (ordered per windowId), converges on the latest revision: idempotent beyond Stripe's
 *   24 h idempotency-key lifetime, and a revision amends instead of adding.
 * - Idempotency key per (item, window, revision): a retry of one revision replays Stripe's first answer.
 * Pure: building the request and reading the answer; client.ts does the I/O.
 */
import type { Usage } from '../../events/usage.ts';
import { BillingWindowError } from './errors.ts';
import type { BillingEntry } from './mapping.ts';

export interface UsageRecordRequest {
  path: string;
  form: { quantity: string; timestamp: string; action: 'set' };
  idempotencyKey: string;
  account: string | undefined;
}

/** Seconds within the hour: two per source partition (PRODUCTION, SANDBOX). */
export const SLOTS_PER_HOUR = 3600;

export function quantityOf(u: Usage, entry: BillingEntry): number {
  return entry.quantity === 'responseBytes' ? u.responseBytes : u.counts.allowed;
}

export function usageRecordRequest(u: Usage, entry: BillingEntry): UsageRecordRequest {
  const slot = u.source.partition * 2 + (u.keyType === 'SANDBOX' ? 1 : 0);
  if (slot >= SLOTS_PER_HOUR)
    throw new BillingWindowError(
      `source partition ${u.source.partition} has no timestamp slot within the hour (at most ${SLOTS_PER_HOUR / 2} partitions)`,
      { windowId: u.windowId, partition: u.source.partition },
    );
  const timestamp = Math.floor(Date.parse(u.window.start) / 1000) + slot;
  return {
    path: `/v1/subscription_items/${encodeURIComponent(entry.item)}/usage_records`,
    form: { quantity: String(quantityOf(u, entry)), timestamp: String(timestamp), action: 'set' },
    // Stripe allows 255 characters; windowId is at most 120, item ids are short.
    idempotencyKey: `mesh-apim-usage:${entry.item}:${u.windowId}:r${u.revision}`,
    account: entry.account,
  };
}

export type StripeVerdict =
  | { kind: 'ok' }
  | { kind: 'retry'; retryAfterMs: number | null; reason: string }
  /** Our credentials or account are refused: retrying the batch, not dead-lettering every window. */
  | { kind: 'unavailable'; reason: string }
  | { kind: 'rejected'; reason: string; error: unknown };

export interface StripeAnswer {
  status: number;
  headers: { get(name: string): string | null };
  body: unknown;
}

function errorOf(body: unknown): { type?: string; code?: string; message?: string } {
  const e = (body as { error?: unknown } | null)?.error;
  return e && typeof e === 'object' ? (e as { type?: string; code?: string; message?: string }) : {};
}

/**
 * Stripe's retry rules (as its own client libraries apply them): `Stripe-Should-Retry` decides when
 * present; otherwise 409 (a concurrent request with the same idempotency key, a lock), 429 and 5xx
 * are retried with the same key; other 4xx are final. A `Retry-After` header sets the least wait.
 */
export function classifyAnswer(a: StripeAnswer): StripeVerdict {
  if (a.status >= 200 && a.status < 300) return { kind: 'ok' };
  const err = errorOf(a.body);
  const reason = `${a.status} ${err.type ?? ''}${err.code ? `/${err.code}` : ''}: ${err.message ?? 'no message'}`;
  const should = a.headers.get('stripe-should-retry');
  const ra = a.headers.get('retry-after');
  const retryAfterMs = ra !== null && /^\d+(\.\d+)?$/.test(ra) ? Number(ra) * 1000 : null;
  if (a.status === 401 || a.status === 403) return { kind: 'unavailable', reason };
  if (should === 'true') return { kind: 'retry', retryAfterMs, reason };
  if (should !== 'false' && (a.status === 409 || a.status === 429 || a.status >= 500))
    return { kind: 'retry', retryAfterMs, reason };
  return { kind: 'rejected', reason, error: err };
}
