/**
 * Shadow enforcement through the real gRPC server on both transports: a shadow API answers every
 * denial as an allow, forwards only what an allow forwards, counts the would-be decision and
 * records it in the request context; enforce APIs and the global switch behave as configured.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckRecord } from '../../adapter/check-record.ts';
import { requestAttributesFromCheck } from '../../adapter/emit/events.ts';
import { RequestAttributes, RequestContext } from '../../events/request-attributes.ts';
import { startTestAdapter, type TestAdapter, TRANSPORTS } from '../support/adapter.ts';

const FIXTURE = readFileSync(new URL('./fixtures/shadow-rollout.yaml', import.meta.url), 'utf8');

async function shadowCounts(t: TestAdapter): Promise<Record<string, number>> {
  const metric = t.adapter.metrics.registry.getSingleMetric('mesh_apim_shadow_decisions_total');
  const out: Record<string, number> = {};
  for (const v of (await metric!.get()).values) {
    out[`${v.labels.api}|${v.labels.decision}|${v.labels.code}`] = v.value;
  }
  return out;
}

describe.each(TRANSPORTS)('shadow enforcement over gRPC (%s transport)', (transport) => {
  let t: TestAdapter;
  const records: CheckRecord[] = [];
  beforeAll(async () => {
    t = await startTestAdapter({ yaml: FIXTURE, transport, deps: { onCheck: (r) => records.push(r) } });
  });
  afterAll(async () => {
    await t?.close();
  });
  const lastRecord = () => records.at(-1)!;

  it('allows a would-be 403 (not subscribed), forwards the valid credential identity, strips the key', async () => {
    const key = await t.apiKey('stranger-app');
    const res = await t.client.check({
      path: '/orders/v1/items',
      headers: { apikey: key, 'x-mesh-apim-subscription-tier': 'Gold' },
    });
    expect(res.allowed).toBe(true);
    expect(res.headers).toMatchObject({
      'x-mesh-apim-api-id': 'orders-v1',
      'x-mesh-apim-application-id': 'stranger-app',
      'x-mesh-apim-application-owner': 'nobody',
    });
    // Not subscribed: no tier to forward, and the client's own is removed.
    expect(res.headers['x-mesh-apim-subscription-tier']).toBeUndefined();
    expect(res.headersToRemove).toEqual(expect.arrayContaining(['x-mesh-apim-subscription-tier', 'apikey']));
    const ctx = RequestContext.parse(res.requestContext);
    expect(ctx.decision).toMatchObject({
      kind: 'allow',
      httpStatus: 200,
      code: null,
      reason: 'SHADOW_ALLOW',
    });
    expect(ctx.shadow).toEqual({
      kind: 'forbidden',
      httpStatus: 403,
      code: 900908,
      reason: 'NOT_SUBSCRIBED',
      throttleKey: null,
    });
    // The event emitted from the check carries the would-be decision, and validates.
    const ev = RequestAttributes.parse(requestAttributesFromCheck(lastRecord().context, new Date()));
    expect(ev.shadow?.code).toBe(900908);
    expect(ev.decision.kind).toBe('allow');
    expect((await shadowCounts(t))['orders-v1|forbidden|900908']).toBe(1);
  });

  it('forges nothing from an invalid or missing credential', async () => {
    const forged = {
      'x-mesh-apim-application-id': 'admin-app',
      'x-mesh-apim-user': 'admin',
    };
    const bad = await t.client.check({
      path: '/orders/v1/items',
      headers: { apikey: 'not-a-key', ...forged },
    });
    expect(bad.allowed).toBe(true);
    expect(bad.headers['x-mesh-apim-api-id']).toBe('orders-v1');
    expect(bad.headers['x-mesh-apim-application-id']).toBeUndefined();
    expect(bad.headers['x-mesh-apim-user']).toBeUndefined();
    expect(bad.headersToRemove).toEqual(
      expect.arrayContaining(['x-mesh-apim-application-id', 'x-mesh-apim-user', 'apikey']),
    );
    expect(RequestContext.parse(bad.requestContext).shadow).toMatchObject({
      kind: 'unauthenticated',
      code: 900901,
    });

    const none = await t.client.check({ path: '/orders/v1/items?apikey=', headers: forged });
    expect(none.allowed).toBe(true);
    expect(none.headers['x-mesh-apim-application-id']).toBeUndefined();
    expect(none.queryParamsToRemove).toEqual(['apikey']);
    expect(RequestContext.parse(none.requestContext).shadow).toMatchObject({
      kind: 'unauthenticated',
      code: 900902,
    });
    const counts = await shadowCounts(t);
    expect(counts['orders-v1|unauthenticated|900901']).toBe(1);
    expect(counts['orders-v1|unauthenticated|900902']).toBe(1);
  });

  it('keeps counting the throttle: the third call of a 2/min tier is a shadow 429, still allowed', async () => {
    const key = await t.apiKey('shop-app');
    const call = () => t.client.check({ path: '/orders/v1/items', headers: { apikey: key } });
    const first = await call();
    const second = await call();
    const third = await call();
    expect([first, second, third].map((r) => r.allowed)).toEqual([true, true, true]);
    expect(first.responseHeadersToAdd['x-ratelimit-remaining']).toBe('1');
    expect(second.responseHeadersToAdd['x-ratelimit-remaining']).toBe('0');
    expect(RequestContext.parse(second.requestContext).shadow).toBeUndefined();
    const ctx = RequestContext.parse(third.requestContext);
    expect(ctx.shadow).toMatchObject({
      kind: 'rate-limited',
      code: 900804,
      reason: 'SUBSCRIPTION_LIMIT_EXCEEDED',
    });
    // A subscribed, valid credential: the allow carries the full identity, no retry-after.
    expect(third.headers).toMatchObject({
      'x-mesh-apim-application-id': 'shop-app',
      'x-mesh-apim-subscription-tier': 'ShadowTwo',
    });
    expect(third.responseHeadersToAdd['retry-after']).toBeUndefined();
    expect((await shadowCounts(t))['orders-v1|rate-limited|900804']).toBe(1);
  });

  it('enforces an API without its own mode under the default global enforce', async () => {
    const key = await t.apiKey('stranger-app');
    const res = await t.client.check({ path: '/billing/v1/items', headers: { apikey: key } });
    expect(res.allowed).toBe(false);
    expect(res.httpStatus).toBe(403);
    expect((await shadowCounts(t))['billing-v1|forbidden|900908']).toBeUndefined();
  });
});

describe.each(TRANSPORTS)('adapter.enforcement = shadow (%s transport)', (transport) => {
  let t: TestAdapter;
  beforeAll(async () => {
    t = await startTestAdapter({ yaml: FIXTURE, transport, overrides: { 'adapter.enforcement': 'shadow' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('shadows APIs without their own mode and requests matching no API', async () => {
    const key = await t.apiKey('stranger-app');
    const billing = await t.client.check({ path: '/billing/v1/items', headers: { apikey: key } });
    expect(billing.allowed).toBe(true);
    expect(RequestContext.parse(billing.requestContext).shadow?.kind).toBe('forbidden');
    const unknown = await t.client.check({
      path: '/nowhere/v1/x',
      headers: { 'x-mesh-apim-api-id': 'billing-v1' },
    });
    expect(unknown.allowed).toBe(true);
    expect(unknown.headers['x-mesh-apim-api-id']).toBeUndefined();
    expect(unknown.headersToRemove).toContain('x-mesh-apim-api-id');
    expect(RequestContext.parse(unknown.requestContext).shadow).toMatchObject({
      kind: 'not-found',
      code: 900906,
    });
    const counts = await shadowCounts(t);
    expect(counts['billing-v1|forbidden|900908']).toBe(1);
    expect(counts['none|not-found|900906']).toBe(1);
  });

  it('an API with enforcement: enforce stays enforced', async () => {
    const key = await t.apiKey('stranger-app');
    const res = await t.client.check({ path: '/vault/v1/items', headers: { apikey: key } });
    expect(res.allowed).toBe(false);
    expect(res.httpStatus).toBe(403);
  });
});
