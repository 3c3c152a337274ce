import type { AnalyticsEvent } from '../../../events/analytics.ts';

/** One analytics event to publish; sinks use dedupKey(item) as the idempotency key. */
export type SinkItem = AnalyticsEvent;

/**
 * The idempotency key of an analytics event: the request-attributes eventId it came from
 * (properties.eventId: one per check, kept by redelivery and replay). Never the correlationId alone:
 * x-request-id is shared by retries and can be set by the client, so keying on it would collapse
 * distinct requests into one line. Lines written before properties.eventId existed fall back to it.
 */
export function dedupKey(item: {
  data: { correlationId: string; properties?: Record<string, unknown> };
}): string {
  const id = item.data.properties?.eventId;
  return typeof id === 'string' && id !== '' ? id : item.data.correlationId;
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
