import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  IntrospectionClient,
  type IntrospectionOptions,
} from '../../../adapter/credentials/introspection.ts';
import { createCredentialMetrics } from '../../../adapter/credentials/metrics.ts';
import { tokenDigest } from '../../../adapter/revocation/store.ts';
import { FakeApim } from '../../support/fakes/fake-apim-internal-data.ts';

let fake: FakeApim;
let nowMs: number;
beforeEach(async () => {
  fake = await new FakeApim().start();
  nowMs = Date.UTC(2026, 0, 1);
  fake.tokens.set('good-token', {
    active: true,
    claims: {
      client_id: 'demo-consumer-key',
      scope: 'default pets:write',
      exp: nowMs / 1000 + 3600,
      token_type: 'Bearer',
    },
  });
});
afterEach(() => fake.close());

function client(overrides: Partial<IntrospectionOptions> = {}) {
  return new IntrospectionClient({
    url: `${fake.url}/oauth2/introspect`,
    clientId: fake.introspectionClient.id,
    clientSecret: fake.introspectionClient.secret,
    now: () => nowMs,
    clientAuth: 'basic',
    positiveTtlCapMs: 300_000,
    negativeTtlMs: 10_000,
    maxEntries: 100_000,
    maxBytes: 64 * 1024 * 1024,
    timeoutMs: 2_000,
    ...overrides,
  });
}

/** Holds the fake's introspection answers until the returned function is called. */
function holdAnswers(): () => void {
  let open!: () => void;
  fake.introspectionGate = new Promise<void>((r) => {
    open = r;
  });
  return () => {
    fake.introspectionGate = undefined;
    open();
  };
}

async function untilCallArrives(n = 1): Promise<void> {
  while (fake.requestsTo('/oauth2/introspect').length < n) await new Promise((r) => setTimeout(r, 5));
}

