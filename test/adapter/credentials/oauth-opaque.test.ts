/**
 * Opaque access tokens end to end: a real adapter over gRPC, RFC 7662 introspection against the
 * fake key manager, manual clock.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tokenDigest } from '../../../adapter/revocation/store.ts';
import { eventFromNotifier, type ReceiverOptions } from '../../../bridge/http-receiver.ts';
import { startTestAdapter, type TestAdapter } from '../../support/adapter.ts';
import { FakeApim } from '../../support/fakes/fake-apim-internal-data.ts';
import { revocation } from '../../support/revocations.ts';

const FIXTURE = readFileSync(new URL('./fixtures/oauth.yaml', import.meta.url), 'utf8');

const RECEIVER: ReceiverOptions = {
  basePath: '/',
  username: 'u',
  password: 'p',
  tenantDomain: 'carbon.super',
};

let km: FakeApim;
let t: TestAdapter;
let n = 0;

/** A fresh active token for consumer key `ck` (fresh, so no case sees another's cache). */
function token(ck = 'demo-ck', extra: Record<string, unknown> = {}): string {
  const value = `opaque-${++n}-${Math.random().toString(36).slice(2)}`;
  const now = Math.floor(t.clock.now() / 1000);
  km.tokens.set(value, {
    active: true,
    claims: {
      client_id: ck,
      username: 'alice',
      scope: 'default',
      token_type: 'Bearer',
      exp: now + 3600,
      ...extra,
    },
  });
  return value;
}
const calls = () => km.requestsTo('/oauth2/introspect').length;
const check = (tok: string, path = '/petstore/v1/pets', method = 'GET') =>
  t.client.check({ path, method, headers: { authorization: `Bearer ${tok}` } });

beforeAll(async () => {
  km = await new FakeApim().start();
  t = await startTestAdapter({
    yaml: FIXTURE,
    overrides: {
      'oauth.introspectionUrl': `${km.url}/oauth2/introspect`,
      'oauth.introspectionClientId': km.introspectionClient.id,
      'oauth.introspectionClientSecret': km.introspectionClient.secret,
      'oauth.introspectionKeyManager': 'Resident Key Manager',
      'oauth.introspectionNegativeCacheMs': 10_000,
      'oauth.introspectionTimeoutMs': 1_000,
      'oauth.introspectionFailOpenApis': ['/orders/v1'],
    },
  });
});
afterAll(async () => {
  await t?.close();
  await km?.close();
});
beforeEach(() => {
  km.mode = 'ok';
});

