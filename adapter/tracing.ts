/**
 * OpenTelemetry tracing of checks (adapter.tracing, off by default). This module is all the check
 * path sees: the SDK lives in tracing-otel.ts and is imported only when tracing is on, so an adapter
 * with tracing off never loads it and pays one null check per request (CheckService).
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

/** OTEL_SDK_DISABLED=true turns tracing off whatever adapter.tracing says (the OTel spec's switch). */
export function sdkDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true';
}

/** The tracer when tracing is on (loads the SDK), else null (loads nothing). */
export async function createCheckTracer(
  enabled: boolean,
  options: TracingOptions = {},
): Promise<CheckTracer | null> {
  if (!enabled || sdkDisabled(options.env)) return null;
  const { OtelCheckTracer } = await import('./tracing-otel.ts');
  return new OtelCheckTracer(options);
}
