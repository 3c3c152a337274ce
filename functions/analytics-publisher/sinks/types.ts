import type { AnalyticsEvent } from '../../../events/analytics.ts';

/** One analytics event to publish; sinks use dedupKey(item) as the idempotency key. */
export type SinkItem = AnalyticsEvent;

/**
 * The idempotency key of an analytics event: its envelope eventId, derived from the request-attributes
 * eventId (one per check, kept by redelivery and replay). Never the correlationId: x-request-id is
 * shared by retries and can be set by the client, so keying on it would collapse distinct requests
 * into one line. It stays out of the WSO2 document (whose keys are exactly WSO2's).
 */
export function dedupKey(item: { eventId: string }): string {
  return item.eventId;
}

export type SinkItemResult = { ok: true } | { ok: false; error: unknown };

export interface AnalyticsSink {
  readonly name: string;
  /**
   * Publishes a batch; one result per item, in order. Rejects (retriable) when nothing can be said
   * per item (sink down). Must be idempotent per dedupKey(item) (replays and batch retries resend).
   */
  write(items: readonly SinkItem[]): Promise<SinkItemResult[]>;
  close(): Promise<void>;
}
