import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contextMatchesJson, mapAccessLogEntry } from '../../../adapter/als/mapping.ts';
import { requestAttributesFromCheck, requestContextJson } from '../../../adapter/emit/events.ts';
import { RequestAttributes } from '../../../events/request-attributes.ts';
import { contextOf } from '../emit/helpers.ts';
import { decoded, envoyEntry } from './fixtures.ts';

const NOW = new Date('2030-01-01T00:00:00Z');

describe('access-log entry -> request-attributes', () => {
  it('builds the complete event of an allowed request from the entry alone (context as a Struct)', () => {
    const ctx = contextOf('allowed-with-response');
    const [entry] = decoded([envoyEntry({ context: ctx })]);
    const m = mapAccessLogEntry(entry!, NOW);
    expect(m.kind).toBe('event');
    if (m.kind !== 'event') return;
    const e = RequestAttributes.parse(m.event);
    expect(e).toEqual(m.event);
    expect(e.source).toBe('access-log');
    expect(e.requestId).toBe(ctx.requestId);
    expect(e.api).toEqual(ctx.api);
    expect(e.application).toEqual(ctx.application);
    expect(e.decision).toEqual(ctx.decision);
    expect(e.response).toEqual({
      status: 200,
      latencyMs: 48, // last downstream byte 47.6 ms
      backendLatencyMs: 45, // 46.4 - 1.2 ms
      requestBytes: 0,
      responseBytes: 1532,
      upstreamHost: '10.1.4.7:8080',
    });
    // Request start + total latency; the event id differs from the check's for the same request.
    expect(e.occurredAt).toBe('2026-11-26T04:20:00.171Z');
    expect(e.eventId).toMatch(/^als:/);
  });

  it('carries the response Content-Type when Envoy logs it (additional_response_headers_to_log)', () => {
    const ctx = contextOf('allowed-with-response');
    const raw = envoyEntry({ context: ctx });
    (raw.response as Record<string, unknown>).response_headers = { 'content-type': 'application/json' };
    const [entry] = decoded([raw]);
    const m = mapAccessLogEntry(entry!, NOW);
    expect(m.kind === 'event' && m.event.response?.contentType).toBe('application/json');
  });

  it('event ids stay within the schema for a huge client-chosen x-request-id, and differ per source', () => {
    const ctx = contextOf('allowed-with-response', { requestId: 'x'.repeat(500) });
    const [entry] = decoded([envoyEntry({ context: ctx })]);
    const m = mapAccessLogEntry(entry!, NOW);
    expect(m.kind).toBe('event');
    if (m.kind !== 'event') return;
    expect(() => RequestAttributes.parse(m.event)).not.toThrow();
    expect(m.event.eventId.length).toBeLessThanOrEqual(200);
    expect(requestAttributesFromCheck(ctx, NOW).eventId).not.toBe(m.event.eventId);
  });

  it('is deterministic: the same entry gives the same event id (redelivery dedupes)', () => {
    const ctx = contextOf('allowed-with-response');
    const [a, b] = decoded([envoyEntry({ context: ctx }), envoyEntry({ context: ctx })]);
    const ea = mapAccessLogEntry(a!, NOW);
    const eb = mapAccessLogEntry(b!, new Date(0));
    expect(ea).toEqual(eb);
  });

  it('reads the context as the check stores it: a JSON string (cheaper than a nested Struct)', () => {
    const ctx = contextOf('allowed-with-response');
    const [entry] = decoded([envoyEntry({ context: JSON.stringify(ctx) })]);
    const m = mapAccessLogEntry(entry!, NOW);
    expect(m.kind === 'event' && m.event.requestId).toBe(ctx.requestId);
  });

  it('an upstream 503 keeps the allow decision and records the response', () => {
    const [entry] = decoded([envoyEntry({ context: contextOf('allowed-with-response'), status: 503 })]);
    const m = mapAccessLogEntry(entry!, NOW);
    expect(m.kind === 'event' && m.event.response?.status).toBe(503);
    expect(m.kind === 'event' && m.event.decision.kind).toBe('allow');
  });

  it('no response sent (status 0) is unknown, not a status', () => {
    const [entry] = decoded([envoyEntry({ context: contextOf('allowed-with-response'), status: 0 })]);
    const m = mapAccessLogEntry(entry!, NOW);
    expect(m.kind === 'event' && m.event.response?.status).toBeNull();
  });

  it('denied (no ext_authz metadata: Envoy does not pass it on a denial) is a duplicate', () => {
    const [entry] = decoded([envoyEntry({ context: null, status: 403 })]);
    expect(mapAccessLogEntry(entry!, NOW)).toEqual({ kind: 'no-context' });
  });

  it('intermediate (periodic) entries are not emitted', () => {
    const ctx = contextOf('allowed-with-response');
    const [a, b] = decoded([
      envoyEntry({ context: ctx, intermediate: true }),
      envoyEntry({ context: ctx, accessLogType: 'DownstreamPeriodic' }),
    ]);
    expect(mapAccessLogEntry(a!, NOW).kind).toBe('intermediate');
    expect(mapAccessLogEntry(b!, NOW).kind).toBe('intermediate');
  });

  it('metadata that is not a RequestContext is reported with the problem', () => {
    const [entry] = decoded([envoyEntry({ context: { requestId: 42 } })]);
    const m = mapAccessLogEntry(entry!, NOW);
    expect(m.kind).toBe('invalid-context');
    expect(m.kind === 'invalid-context' && m.problem).toMatch(/requestId/);
  });
});

