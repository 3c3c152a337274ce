/**
 * OAuth2 JWT access tokens end to end: a real adapter over gRPC, JWKS served by a local HTTP server
 * (the fake API Manager), manual clock. One case per way a token can be wrong.
 */
import { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestAdapter, type TestAdapter } from '../../support/adapter.ts';
import { FakeApim } from '../../support/fakes/fake-apim-internal-data.ts';
import { hs256WithPublicKey, signRs256Raw, unsignedToken } from '../../support/keys.ts';
import { lowBitVariants } from '../../support/variants.ts';

const FIXTURE = readFileSync(new URL('./fixtures/oauth.yaml', import.meta.url), 'utf8');
const ISS = 'https://apim.test/oauth2/token';
const KC_ISS = 'https://keycloak.test/realms/mesh';
const AUD = 'petstore-gateway';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let fake: FakeApim;
let t: TestAdapter;
let k1: KeyPair;
let k2: KeyPair;
let kc: KeyPair;
let jwk1: JWK;
let jwk2: JWK;
let jwkKc: JWK;

const pub = async (k: KeyPair, kid: string): Promise<JWK> => ({
  ...(await exportJWK(k.publicKey)),
  kid,
  alg: 'RS256',
  use: 'sig',
});

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(t.clock.now() / 1000);
  return {
    iss: ISS,
    sub: 'alice@carbon.super',
    aud: AUD,
    azp: 'demo-ck',
    scope: 'default',
    iat,
    nbf: iat,
    exp: iat + 3600,
    jti: `jti-${Math.random()}`,
    ...overrides,
  };
}

function sign(c: Record<string, unknown>, key: KeyPair = k1, kid = 'k1'): Promise<string> {
  const clean = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined));
  return new SignJWT(clean).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid }).sign(key.privateKey);
}

const check = (token: string, path = '/petstore/v1/pets', method = 'GET') =>
  t.client.check({ path, method, headers: { authorization: `Bearer ${token}` } });
const jwksCalls = () => fake.requestsTo('/oauth2/jwks').length;

beforeAll(async () => {
  [k1, k2, kc] = await Promise.all([
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('RS256', { extractable: true }),
  ]);
  [jwk1, jwk2, jwkKc] = await Promise.all([pub(k1, 'k1'), pub(k2, 'k2'), pub(kc, 'kc1')]);
  fake = await new FakeApim().start();
  fake.jwks = { keys: [jwk1, jwkKc] };
  t = await startTestAdapter({
    yaml: FIXTURE,
    overrides: {
      'oauth.issuers': [
        { issuer: ISS, jwksUrl: `${fake.url}/oauth2/jwks`, audience: [AUD], clockSkewSeconds: 30 },
        {
          issuer: KC_ISS,
          jwksUrl: `${fake.url}/oauth2/jwks`,
          keyManager: 'keycloak',
          consumerKeyClaim: 'client_id',
        },
      ],
      'oauth.jwksCooldownMs': 30_000,
      'oauth.jwksMaxAgeMs': 600_000,
      'oauth.jwksStaleWindowMs': 3_600_000,
    },
  });
});
afterAll(async () => {
  await t?.close();
  await fake?.close();
});
beforeEach(() => {
  fake.mode = 'ok';
  fake.jwks = { keys: [jwk1, jwkKc] };
  // Past the refresh cooldown: a case that rotated keys does not leak into the next one.
  t.clock.advance(31_000);
});

function expectInvalidToken(res: Awaited<ReturnType<typeof check>>, code = '900901') {
  expect(res.allowed).toBe(false);
  expect(res.httpStatus).toBe(401);
  expect(res.body?.code).toBe(code);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="mesh-apim", error="invalid_token"/);
}