describe('opaque access tokens (RFC 7662 introspection)', () => {
  it('active token: allowed as its client_id application, identity from the introspection answer', async () => {
    const res = await check(token());
    expect(res.allowed).toBe(true);
    expect(res.headers).toMatchObject({
      'x-mesh-apim-application-name': 'demo-app',
      'x-mesh-apim-subscription-tier': 'Gold',
      'x-mesh-apim-user': 'alice',
    });
    expect(res.headersToRemove).toContain('authorization');
  });

  it('inactive token: 401 900901 with an invalid_token challenge', async () => {
    const res = await check('never-issued-token');
    expect(res.httpStatus).toBe(401);
    expect(res.body?.code).toBe('900901');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="mesh-apim", error="invalid_token"/);
  });

  it('cached: repeated checks with one token make one introspection call', async () => {
    const tok = token();
    const before = calls();
    for (let i = 0; i < 5; i++) expect((await check(tok)).allowed).toBe(true);
    expect(calls()).toBe(before + 1);
  });

  it('negative-cached: an inactive token is asked once per negative TTL', async () => {
    const before = calls();
    for (let i = 0; i < 3; i++) expect((await check('garbage-token-1')).httpStatus).toBe(401);
    expect(calls()).toBe(before + 1);
    t.clock.advance(11_000);
    await check('garbage-token-1');
    expect(calls()).toBe(before + 2);
  });

  it('concurrent burst of one token: one upstream call, every check answered', async () => {
    const tok = token();
    let open!: () => void;
    km.introspectionGate = new Promise<void>((r) => {
      open = r;
    });
    const before = calls();
    const burst = Array.from({ length: 25 }, () => check(tok));
    while (calls() === before) await new Promise((r) => setTimeout(r, 5));
    open();
    const results = await Promise.all(burst);
    km.introspectionGate = undefined;
    expect(results.every((r) => r.allowed)).toBe(true);
    expect(calls()).toBe(before + 1);
  });

  it('scopes come from the introspection answer', async () => {
    expect((await check(token(), '/petstore/v1/pets', 'POST')).body?.code).toBe('900910');
    expect(
      (await check(token('demo-ck', { scope: 'pets:write' }), '/petstore/v1/pets', 'POST')).allowed,
    ).toBe(true);
  });

  it('without a JWT issuer configured, JWT-shaped tokens are introspected too', async () => {
    const jwtShaped = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    const now = Math.floor(t.clock.now() / 1000);
    km.tokens.set(jwtShaped, { active: true, claims: { client_id: 'demo-ck', exp: now + 60 } });
    expect((await check(jwtShaped)).allowed).toBe(true);
  });

  it('consumer key without a subscription: 403 900908', async () => {
    const res = await check(token('unsub-ck'));
    expect(res.httpStatus).toBe(403);
    expect(res.body?.code).toBe('900908');
  });

  // docs-apim error-handling: 900900 (key validation backend not accessible) is answered 500.
  it('introspection endpoint down: fail closed (500 900900) by default', async () => {
    const tok = token();
    km.mode = 'down';
    const res = await check(tok);
    expect(res.allowed).toBe(false);
    expect(res.httpStatus).toBe(500);
    expect(res.body?.code).toBe('900900');
    expect(res.headers['retry-after']).toBeDefined();
    // Not cached: once the key manager is back, the same token passes.
    km.mode = 'ok';
    expect((await check(tok)).allowed).toBe(true);
  });

  it('introspection endpoint down: an API configured to fail open allows', async () => {
    const tok = token();
    km.mode = 'error';
    const res = await check(tok, '/orders/v1/orders');
    expect(res.allowed).toBe(true);
    expect(res.headers['x-mesh-apim-api-id']).toBe('orders-v1');
    expect(res.headers['x-mesh-apim-application-id']).toBeUndefined();
  });

  it('introspection calls, cache results and outage decisions are on /metrics', async () => {
    const res = await fetch(`http://127.0.0.1:${t.adapter.adminPort}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/mesh_apim_introspection_requests_total\{result="active"\} [1-9]/);
    expect(text).toMatch(/mesh_apim_introspection_cache_total\{result="hit"\} [1-9]/);
    expect(text).toMatch(/mesh_apim_introspection_outage_total\{mode="closed"\} [1-9]/);
    expect(text).toMatch(/mesh_apim_introspection_outage_total\{mode="open"\} [1-9]/);
  });

  it('revoked (as the revocation consumer applies it): denied on the next check, cache entry dropped', async () => {
    const tok = token();
    const other = token();
    expect((await check(tok)).allowed).toBe(true);
    expect((await check(other)).allowed).toBe(true);
    const before = calls();
    expect((await check(tok)).allowed).toBe(true);
    expect(calls()).toBe(before); // served from the positive cache
    t.adapter.revocations.apply(revocation({ kind: 'token', value: tokenDigest(tok), expiresAt: null }));
    // The key manager still answers active (revocation not yet visible there): the store denies.
    const res = await check(tok);
    expect(res).toMatchObject({ allowed: false, httpStatus: 401 });
    expect(res.body?.code).toBe('900901');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="mesh-apim", error="invalid_token"/);
    // The cached active answer was forgotten: that check introspected again.
    expect(calls()).toBe(before + 1);
    // Other tokens of the same application are untouched and still cached.
    expect((await check(other)).allowed).toBe(true);
    expect(calls()).toBe(before + 1);
  });

  it('revoked through the persistent notifier (PUT <base><token>, no type): denied, cache entry dropped', async () => {
    // wso2/carbon-apimgt TokenRevocationNotifierImpl.sendMessageToPersistentStorage sends the opaque
    // token itself; WSO2's gateway drops it from its token cache (JMSMessageListener
    // .handleRevokedTokenMessage -> removeTokenFromGatewayCache). Here the receiver hashes it.
    const tok = token();
    expect((await check(tok)).allowed).toBe(true);
    const before = calls();
    const e = eventFromNotifier(
      tok,
      { value: 'true', ttl: '3600', expiryTime: '0' },
      RECEIVER,
      t.clock.now(),
    );
    expect(e).toMatchObject({ kind: 'token', value: tokenDigest(tok) });
    expect(JSON.stringify(e)).not.toContain(tok);
    t.adapter.revocations.apply(e);
    const res = await check(tok);
    expect(res).toMatchObject({ allowed: false, httpStatus: 401 });
    expect(res.body?.code).toBe('900901');
    expect(calls()).toBe(before + 1); // the cached active answer was forgotten
  });

  it('a cached token keeps working while the key manager is down', async () => {
    const tok = token();
    expect((await check(tok)).allowed).toBe(true);
    km.mode = 'down';
    expect((await check(tok)).allowed).toBe(true);
  });
});
