/**
 * A span per check (adapter.tracing): continued from traceparent / b3, attributes without
 * credentials, error status on denials, the ids in the request context and the event; nothing when
 * off. Through the real gRPC server on both transports with an in-memory exporter, and once with
 * the OTLP/HTTP exporter against a local receiver.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CheckRecord } from '../../adapter/check-record.ts';
import { emptyMatch } from '../../adapter/domain.ts';
import { requestAttributesFromCheck } from '../../adapter/emit/events.ts';
import { createCheckTracer, sdkDisabled } from '../../adapter/tracing.ts';
import { toCheckRequest } from '../../adapter/translate.ts';
import { RequestAttributes, RequestContext } from '../../events/request-attributes.ts';
import { startTestAdapter, type TestAdapter, TRANSPORTS } from '../support/adapter.ts';
import { FakeOtlpReceiver } from '../support/fakes/fake-otlp.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const B3_TRACE = '80f198ee56343ba864fe8b2a57d3eff7';
const B3_PARENT = 'e457b5a2e4d86bd1';
const FIXTURE = readFileSync(new URL('./fixtures/every-decision.yaml', import.meta.url), 'utf8');

describe.each(TRANSPORTS)('check spans (%s transport)', (transport) => {
  let t: TestAdapter;
  const exporter = new InMemorySpanExporter();
  const records: CheckRecord[] = [];
  beforeAll(async () => {
    t = await startTestAdapter({
      yaml: FIXTURE,
      transport,
      overrides: { 'adapter.tracing': true },
      deps: { tracing: { exporter, simple: true }, onCheck: (r) => records.push(r) },
    });
  });
  afterAll(async () => {
    await t?.close();
  });
  afterEach(() => exporter.reset());
  const onlySpan = () => {
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    return spans[0]!;
  };

  it('continues the W3C traceparent, with the API, decision and application attributes', async () => {
    const key = await t.apiKey('demo-app');
    const res = await t.client.check({
      path: '/petstore/v1/pets',
      headers: { apikey: key, traceparent: `00-${TRACE}-${PARENT}-01` },
    });
    expect(res.allowed).toBe(true);
    const span = onlySpan();
    expect(span.spanContext().traceId).toBe(TRACE);
    expect(span.parentSpanContext?.spanId).toBe(PARENT);
    expect(span.kind).toBe(SpanKind.SERVER);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes).toMatchObject({
      'mesh_apim.api.id': 'petstore-v1',
      'mesh_apim.api.name': 'petstore',
      'mesh_apim.decision': 'allow',
      'mesh_apim.application.id': 'demo-app',
      'mesh_apim.application.name': 'demo-app',
      'http.request.method': 'GET',
      'url.path': '/petstore/v1/pets',
    });
    // No credential anywhere in the span.
    expect(JSON.stringify(span.attributes)).not.toContain(key.slice(0, 40));
    expect(Object.keys(span.attributes).some((k) => /key|token|user|auth/i.test(k))).toBe(false);
    // The ids travel in the request context (metadata for the access log) and the check's event.
    const ctx = RequestContext.parse(res.requestContext);
    expect(ctx.traceId).toBe(TRACE);
    expect(ctx.spanId).toBe(span.spanContext().spanId);
    const ev = RequestAttributes.parse(requestAttributesFromCheck(records.at(-1)!.context, new Date()));
    expect(ev.traceId).toBe(TRACE);
  });

  it('continues b3 multi-header and b3 single-header contexts', async () => {
    await t.client.check({
      path: '/petstore/v1/pets',
      headers: { 'x-b3-traceid': B3_TRACE, 'x-b3-spanid': B3_PARENT, 'x-b3-sampled': '1' },
    });
    let span = onlySpan();
    expect(span.spanContext().traceId).toBe(B3_TRACE);
    expect(span.parentSpanContext?.spanId).toBe(B3_PARENT);
    exporter.reset();
    await t.client.check({ path: '/petstore/v1/pets', headers: { b3: `${B3_TRACE}-${B3_PARENT}-1` } });
    span = onlySpan();
    expect(span.spanContext().traceId).toBe(B3_TRACE);
    expect(span.parentSpanContext?.spanId).toBe(B3_PARENT);
  });

  it('prefers traceparent when both are sent; starts a new trace when none is', async () => {
    await t.client.check({
      path: '/petstore/v1/pets',
      headers: {
        traceparent: `00-${TRACE}-${PARENT}-01`,
        'x-b3-traceid': B3_TRACE,
        'x-b3-spanid': B3_PARENT,
      },
    });
    expect(onlySpan().spanContext().traceId).toBe(TRACE);
    exporter.reset();
    const res = await t.client.check({ path: '/petstore/v1/public' });
    const span = onlySpan();
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(RequestContext.parse(res.requestContext).traceId).toBe(span.spanContext().traceId);
  });

  it('marks a denial as an error with its code and reason', async () => {
    const key = await t.apiKey('unsubscribed-app');
    const res = await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } });
    expect(res.httpStatus).toBe(403);
    const span = onlySpan();
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'NOT_SUBSCRIBED' });
    expect(span.attributes).toMatchObject({
      'mesh_apim.decision': 'forbidden',
      'mesh_apim.code': 900908,
      'mesh_apim.reason': 'NOT_SUBSCRIBED',
    });
    // A denied request's event is emitted from the check: it carries the trace id too.
    const ev = RequestAttributes.parse(requestAttributesFromCheck(records.at(-1)!.context, new Date()));
    expect(ev.traceId).toBe(span.spanContext().traceId);
  });
});

describe('tracing off', () => {
  let t: TestAdapter;
  const exporter = new InMemorySpanExporter();
  const records: CheckRecord[] = [];
  beforeAll(async () => {
    t = await startTestAdapter({
      yaml: FIXTURE,
      deps: { tracing: { exporter, simple: true }, onCheck: (r) => records.push(r) },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('records no span and puts no trace id in the context', async () => {
    const res = await t.client.check({
      path: '/petstore/v1/public',
      headers: { traceparent: `00-${TRACE}-${PARENT}-01` },
    });
    expect(res.allowed).toBe(true);
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(RequestContext.parse(res.requestContext).traceId).toBeUndefined();
    expect(records.at(-1)!.context.traceId).toBeUndefined();
  });

  it('OTEL_SDK_DISABLED=true wins over adapter.tracing', async () => {
    expect(sdkDisabled({ OTEL_SDK_DISABLED: 'TRUE' })).toBe(true);
    expect(sdkDisabled({ OTEL_SDK_DISABLED: 'false' })).toBe(false);
    expect(await createCheckTracer(true, { env: { OTEL_SDK_DISABLED: 'true' } })).toBeNull();
    expect(await createCheckTracer(false, { env: {} })).toBeNull();
  });

  it('only adapter/tracing-otel.ts imports the SDK, and only tracing.ts imports it, dynamically', () => {
    const root = new URL('../../', import.meta.url).pathname;
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        // dist/: build output (the image assembler's stages hold copies of the sources).
        if (['node_modules', 'test', 'bench', 'dist'].includes(name) || name.startsWith('.')) continue;
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) {
          const src = readFileSync(p, 'utf8');
          const rel = relative(root, p);
          if (rel !== 'adapter/tracing-otel.ts' && /from '@opentelemetry\//.test(src)) offenders.push(rel);
          if (/from '\.\/tracing-otel\.ts'|from '.*\/tracing-otel\.ts'/.test(src))
            offenders.push(`${rel} (static)`);
        }
      }
    };
    walk(root);
    expect(offenders).toEqual([]);
  });
});

describe('OtelCheckTracer.record', () => {
  it('names the waived denial of shadow mode and keeps the served status unset', async () => {
    const exporter = new InMemorySpanExporter();
    const tracer = (await createCheckTracer(true, { exporter, simple: true, env: {} }))!;
    const request = toCheckRequest(
      { attributes: { request: { http: { method: 'GET', path: '/p/v1/x', headers: {}, id: 'r' } } } },
      0,
    );
    const served = {
      kind: 'allow',
      httpStatus: 200,
      code: null,
      reason: 'SHADOW_ALLOW',
      match: emptyMatch(),
    };
    const waived = {
      kind: 'forbidden',
      httpStatus: 403,
      code: 900908,
      reason: 'NOT_SUBSCRIBED',
      match: emptyMatch(),
    };
    const ids = tracer.record(
      request,
      served as never,
      waived as never,
      performance.timeOrigin + performance.now(),
    );
    const [span] = exporter.getFinishedSpans();
    expect(ids?.traceId).toBe(span!.spanContext().traceId);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(span!.attributes).toMatchObject({
      'mesh_apim.decision': 'allow',
      'mesh_apim.reason': 'SHADOW_ALLOW',
      'mesh_apim.shadow.decision': 'forbidden',
      'mesh_apim.shadow.code': 900908,
      'mesh_apim.shadow.reason': 'NOT_SUBSCRIBED',
    });
    await tracer.shutdown();
  });
});

describe('OTLP/HTTP export to a local receiver', () => {
  const receiver = new FakeOtlpReceiver();
  const saved = { ...process.env };
  afterAll(async () => {
    process.env = saved;
    await receiver.stop();
  });

  it('a started adapter exports its check spans with the OTEL_* settings', async () => {
    const endpoint = await receiver.start();
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
    process.env.OTEL_SERVICE_NAME = 'adapter-under-test';
    process.env.OTEL_TRACES_SAMPLER = 'parentbased_always_on';
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    const t = await startTestAdapter({ yaml: FIXTURE, overrides: { 'adapter.tracing': true } });
    try {
      const res = await t.client.check({
        path: '/petstore/v1/public',
        headers: { traceparent: `00-${TRACE}-${PARENT}-01` },
      });
      expect(res.allowed).toBe(true);
      const [span] = await receiver.waitFor(1);
      expect(span).toMatchObject({
        traceId: TRACE,
        parentSpanId: PARENT,
        name: 'mesh-apim check',
        attributes: { 'mesh_apim.api.id': 'petstore-v1', 'mesh_apim.decision': 'allow' },
        resource: { 'service.name': 'adapter-under-test' },
      });
      // An unsampled parent (flags 00) is honoured by the parent-based sampler: nothing exported.
      await t.client.check({
        path: '/petstore/v1/public',
        headers: { traceparent: `00-${B3_TRACE}-${B3_PARENT}-00` },
      });
    } finally {
      await t.close();
    }
    expect(receiver.spans.map((s) => s.traceId)).toEqual([TRACE]);
    expect(receiver.rejected).toEqual([]);
  });
});
