/**
 * The check tracer's contract, apart from tracing.ts (which loads the SDK module, tracing-otel.ts,
 * that implements it): both import this, neither imports the other's types.
 */
import type { Logger } from '../common/log.ts';
import type { CheckRequest, Decision } from './domain.ts';

export interface SpanIds {
  traceId: string;
  spanId: string;
}

export interface CheckTracer {
  /**
   * Records the span of one check, started at `startedAtMs` (epoch ms, fractional) and ending now,
   * parented on the request's traceparent / b3 headers. `waived` is the denial shadow mode did not
   * enforce. Returns the ids for the request-attributes event (null when the span is neither sampled
   * nor continued from a caller's trace). Never throws.
   */
  record(
    request: CheckRequest,
    decision: Decision,
    waived: Decision | null,
    startedAtMs: number,
  ): SpanIds | null;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** Test seam: where spans go instead of the OTLP exporter (an InMemorySpanExporter). */
export interface TracingOptions {
  /** A SpanExporter of @opentelemetry/sdk-trace-base (typed loosely so this module imports no SDK). */
  exporter?: unknown;
  /** Export each span at once (SimpleSpanProcessor) instead of batching (tests). */
  simple?: boolean;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}
