/**
 * OpenTelemetry tracing of checks (adapter.tracing, off by default). This module is all the check
 * path sees: the SDK lives in tracing-otel.ts and is imported only when tracing is on, so an adapter
 * with tracing off never loads it and pays one null check per request (CheckService).
 */
import type { CheckTracer, TracingOptions } from './tracing-types.ts';

export type { CheckTracer, SpanIds, TracingOptions } from './tracing-types.ts';

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