describe('OAuth2 JWT access tokens', () => {
  it('valid token: allowed as the application its consumer key maps to; the token is not forwarded', async () => {
    const res = await check(await sign(claims()));
    expect(res.allowed).toBe(true);
    expect(res.headers).toMatchObject({
      'x-mesh-apim-application-name': 'demo-app',
      'x-mesh-apim-subscription-tier': 'Gold',
      'x-mesh-apim-key-type': 'PRODUCTION',
      'x-mesh-apim-user': 'alice@carbon.super',
    });
    expect(res.headersToRemove).toContain('authorization');
  });

  it('the key type comes from the key mapping (sandbox consumer key)', async () => {
    const res = await check(await sign(claims({ azp: 'demo-sandbox-ck' })));
    expect(res.allowed).toBe(true);
    expect(res.headers['x-mesh-apim-key-type']).toBe('SANDBOX');
  });

  it('consumer key from another claim for another issuer (client_id, key manager keycloak)', async () => {
    const token = await sign(
      claims({ iss: KC_ISS, azp: undefined, aud: undefined, client_id: 'kc-client' }),
      kc,
      'kc1',
    );
    const res = await check(token);
    expect(res.allowed).toBe(true);
    expect(res.headers['x-mesh-apim-application-name']).toBe('demo-app');
  });

  it('expired: 401 900903 with an invalid_token challenge', async () => {
    const now = Math.floor(t.clock.now() / 1000);
    const res = await check(await sign(claims({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 })));
    expectInvalidToken(res, '900903');
  });

  it('expiry within the clock skew is accepted', async () => {
    const now = Math.floor(t.clock.now() / 1000);
    expect((await check(await sign(claims({ exp: now - 10 })))).allowed).toBe(true);
  });

  it('not yet valid: 401 900901', async () => {
    const now = Math.floor(t.clock.now() / 1000);
    expectInvalidToken(await check(await sign(claims({ nbf: now + 600 }))));
  });

  it('wrong issuer: 401 900901', async () => {
    expectInvalidToken(await check(await sign(claims({ iss: 'https://evil.test' }))));
  });

  it('wrong audience: 401 900901', async () => {
    expectInvalidToken(await check(await sign(claims({ aud: 'another-gateway' }))));
  });

  it.each<[string, Record<string, unknown>]>([
    ['jti', { jti: ['a'] }],
    ['sub', { sub: { id: 'alice' } }],
    ['scope', { scope: ['admin'] }],
    ['scp', { scp: [1, 2] }],
    ['iat', { iat: '1893456000' }],
  ])('%s of an unexpected type: 401 900901, never read as absent (issue 19 item 3)', async (_c, o) => {
    expectInvalidToken(await check(await sign(claims(o))));
  });

  it('iat: 1e309 (Infinity, would escape revocation by time) is 401 900901', async () => {
    const json = JSON.stringify(claims()).replace(/"iat":\d+/, '"iat":1e309');
    expect(JSON.parse(json).iat).toBe(Number.POSITIVE_INFINITY);
    expectInvalidToken(
      await check(
        signRs256Raw(KeyObject.from(k1.privateKey as Parameters<typeof KeyObject.from>[0]), 'k1', json),
      ),
    );
  });

  it('token without exp: 401', async () => {
    expectInvalidToken(await check(await sign(claims({ exp: undefined }))));
  });

  it('unknown kid: one JWKS refresh, then denied; more unknown kids within the cooldown cause none', async () => {
    const before = jwksCalls();
    const stranger = await generateKeyPair('RS256');
    expectInvalidToken(await check(await sign(claims(), stranger, 'unknown-kid')));
    expect(jwksCalls()).toBe(before + 1);
    for (let i = 0; i < 5; i++)
      expectInvalidToken(await check(await sign(claims(), stranger, `unknown-${i}`)));
    expect(jwksCalls()).toBe(before + 1);
  });

  it('rotated key: a token with the new kid is accepted after one refresh; the retired key stops working', async () => {
    const old = await sign(claims());
    expect((await check(old)).allowed).toBe(true);
    fake.jwks = { keys: [jwk2, jwkKc] };
    t.clock.advance(31_000);
    const before = jwksCalls();
    const res = await check(await sign(claims(), k2, 'k2'));
    expect(res.allowed).toBe(true);
    expect(jwksCalls()).toBe(before + 1);
    // The old token was verified (and cached) with k1, which the issuer no longer publishes.
    expectInvalidToken(await check(old));
  });

  it('alg none: 401, no key lookup', async () => {
    const before = jwksCalls();
    expectInvalidToken(await check(unsignedToken('k1', claims())));
    expect(jwksCalls()).toBe(before);
  });

  it('HS256 signed with the RSA public key (algorithm confusion): 401', async () => {
    const pem = await exportSPKI(k1.publicKey);
    expectInvalidToken(await check(hs256WithPublicKey(pem, 'k1', claims())));
  });

  it('tampered signature: 401', async () => {
    const token = await sign(claims());
    const other = await sign(claims({ sub: 'mallory' }));
    const forged = `${other.split('.').slice(0, 2).join('.')}.${token.split('.')[2]}`;
    expectInvalidToken(await check(forged));
  });

  it('missing consumer key claim: 401', async () => {
    expectInvalidToken(await check(await sign(claims({ azp: undefined }))));
  });

  it('consumer key unknown to the key mappings: 401', async () => {
    expectInvalidToken(await check(await sign(claims({ azp: 'nobody' }))));
  });

  it('consumer key of an application without a subscription: 403 900908', async () => {
    const res = await check(await sign(claims({ azp: 'unsub-ck' })));
    expect(res.httpStatus).toBe(403);
    expect(res.body?.code).toBe('900908');
  });

  it('scopes: a resource requiring a scope denies a token without it (403 900910, insufficient_scope)', async () => {
    const denied = await check(await sign(claims()), '/petstore/v1/pets', 'POST');
    expect(denied.httpStatus).toBe(403);
    expect(denied.body?.code).toBe('900910');
    expect(denied.headers['www-authenticate']).toBe(
      'Bearer realm="mesh-apim", error="insufficient_scope", error_description="The access token lacks a scope this resource requires", scope="pets:write"',
    );
    const allowed = await check(
      await sign(claims({ scope: 'default pets:write' })),
      '/petstore/v1/pets',
      'POST',
    );
    expect(allowed.allowed).toBe(true);
  });

  it('empty Bearer: 401 900902 with a bare Bearer challenge', async () => {
    const res = await t.client.check({ path: '/petstore/v1/pets', headers: { authorization: 'Bearer ' } });
    expect(res.httpStatus).toBe(401);
    expect(res.body?.code).toBe('900902');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="mesh-apim"');
  });

  it('opaque token without introspection configured: 401', async () => {
    expectInvalidToken(await check('c2VjcmV0LW9wYXF1ZS10b2tlbg'));
  });

  it('JWKS outage: known keys keep working after the cache max age (stale-while-revalidate)', async () => {
    const token = await sign(claims());
    expect((await check(token)).allowed).toBe(true);
    fake.mode = 'down';
    t.clock.advance(700_000); // past jwksMaxAgeMs: a background refresh fails, cached keys still serve
    expect((await check(await sign(claims()))).allowed).toBe(true);
    expect((await check(token)).allowed).toBe(true);
  });

  it('a JWT revoked in API Manager (revokedjwt lists its signature) is denied', async () => {
    const token = await sign(claims());
    expect((await check(token)).allowed).toBe(true);
    const yaml = `${FIXTURE}\nrevokedTokens:\n  - { jti: "${token.split('.')[2]}" }\n`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(t.standaloneFile, yaml);
    await t.adapter.store.refresh();
    expectInvalidToken(await check(token));
  });

  it('a revoked JWT stays revoked when its signature is re-spelled (same bytes, another string): 15/15', async () => {
    const token = await sign(claims());
    const variants = lowBitVariants(token);
    expect(variants).toHaveLength(15);
    // Accepted before the revocation: the variants are valid spellings of one signed token.
    for (const v of variants.slice(0, 3)) expect((await check(v)).allowed).toBe(true);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(t.standaloneFile, `${FIXTURE}\nrevokedTokens:\n  - { jti: "${token.split('.')[2]}" }\n`);
    await t.adapter.store.refresh();
    for (const v of [token, ...variants]) expectInvalidToken(await check(v));
  });

  it('a revocation event naming the signature in another spelling revokes every spelling', async () => {
    const token = await sign(claims());
    const [respelled] = lowBitVariants(token);
    t.adapter.revocations.add(respelled!.split('.')[2]!, null);
    for (const v of [token, ...lowBitVariants(token)]) expectInvalidToken(await check(v));
  });
});
