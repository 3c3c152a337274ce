import type { AnalyticsEvent } from '../../../events/analytics.ts';

/** One analytics event to publish; sinks use data.correlationId as the idempotency key. */
export type SinkItem = AnalyticsEvent;

export type SinkItemResult = { ok: true } | { ok: false; error: unknown };

export interface AnalyticsSink {
  readonly name: string;
  /**
   * Publishes a batch; one result per item, in order. Rejects (retriable) when nothing can be said
   * per item (sink down). Must be idempotent per correlationId (replays and batch retries resend).
   */
  write(items: readonly SinkItem[]): Promise<SinkItemResult[]>;
  close(): Promise<void>;
}
