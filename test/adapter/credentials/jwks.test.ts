import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JwksCache } from '../../../adapter/credentials/jwks.ts';
import { FakeApim } from '../../support/fakes/fake-apim-internal-data.ts';

let fake: FakeApim;
let nowMs: number;
let k1: JWK;
let k2: JWK;
beforeAll(async () => {
  k1 = {
    ...(await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey)),
    kid: 'k1',
    alg: 'RS256',
    use: 'sig',
  };
  k2 = {
    ...(await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey)),
    kid: 'k2',
    alg: 'RS256',
    use: 'sig',
  };
});
beforeEach(async () => {
  fake = await new FakeApim().start();
  nowMs = Date.UTC(2026, 0, 1);
  fake.jwks = { keys: [k1] };
});
afterEach(() => fake.close());

function cache() {
  return new JwksCache({
    url: `${fake.url}/oauth2/jwks`,
    now: () => nowMs,
    maxAgeMs: 60_000,
    staleWindowMs: 600_000,
    cooldownMs: 30_000,
    timeoutMs: 2_000,
  });
}
const jwksCalls = () => fake.requestsTo('/oauth2/jwks').length;

describe('JwksCache', () => {
  it('fetches once and serves known keys from memory', async () => {
    const c = cache();
    expect((await c.lookup('k1', 'RS256')).kind).toBe('key');
    expect((await c.lookup('k1', 'RS256')).kind).toBe('key');
    expect(jwksCalls()).toBe(1);
  });

  it('unknown kid: one refresh, then denied without another request during the cooldown', async () => {
    const c = cache();
    await c.lookup('k1', 'RS256');
    nowMs += 31_000;
    expect(await c.lookup('nope', 'RS256')).toEqual({ kind: 'unknown-kid' });
    expect(jwksCalls()).toBe(2);
    for (let i = 0; i < 20; i++)
      expect(await c.lookup(`nope-${i}`, 'RS256')).toEqual({ kind: 'unknown-kid' });
    expect(jwksCalls()).toBe(2);
  });

  it('rotated key: the new kid is picked up by the unknown-kid refresh', async () => {
    const c = cache();
    await c.lookup('k1', 'RS256');
    fake.jwks = { keys: [k2] };
    nowMs += 31_000;
    expect((await c.lookup('k2', 'RS256')).kind).toBe('key');
    expect(await c.lookup('k1', 'RS256')).toEqual({ kind: 'unknown-kid' });
  });

  it('JWKS outage: known keys keep working through the stale window, then fail as unavailable', async () => {
    const c = cache();
    await c.lookup('k1', 'RS256');
    fake.mode = 'down';
    nowMs += 120_000; // stale: background refresh fails, cached key still served
    expect((await c.lookup('k1', 'RS256')).kind).toBe('key');
    nowMs += 500_000;
    expect((await c.lookup('k1', 'RS256')).kind).toBe('key');
    nowMs += 100_000; // beyond maxAge + staleWindow
    expect(await c.lookup('k1', 'RS256')).toMatchObject({ kind: 'unavailable' });
    fake.mode = 'ok';
    expect((await c.lookup('k1', 'RS256')).kind).toBe('key');
  });

  it('a stale read refreshes in the background', async () => {
    const c = cache();
    await c.lookup('k1', 'RS256');
    fake.jwks = { keys: [k1, k2] };
    nowMs += 61_000;
    await c.lookup('k1', 'RS256');
    while (jwksCalls() < 2) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    expect((await c.lookup('k2', 'RS256')).kind).toBe('key');
    expect(jwksCalls()).toBe(2);
  });

  it('never loaded and endpoint down: unavailable', async () => {
    fake.mode = 'down';
    expect(await cache().lookup('k1', 'RS256')).toMatchObject({ kind: 'unavailable' });
  });

  it('a key published for RS256 is not handed out for another algorithm', async () => {
    const c = cache();
    expect(await c.lookup('k1', 'HS256')).toEqual({ kind: 'unknown-kid' });
    expect(await c.lookup('k1', 'PS256')).toEqual({ kind: 'unknown-kid' });
  });
});