describe('access-log event serialised from the metadata JSON (no re-serialisation)', () => {
  const ctx = contextOf('allowed-with-response');
  const eventOf = (context: unknown) => {
    const [entry] = decoded([envoyEntry({ context: context as string })]);
    const m = mapAccessLogEntry(entry!, NOW);
    if (m.kind !== 'event') throw new Error(`not an event: ${m.kind}`);
    return m;
  };

  it('the JSON string the check wrote: spliced, and it is the event, key for key', () => {
    const m = eventOf(requestContextJson(ctx));
    expect(m.json).toBeDefined();
    const parsed = JSON.parse(m.json!);
    expect(parsed).toEqual(JSON.parse(JSON.stringify(m.event)));
    expect(RequestAttributes.parse(parsed)).toEqual(parsed);
    // The topic key the emitter gets with the JSON (the event object is built only when read).
    expect(m.key).toBe(ctx.requestId);
    expect(m.key).toBe(m.event.requestId);
  });

  it('falls back to serialising the object when the JSON is not exactly the context', () => {
    // zod strips an unknown key (top level or nested): the spliced text would carry it.
    const extra = eventOf(JSON.stringify({ ...ctx, extra: 1 }));
    expect(extra.json).toBeUndefined();
    expect(extra.event).not.toHaveProperty('extra');
    const nested = eventOf(JSON.stringify({ ...ctx, api: { ...ctx.api, secret: 'x' } }));
    expect(nested.json).toBeUndefined();
    expect(nested.event.api).toEqual(ctx.api);
    // Whitespace around the object: not spliceable as it is.
    expect(eventOf(` ${JSON.stringify(ctx)}`).json).toBeUndefined();
    // A nested Struct (no JSON text at all).
    expect(eventOf(ctx).json).toBeUndefined();
  });

  it('contextMatchesJson: exact keys and values only', () => {
    expect(contextMatchesJson({ a: [1, { b: null }] }, { a: [1, { b: null }] })).toBe(true);
    expect(contextMatchesJson({ a: [1, 2] }, { a: [1] })).toBe(false);
    expect(contextMatchesJson({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(contextMatchesJson({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(contextMatchesJson({ a: '1' }, { a: 1 })).toBe(false);
    expect(contextMatchesJson(JSON.parse('{"__proto__":1,"a":1}'), { a: 1 })).toBe(false);
    expect(contextMatchesJson({ a: [] }, { a: {} })).toBe(false);
  });

  it('property: whenever the event is spliced, it parses to the object the fallback would serialise', () => {
    fc.assert(
      fc.property(
        fc.record({
          requestId: fc.string(),
          userName: fc.option(fc.string(), { nil: null }),
          extra: fc.option(fc.jsonValue(), { nil: undefined }),
        }),
        ({ extra, ...over }) => {
          const c = { ...ctx, ...over, ...(extra === undefined ? {} : { extra }) };
          const m = eventOf(JSON.stringify(c));
          expect(m.json === undefined).toBe(extra !== undefined);
          if (m.json !== undefined) expect(JSON.parse(m.json)).toEqual(JSON.parse(JSON.stringify(m.event)));
        },
      ),
      { numRuns: 200 },
    );
  });
});
