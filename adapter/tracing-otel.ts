/**
 * The OpenTelemetry side of check tracing, imported only when adapter.tracing is on (tracing.ts).
 * The SDK reads the standard variables itself: OTEL_TRACES_SAMPLER / _ARG (BasicTracerProvider),
 * OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT / _HEADERS / _TIMEOUT (the OTLP/HTTP exporter), OTEL_BSP_*
 * (the batch processor), OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (the env resource detector).
 * Nothing is registered globally: the tracer, its provider and its propagators stay this module's.
 */
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { B3Propagator } from '@opentelemetry/propagator-b3';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { errorMessage } from '../common/errors.ts';
import { createLogger, type Logger } from '../common/log.ts';
import type { CheckRequest, Decision } from './domain.ts';
import type { CheckTracer, SpanIds, TracingOptions } from './tracing-types.ts';

export const SPAN_NAME = 'mesh-apim check';
const DEFAULT_SERVICE_NAME = 'mesh-apim-adapter';

type Headers = Readonly<Record<string, string>>;

// Header names are lower-cased by translate.ts, as the propagators ask for them.
const GETTER: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

export class OtelCheckTracer implements CheckTracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  // B3 first, traceparent last: when a request carries both, the W3C header wins.
  private readonly propagator = new CompositePropagator({
    propagators: [new B3Propagator(), new W3CTraceContextPropagator()],
  });
  private readonly log: Logger;
  private failures = 0;

  constructor(options: TracingOptions = {}) {
    this.log = options.logger ?? createLogger('tracing');
    const exporter = (options.exporter as SpanExporter | undefined) ?? new OTLPTraceExporter();
    const resource = defaultResource()
      .merge(resourceFromAttributes({ 'service.name': DEFAULT_SERVICE_NAME }))
      .merge(detectResources({ detectors: [envDetector] }));
    this.provider = new BasicTracerProvider({
      resource,
      spanProcessors: [options.simple ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
    });
    this.tracer = this.provider.getTracer('mesh-apim');
    this.log.info({ exporter: options.exporter ? 'custom' : 'otlp-http' }, 'tracing on: a span per check');
  }

  record(
    request: CheckRequest,
    decision: Decision,
    waived: Decision | null,
    startedAtMs: number,
  ): SpanIds | null {
    try {
      const parent: Context = this.propagator.extract(ROOT_CONTEXT, request.headers, GETTER);
      const continued = trace.getSpanContext(parent) !== undefined;
      const span: Span = this.tracer.startSpan(
        SPAN_NAME,
        {
          kind: SpanKind.SERVER,
          startTime: startedAtMs,
          attributes: attributesOf(request, decision, waived),
        },
        parent,
      );
      if (decision.kind !== 'allow') {
        span.setStatus({ code: SpanStatusCode.ERROR, message: decision.reason });
      }
      // Before end(): an ended span no longer reports recording.
      const sampled = span.isRecording();
      span.end();
      const sc = span.spanContext();
      return sampled || continued ? { traceId: sc.traceId, spanId: sc.spanId } : null;
    } catch (err) {
      // A tracing fault never changes the answer; logged once per 1000 so a broken SDK cannot flood.
      if (this.failures++ % 1000 === 0) this.log.warn({ err: errorMessage(err) }, 'check span failed');
      return null;
    }
  }

  async shutdown(): Promise<void> {
    try {
      await this.provider.shutdown();
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'tracing shutdown: spans may be lost');
    }
  }
}

/** No credentials, no user: the API, the outcome and the application. */
function attributesOf(request: CheckRequest, decision: Decision, waived: Decision | null): Attributes {
  const m = decision.match;
  const a: Attributes = {
    'http.request.method': request.method,
    'url.path': request.path,
    'server.address': request.host,
    'mesh_apim.decision': decision.kind,
    'mesh_apim.reason': decision.reason,
    'mesh_apim.credential_type': m.credentialType,
  };
  if (decision.code !== null) a['mesh_apim.code'] = decision.code;
  if (m.api) {
    a['mesh_apim.api.id'] = m.api.id;
    a['mesh_apim.api.name'] = m.api.name;
    a['mesh_apim.api.version'] = m.api.version;
  }
  if (m.resource) a['mesh_apim.resource'] = `${m.resource.method} ${m.resource.template}`;
  if (m.application) {
    a['mesh_apim.application.id'] = m.application.id;
    a['mesh_apim.application.name'] = m.application.name;
  }
  if (m.subscriptionTier) a['mesh_apim.subscription_tier'] = m.subscriptionTier;
  if (waived) {
    a['mesh_apim.shadow.decision'] = waived.kind;
    a['mesh_apim.shadow.reason'] = waived.reason;
    if (waived.code !== null) a['mesh_apim.shadow.code'] = waived.code;
  }
  return a;
}