describe('IntrospectionClient', () => {
  it('forget() drops a cached answer: a revoked opaque token is asked again, not served from cache', async () => {
    const c = client();
    await c.introspect('good-token');
    await c.introspect('good-token');
    expect(c.calls).toBe(1);
    c.forget('good-token');
    expect(c.cached('good-token')).toBeUndefined();
    await c.introspect('good-token');
    expect(c.calls).toBe(2);
  });

  it('forgetDigest() drops the cached answer of the token with that digest only (what a token-revoked event carries)', async () => {
    const c = client();
    await c.introspect('good-token');
    await c.introspect('other-token');
    c.forgetDigest(tokenDigest('good-token'));
    expect(c.cached('good-token')).toBeUndefined();
    expect(c.cached('other-token')).toBeDefined();
    c.forgetDigest('good-token'); // a raw token is not a digest: nothing else is dropped
    expect(c.cached('other-token')).toBeDefined();
  });

  it.each(['basic', 'client_secret_post'] as const)('active token (client auth %s)', async (clientAuth) => {
    const c = client({ clientAuth });
    const result = await c.introspect('good-token');
    expect(result).toMatchObject({ kind: 'active', claims: { client_id: 'demo-consumer-key' } });
    const req = fake.requestsTo('/oauth2/introspect')[0]!;
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(req.body);
    expect(form.get('token')).toBe('good-token');
    if (clientAuth === 'basic') {
      expect(req.headers.authorization).toMatch(/^Basic /);
      expect(form.has('client_secret')).toBe(false);
    } else {
      expect(req.headers.authorization).toBeUndefined();
      expect(form.get('client_secret')).toBe(fake.introspectionClient.secret);
    }
  });

  it('inactive token', async () => {
    expect(await client().introspect('unknown-token')).toEqual({ kind: 'inactive' });
  });

  it('caches an active token until exp, capped', async () => {
    const c = client();
    await c.introspect('good-token');
    nowMs += 299_000;
    expect(await c.introspect('good-token')).toMatchObject({ kind: 'active' });
    expect(c.calls).toBe(1);
    nowMs += 2_000; // past the 5 min cap (exp is 1 h away)
    await c.introspect('good-token');
    expect(c.calls).toBe(2);
  });

  it('a cached entry ends at the token exp when that comes before the cap', async () => {
    fake.tokens.set('short', { active: true, claims: { client_id: 'x', exp: nowMs / 1000 + 60 } });
    const c = client();
    await c.introspect('short');
    nowMs += 61_000;
    expect(c.cached('short')).toBeUndefined();
  });

  it('negative-caches an inactive token for the short TTL', async () => {
    const c = client();
    await c.introspect('bad');
    nowMs += 9_000;
    expect(await c.introspect('bad')).toEqual({ kind: 'inactive' });
    expect(c.calls).toBe(1);
    nowMs += 2_000;
    await c.introspect('bad');
    expect(c.calls).toBe(2);
  });

  it('a concurrent burst of one token makes one upstream call', async () => {
    const open = holdAnswers();
    const metrics = createCredentialMetrics(new Registry());
    const c = client({ metrics });
    const burst = Array.from({ length: 50 }, () => c.introspect('good-token'));
    // Wait until the one call has reached the server, then release it.
    await untilCallArrives();
    expect(c.cached('good-token')).toBeUndefined(); // still running: nothing to serve synchronously
    open();
    const results = await Promise.all(burst);
    expect(results.every((r) => r.kind === 'active')).toBe(true);
    expect(fake.requestsTo('/oauth2/introspect')).toHaveLength(1);
    expect(c.calls).toBe(1);
    await c.introspect('good-token');
    const counts = Object.fromEntries(
      (await metrics.introspectionCache.get()).values.map((v) => [v.labels.result, v.value]),
    );
    expect(counts).toEqual({ miss: 1, joined: 49, hit: 1 });
  });

  it('a burst of distinct tokens makes one call each', async () => {
    const c = client();
    await Promise.all(['a', 'b', 'c', 'a', 'b'].map((t) => c.introspect(t)));
    expect(c.calls).toBe(3);
  });

  it('an upstream error during a burst: every joined caller is unavailable, and the error is not cached', async () => {
    const open = holdAnswers();
    fake.mode = 'error';
    const c = client();
    const burst = Array.from({ length: 10 }, () => c.introspect('good-token'));
    await untilCallArrives();
    open();
    const results = await Promise.all(burst);
    expect(results.every((r) => r.kind === 'unavailable' && r.reason.includes('500'))).toBe(true);
    expect(c.calls).toBe(1);
    expect(c.cached('good-token')).toBeUndefined();
    fake.mode = 'ok';
    expect(await c.introspect('good-token')).toMatchObject({ kind: 'active' });
    expect(c.calls).toBe(2);
  });

  it('a timeout is unavailable and not cached', async () => {
    fake.mode = 'slow';
    fake.slowMs = 500;
    const c = client({ timeoutMs: 50 });
    expect(await c.introspect('good-token')).toMatchObject({ kind: 'unavailable' });
    fake.mode = 'ok';
    expect(await c.introspect('good-token')).toMatchObject({ kind: 'active' });
    expect(c.calls).toBe(2);
  });

  it('forget() while the call runs: the waiting callers get the answer, and it is not cached', async () => {
    const open = holdAnswers();
    const c = client();
    const burst = [c.introspect('good-token'), c.introspect('good-token')];
    await untilCallArrives();
    c.forget('good-token'); // a revocation arrives while the call is out
    open();
    const results = await Promise.all(burst);
    expect(results.map((r) => r.kind)).toEqual(['active', 'active']);
    expect(c.cached('good-token')).toBeUndefined();
    await c.introspect('good-token');
    expect(c.calls).toBe(2);
  });

  it('endpoint down, 5xx, malformed or wrong client credentials: unavailable and not cached', async () => {
    const c = client();
    fake.mode = 'down';
    expect(await c.introspect('good-token')).toMatchObject({ kind: 'unavailable' });
    fake.mode = 'error';
    expect(await c.introspect('good-token')).toMatchObject({ kind: 'unavailable' });
    fake.mode = 'malformed';
    expect(await c.introspect('good-token')).toMatchObject({ kind: 'unavailable' });
    fake.mode = 'ok';
    expect(await client({ clientSecret: 'nope' }).introspect('good-token')).toMatchObject({
      kind: 'unavailable',
    });
    expect(await c.introspect('good-token')).toMatchObject({ kind: 'active' });
    expect(c.calls).toBe(4);
  });

  it('does not trust "active" for a token whose exp has passed', async () => {
    fake.tokens.set('stale', { active: true, claims: { client_id: 'x', exp: nowMs / 1000 - 1 } });
    expect(await client().introspect('stale')).toEqual({ kind: 'inactive' });
  });

  it('bounds the cache', async () => {
    const c = client({ maxEntries: 2 });
    await c.introspect('a');
    await c.introspect('b');
    await c.introspect('c');
    expect(c.cached('a')).toBeUndefined();
    expect(c.cached('c')).toEqual({ kind: 'inactive' });
  });

  it('an entry expires on the injected clock, exactly after its TTL', async () => {
    const c = client();
    await c.introspect('bad');
    nowMs += 10_000;
    expect(c.cached('bad')).toEqual({ kind: 'inactive' });
    nowMs += 1;
    expect(c.cached('bad')).toBeUndefined();
  });
});
