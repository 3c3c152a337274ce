/**
 * The check path end to end over loopback: a real grpc-js client built from Envoy's protos against
 * the adapter's gRPC server, with a manual clock. One case per decision and WSO2 code.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestContext } from '../../events/request-attributes.ts';
import { startTestAdapter, type TestAdapter, TRANSPORTS } from '../support/adapter.ts';
import { hs256WithPublicKey, otherRsaKey, signRs256, unsignedToken, wso2Claims } from '../support/keys.ts';
import { lowBitVariants, whitespaceVariants } from '../support/variants.ts';
import { jtiOf, signatureOf, wso2ApiKey } from '../support/wso2-apikey.ts';

/** A key as API Manager's Developer Portal issues it by default (validity -1: no exp). */
const nonExpiringKey = (t: TestAdapter, extra: Partial<Parameters<typeof wso2ApiKey>[0]> = {}) =>
  wso2ApiKey({
    kid: t.adapter.signingKey!.kid,
    privateKey: t.adapter.signingKey!.privateKey,
    nowMs: t.clock.now(),
    validityPeriod: -1,
    ...extra,
  });

const FIXTURE = readFileSync(new URL('./fixtures/every-decision.yaml', import.meta.url), 'utf8');

describe.each(TRANSPORTS)('Check over gRPC (%s transport)', (transport) => {
  let t: TestAdapter;
  beforeAll(async () => {
    t = await startTestAdapter({ yaml: FIXTURE, transport });
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
    t.client.check({ path, headers, ...extra });

  describe('allow', () => {
    it('allows a subscribed application, sets identity headers and the request context metadata', async () => {
      const key = await t.apiKey('demo-app');
      const res = await get(
        '/petstore/v1/pets/42',
        { apikey: key, 'x-request-id': 'rid-1' },
        { requestId: 'rid-1' },
      );
      expect(res.allowed).toBe(true);
      expect(res.headers).toMatchObject({
        'x-mesh-apim-api-id': 'petstore-v1',
        'x-mesh-apim-application-id': 'demo-app',
        'x-mesh-apim-application-name': 'demo-app',
        'x-mesh-apim-subscription-tier': 'Gold',
        'x-mesh-apim-key-type': 'PRODUCTION',
      });
      for (const h of res.headerOptions) expect(h.append_action).toBe('OVERWRITE_IF_EXISTS_OR_ADD');
      const ctx = RequestContext.parse(res.requestContext);
      expect(ctx).toMatchObject({
        requestId: 'rid-1',
        api: { id: 'petstore-v1', context: '/petstore/v1' },
        resource: { method: 'GET', template: '/pets/{id}' },
        application: { id: 'demo-app', name: 'demo-app' },
        subscriptionTier: 'Gold',
        keyType: 'PRODUCTION',
        credentialType: 'apikey',
        decision: { kind: 'allow', httpStatus: 200, code: null },
        request: { method: 'GET', path: '/petstore/v1/pets/42' },
        adapterInstance: 'test-adapter',
      });
    });

    it('overwrites client-sent identity headers and removes those it does not set', async () => {
      const key = await t.apiKey('demo-app');
      const res = await get('/petstore/v1/pets', {
        apikey: key,
        'x-mesh-apim-application-id': 'admin-app',
        'x-mesh-apim-subscription-tier': 'Unlimited',
        'x-mesh-apim-over-quota': 'false',
      });
      expect(res.allowed).toBe(true);
      expect(res.headers['x-mesh-apim-application-id']).toBe('demo-app');
      expect(res.headers['x-mesh-apim-subscription-tier']).toBe('Gold');
      expect(res.headersToRemove).toContain('x-mesh-apim-over-quota');
    });

    it('removes the apikey header before the upstream', async () => {
      const key = await t.apiKey('demo-app');
      const res = await get('/petstore/v1/pets', { apikey: key });
      expect(res.headersToRemove).toContain('apikey');
      expect(res.queryParamsToRemove).toEqual([]);
    });

    it('accepts the key as a query parameter and removes it from the query', async () => {
      const key = await t.apiKey('demo-app');
      const res = await get(`/petstore/v1/pets?limit=5&apikey=${key}`);
      expect(res.allowed).toBe(true);
      expect(res.queryParamsToRemove).toEqual(['apikey']);
      const ctx = RequestContext.parse(res.requestContext);
      expect(ctx.request.path).toBe('/petstore/v1/pets');
    });

    it('lets a route name its API through context_extensions', async () => {
      const key = await t.apiKey('demo-app');
      const res = await get(
        '/petstore/v1/pets',
        { apikey: key },
        { contextExtensions: { api: 'petstore-v1' } },
      );
      expect(res.allowed).toBe(true);
      const other = await get('/petstore/v1/pets', { apikey: key }, { contextExtensions: { api: 'nope' } });
      expect(other.httpStatus).toBe(403);
    });

    it('allows an unsecured resource without a credential', async () => {
      const res = await get('/petstore/v1/public');
      expect(res.allowed).toBe(true);
      expect(res.headers['x-mesh-apim-subscription-tier']).toBe('Unauthenticated');
      expect(res.headersToRemove).toContain('x-mesh-apim-application-id');
    });
  });

  describe('not found and blocked APIs', () => {
    it.each([
      ['/nothing/v1/pets', 'no API'],
      ['/petstore/v2/pets', 'other version'],
      ['/petstore/v1/owners', 'no resource'],
      ['/retired/v1/x', 'retired API'],
      ['/petstore/v1/pets/../owners', 'dot segments resolved, then no resource'],
      // docs-apim error-handling: 900906 is answered 403; message as APISecurityConstants words it.
    ])('403 900906 for %s (%s)', async (path) => {
      const res = await get(path, { apikey: await t.apiKey('demo-app') });
      expect(res.httpStatus).toBe(403);
      expect(res.body).toEqual({
        code: '900906',
        message: 'No matching resource found in the API for the given request',
        description:
          'No matching resource found in the API for the given request. Check the API documentation and add a proper REST resource path to the invocation URL',
      });
    });

    it('403 900906 for a method the resource does not declare', async () => {
      const res = await t.client.check({
        method: 'DELETE',
        path: '/petstore/v1/pets/1',
        headers: { apikey: await t.apiKey('demo-app') },
      });
      expect(res.httpStatus).toBe(403);
      expect(res.body?.code).toBe('900906');
    });

    it('503 700700 for an API in the BLOCKED lifecycle state', async () => {
      const res = await get('/blocked/v1/x', { apikey: await t.apiKey('demo-app') });
      expect(res.httpStatus).toBe(503);
      expect(res.body).toMatchObject({ code: '700700', message: 'API blocked' });
    });
  });

  describe('credentials', () => {
    it('401 900902 without a credential, with WWW-Authenticate', async () => {
      const res = await get('/petstore/v1/pets');
      expect(res.httpStatus).toBe(401);
      expect(res.body).toMatchObject({ code: '900902', message: 'Missing Credentials' });
      expect(res.headers['www-authenticate']).toContain('apikey');
      expect(res.headers['content-type']).toContain('application/json');
    });

    it('401 900902 for an empty apikey header', async () => {
      const res = await get('/petstore/v1/pets', { apikey: '' });
      expect(res.body?.code).toBe('900902');
    });

    // wso2/carbon-apimgt ApiKeyAuthenticator: an expired API key is API_AUTH_INVALID_CREDENTIALS.
    it('401 900901 for an expired key (WSO2 answers 900901, not 900903, for API keys)', async () => {
      const key = await t.apiKey('demo-app', { validitySeconds: 60, now: t.clock.now() - 120_000 });
      const res = await get('/petstore/v1/pets', { apikey: key });
      expect(res.httpStatus).toBe(401);
      expect(res.body).toMatchObject({ code: '900901', message: 'Invalid Credentials' });
    });

    it('a cached key expires when the clock passes exp', async () => {
      const key = await t.apiKey('demo-app', { validitySeconds: 30 });
      expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
      t.clock.advance(31_000);
      const res = await get('/petstore/v1/pets', { apikey: key });
      expect(res.body?.code).toBe('900901');
    });

    describe('forged keys are 401 900901', () => {
      const forged: [string, (t: TestAdapter) => Promise<string> | string][] = [
        ['garbage', () => 'not-a-jwt'],
        [
          'forged signature of the right length',
          async (t) => {
            const good = await t.apiKey('demo-app');
            return `${good.slice(0, good.lastIndexOf('.'))}.${Buffer.alloc(256, 0x5a).toString('base64url')}`;
          },
        ],
        [
          'whitespace inside the signed part (the signature covers it byte for byte)',
          async (t) => {
            const [h, p, s] = (await t.apiKey('demo-app')).split('.');
            return `${h}.${p!.slice(0, 10)} ${p!.slice(10)}.${s}`;
          },
        ],
        [
          'a signature character outside base64url',
          async (t) => {
            const good = await t.apiKey('demo-app');
            return `${good.slice(0, -3)}+${good.slice(-2)}`;
          },
        ],
        ['alg none', (t) => unsignedToken(t.adapter.signingKey!.kid, wso2Claims(t.clock.now()))],
        [
          'HS256 signed with the RSA public key as secret',
          (t) =>
            hs256WithPublicKey(
              t.adapter.signingKey!.publicPem,
              t.adapter.signingKey!.kid,
              wso2Claims(t.clock.now()),
            ),
        ],
        ['unknown kid', (t) => signRs256(otherRsaKey(), 'someone-else', wso2Claims(t.clock.now()))],
        [
          'known kid, signed by another key',
          (t) => signRs256(otherRsaKey(), t.adapter.signingKey!.kid, wso2Claims(t.clock.now())),
        ],
        // Non-expiring keys are accepted (WSO2's rule); everything else still applies to them.
        ['no exp, signed by another key', (t) => nonExpiringKey(t, { privateKey: otherRsaKey() })],
        [
          'no exp, alg none',
          (t) => unsignedToken(t.adapter.signingKey!.kid, wso2Claims(t.clock.now(), { exp: undefined })),
        ],
        [
          'no exp, HS256 with the RSA public key as secret',
          (t) =>
            hs256WithPublicKey(
              t.adapter.signingKey!.publicPem,
              t.adapter.signingKey!.kid,
              wso2Claims(t.clock.now(), { exp: undefined }),
            ),
        ],
        [
          'no exp, exp stripped from a signed key (padded WSO2 encoding)',
          (t) => {
            const [h, p, s] = wso2ApiKey({
              kid: t.adapter.signingKey!.kid,
              privateKey: t.adapter.signingKey!.privateKey,
              nowMs: t.clock.now(),
              validityPeriod: 60,
            }).split('.');
            const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
            delete claims.exp;
            return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64')}.${s}`;
          },
        ],
        [
          'no exp, no jti',
          (t) =>
            signRs256(
              t.adapter.signingKey!.privateKey,
              t.adapter.signingKey!.kid,
              wso2Claims(t.clock.now(), { exp: undefined, jti: undefined }),
            ),
        ],
        [
          'an OAuth2 access token presented as an API key (scopes do not make it one)',
          (t) =>
            signRs256(
              t.adapter.signingKey!.privateKey,
              t.adapter.signingKey!.kid,
              wso2Claims(t.clock.now(), { token_type: 'Bearer', scope: 'admin' }),
            ),
        ],
        [
          'no jti',
          (t) =>
            signRs256(
              t.adapter.signingKey!.privateKey,
              t.adapter.signingKey!.kid,
              wso2Claims(t.clock.now(), { jti: undefined }),
            ),
        ],
        [
          'wrong keytype',
          (t) =>
            signRs256(
              t.adapter.signingKey!.privateKey,
              t.adapter.signingKey!.kid,
              wso2Claims(t.clock.now(), { keytype: 'ADMIN' }),
            ),
        ],
        [
          'not an API key (token_type)',
          (t) =>
            signRs256(
              t.adapter.signingKey!.privateKey,
              t.adapter.signingKey!.kid,
              wso2Claims(t.clock.now(), { token_type: 'InternalKey' }),
            ),
        ],
        [
          'wrong issuer for the kid',
          (t) =>
            signRs256(
              t.adapter.signingKey!.privateKey,
              t.adapter.signingKey!.kid,
              wso2Claims(t.clock.now(), { iss: 'evil' }),
            ),
        ],
        [
          'tampered payload',
          async (t) => {
            const good = await t.apiKey('unsubscribed-app');
            const [h, , s] = good.split('.');
            const claims = wso2Claims(t.clock.now());
            return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
          },
        ],
      ];
      it.each(forged)('%s', async (_name, make) => {
        const res = await get('/petstore/v1/pets', { apikey: await make(t) });
        expect(res.httpStatus).toBe(401);
        expect(res.body).toMatchObject({ code: '900901', message: 'Invalid Credentials' });
        expect(res.body?.description).not.toContain('eyJ');
      });
    });

    it('a revoked key is denied in every spelling of its signature (whitespace, unused low bits)', async () => {
      const key = await t.apiKey('demo-app');
      const spellings = [...lowBitVariants(key), ...whitespaceVariants(key, 10)].map((k) =>
        k.replace(/[\n\f\r]/g, ' '),
      );
      for (const k of spellings) expect((await get('/petstore/v1/pets', { apikey: k })).allowed).toBe(true);
      t.adapter.revocations.add(key.slice(key.lastIndexOf('.') + 1), null);
      for (const k of [key, ...spellings]) {
        const res = await get('/petstore/v1/pets', { apikey: k });
        expect(res.httpStatus).toBe(401);
        expect(res.body?.code).toBe('900901');
      }
    });

    it('a validly signed key is accepted (control for the forged cases)', async () => {
      const token = await signRs256(
        t.adapter.signingKey!.privateKey,
        t.adapter.signingKey!.kid,
        wso2Claims(t.clock.now()),
      );
      expect((await get('/petstore/v1/pets', { apikey: token })).allowed).toBe(true);
    });

    it('permittedIP: allowed from a listed CIDR, 403 900908 from elsewhere', async () => {
      const key = await t.apiKey('demo-app', { permittedIP: '192.168.1.0/24, 10.9.9.9' });
      expect((await get('/petstore/v1/pets', { apikey: key }, { clientIp: '192.168.1.77' })).allowed).toBe(
        true,
      );
      expect((await get('/petstore/v1/pets', { apikey: key }, { clientIp: '10.9.9.9' })).allowed).toBe(true);
      const res = await get('/petstore/v1/pets', { apikey: key }, { clientIp: '10.0.0.1' });
      expect(res.httpStatus).toBe(403);
      expect(res.body?.code).toBe('900908');
    });

    it('permittedReferer: wildcard match allowed, other or missing referer 403 900908', async () => {
      const key = await t.apiKey('demo-app', { permittedReferer: 'www.example.com/*,*.example.org/app/*' });
      expect(
        (await get('/petstore/v1/pets', { apikey: key, referer: 'https://www.example.com/page' })).allowed,
      ).toBe(true);
      expect(
        (await get('/petstore/v1/pets', { apikey: key, referer: 'http://a.example.org/app/x' })).allowed,
      ).toBe(true);
      for (const headers of [{ referer: 'https://evil.com/www.example.com/' }, {}] as Record<
        string,
        string
      >[]) {
        const res = await get('/petstore/v1/pets', { apikey: key, ...headers });
        expect(res.httpStatus).toBe(403);
        expect(res.body?.code).toBe('900908');
      }
    });

    it('a revoked key (revocation set) is 401 900901', async () => {
      const key = await t.apiKey('demo-app');
      expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
      const jti = JSON.parse(Buffer.from(key.split('.')[1]!, 'base64url').toString()).jti as string;
      t.adapter.revocations.add(jti, null, t.clock.now());
      const res = await get('/petstore/v1/pets', { apikey: key });
      expect(res.body?.code).toBe('900901');
    });

    // wso2/carbon-apimgt ApiKeyAuthenticator: "Not doing resource level authentication" (the verb
    // info gets AUTH_NO_AUTHENTICATION), so API keys never meet a resource scope. OAuth2 tokens do
    // (test/adapter/credentials/oauth-jwt.test.ts, oauth-opaque.test.ts).
    it('an API key reaches a scoped resource: WSO2 checks scopes for OAuth2 tokens only', async () => {
      const res = await get('/petstore/v1/admin', { apikey: await t.apiKey('demo-app') });
      expect(res.allowed).toBe(true);
      expect(res.headers['www-authenticate']).toBeUndefined();
    });

    describe('non-expiring API keys (wso2/carbon-apimgt DefaultApiKeyGenerator, validity -1)', () => {
      it('a key without exp is accepted by default', async () => {
        const key = nonExpiringKey(t);
        expect(key).toContain('=');
        const res = await get('/petstore/v1/pets', { apikey: key });
        expect(res.allowed).toBe(true);
        expect(res.headers['x-mesh-apim-application-id']).toBe('demo-app');
        t.clock.advance(10 * 365 * 86_400_000);
        expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
      });

      it('revocation by jti still applies to a key without exp', async () => {
        const key = nonExpiringKey(t);
        expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
        t.adapter.revocations.add(jtiOf(key), null, t.clock.now());
        const res = await get('/petstore/v1/pets', { apikey: key });
        expect(res.httpStatus).toBe(401);
        expect(res.body?.code).toBe('900901');
      });

      // wso2/carbon-apimgt ApiKeyAuthenticator (older releases) looks the key's signature segment up
      // in RevokedJWTDataHolder; APIKeyRevokeServiceImpl records splitToken[2] (/revokedjwt jwt_signature).
      it('an API key revoked by its signature (older releases) is 401 900901', async () => {
        const key = nonExpiringKey(t);
        expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
        t.adapter.revocations.add(signatureOf(key), null, t.clock.now());
        const res = await get('/petstore/v1/pets', { apikey: key });
        expect(res.httpStatus).toBe(401);
        expect(res.body?.code).toBe('900901');
      });

      it('subscription still applies to a key without exp', async () => {
        const key = nonExpiringKey(t, {
          application: {
            id: 7,
            uuid: 'unsubscribed-app',
            name: 'unsubscribed-app',
            tier: 'Unlimited',
            owner: 'admin',
          },
        });
        expect((await get('/petstore/v1/pets', { apikey: key })).body?.code).toBe('900908');
      });
    });

    // Client address per Envoy's XFF rules (adapter/client-ip.ts); the fixture's XFF is what an
    // Istio gateway forwards: client-supplied entries on the left, each trusted proxy's on the right.
    it('permittedIP: a client prepending its own X-Forwarded-For entry does not pass', async () => {
      const key = await t.apiKey('demo-app', { permittedIP: '192.168.1.0/24' });
      const spoofed = await get(
        '/petstore/v1/pets',
        { apikey: key, 'x-forwarded-for': '192.168.1.5, 198.51.100.7' },
        { clientIp: '10.0.0.9' },
      );
      expect(spoofed.httpStatus).toBe(403);
      expect(spoofed.body?.code).toBe('900908');
      expect(
        (
          await get(
            '/petstore/v1/pets',
            { apikey: key, 'x-forwarded-for': '198.51.100.7, 192.168.1.5' },
            { clientIp: '10.0.0.9' },
          )
        ).allowed,
      ).toBe(true);
      expect(
        (
          await get(
            '/petstore/v1/pets',
            { apikey: key, 'x-envoy-external-address': '192.168.1.5', 'x-forwarded-for': '198.51.100.7' },
            { clientIp: '10.0.0.9' },
          )
        ).allowed,
      ).toBe(true);
    });
  });

  describe('subscriptions', () => {
    it('403 900908 for an application without a subscription', async () => {
      const res = await get('/petstore/v1/pets', { apikey: await t.apiKey('unsubscribed-app') });
      expect(res.httpStatus).toBe(403);
      expect(res.body).toMatchObject({ code: '900908', message: 'Resource forbidden' });
    });

    // docs-apim error-handling: 900907 and 900909 are answered 401.
    it('401 900907 for a BLOCKED subscription', async () => {
      const res = await get('/petstore/v1/pets', { apikey: await t.apiKey('blocked-app') });
      expect(res.httpStatus).toBe(401);
      expect(res.body?.code).toBe('900907');
    });

    it('PROD_ONLY_BLOCKED: production key 401 900907, sandbox key allowed', async () => {
      const prod = await get('/petstore/v1/pets', { apikey: await t.apiKey('prodonly-app') });
      expect(prod.httpStatus).toBe(401);
      expect(prod.body?.code).toBe('900907');
      const sandbox = await get('/petstore/v1/pets', {
        apikey: await t.apiKey('prodonly-app', { keyType: 'SANDBOX' }),
      });
      expect(sandbox.allowed).toBe(true);
      expect(sandbox.headers['x-mesh-apim-key-type']).toBe('SANDBOX');
    });

    it.each(['onhold-app', 'rejected-app'])('401 900909 for %s', async (app) => {
      const res = await get('/petstore/v1/pets', { apikey: await t.apiKey(app) });
      expect(res.httpStatus).toBe(401);
      expect(res.body).toMatchObject({ code: '900909', message: 'The subscription to the API is inactive' });
    });

    it('TIER_UPDATE_PENDING keeps working on the current tier', async () => {
      expect((await get('/petstore/v1/pets', { apikey: await t.apiKey('pending-app') })).allowed).toBe(true);
    });

    it('an API trusting the subscribedAPIs claim accepts the claim; others do not', async () => {
      const sk = t.adapter.signingKey!;
      const claim = {
        name: 'trusted',
        context: '/trusted/v1',
        version: 'v1',
        publisher: 'admin',
        subscriptionTier: 'Silver',
        subscriberTenantDomain: 'carbon.super',
      };
      const token = await signRs256(
        sk.privateKey,
        sk.kid,
        wso2Claims(t.clock.now(), {
          application: {
            id: 'claims-app',
            uuid: 'claims-app',
            name: 'claims-app',
            tier: 'Unlimited',
            owner: 'x',
          },
          subscribedAPIs: [claim, { ...claim, name: 'petstore', context: '/petstore/v1' }],
        }),
      );
      const trusted = await get('/trusted/v1/anything', { apikey: token });
      expect(trusted.allowed).toBe(true);
      expect(trusted.headers['x-mesh-apim-subscription-tier']).toBe('Silver');
      const notTrusted = await get('/petstore/v1/pets', { apikey: token });
      expect(notTrusted.body?.code).toBe('900908');
    });
  });

  describe('throttling', () => {
    const minute = () => {
      // Start each scenario at the beginning of a fresh minute window.
      t.clock.ms = (Math.floor(t.clock.ms / 60_000) + 1) * 60_000;
    };

    it('subscription level: 429 900804 with Retry-After and rate-limit headers', async () => {
      minute();
      const key = await t.apiKey('sublimit-app');
      for (let i = 0; i < 3; i++) {
        const ok = await get('/petstore/v1/pets', { apikey: key });
        expect(ok.allowed).toBe(true);
        expect(ok.responseHeadersToAdd['x-ratelimit-remaining']).toBe(String(2 - i));
      }
      t.clock.advance(15_000);
      const res = await get('/petstore/v1/pets', { apikey: key });
      expect(res.httpStatus).toBe(429);
      expect(res.body).toMatchObject({ code: '900804', message: 'Message throttled out' });
      expect(res.headers).toMatchObject({
        'retry-after': '45',
        'x-ratelimit-limit': '3',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': '45',
      });
      t.clock.advance(45_000);
      expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
    });

    it('stopOnQuotaReach false: allowed past the quota and marked', async () => {
      minute();
      const key = await t.apiKey('soft-app');
      for (let i = 0; i < 2; i++)
        expect(
          (await get('/petstore/v1/pets', { apikey: key })).headers['x-mesh-apim-over-quota'],
        ).toBeUndefined();
      const over = await get('/petstore/v1/pets', { apikey: key });
      expect(over.allowed).toBe(true);
      expect(over.headers['x-mesh-apim-over-quota']).toBe('true');
      const ctx = RequestContext.parse(over.requestContext);
      expect(ctx.decision).toMatchObject({ overQuota: true, reason: 'OVER_QUOTA' });
    });

    it('burst control (spike arrest): 429 900807 within the second, allowed the next second', async () => {
      minute();
      const key = await t.apiKey('burst-app');
      expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
      expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
      const res = await get('/petstore/v1/pets', { apikey: key });
      expect(res.httpStatus).toBe(429);
      expect(res.body?.code).toBe('900807');
      expect(res.headers['retry-after']).toBe('1');
      t.clock.advance(1000);
      expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
    });

    it('application level: 429 900803', async () => {
      minute();
      const key = await t.apiKey('applimit-app');
      for (let i = 0; i < 2; i++)
        expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
      const res = await get('/petstore/v1/pets', { apikey: key });
      expect(res.httpStatus).toBe(429);
      expect(res.body).toMatchObject({ code: '900803', message: 'Message throttled out' });
    });

    it('API level: 429 900800', async () => {
      minute();
      const key = await t.apiKey('demo-app');
      for (let i = 0; i < 2; i++) expect((await get('/tiny/v1/x', { apikey: key })).allowed).toBe(true);
      const res = await get('/tiny/v1/y', { apikey: key });
      expect(res.httpStatus).toBe(429);
      expect(res.body).toMatchObject({ code: '900800', message: 'Message throttled out' });
    });

    it('resource level: 429 900802, other resources unaffected', async () => {
      minute();
      const key = await t.apiKey('demo-app');
      for (let i = 0; i < 3; i++)
        expect((await get('/petstore/v1/limited', { apikey: key })).allowed).toBe(true);
      const res = await get('/petstore/v1/limited', { apikey: key });
      expect(res.httpStatus).toBe(429);
      expect(res.body).toMatchObject({ code: '900802', message: 'Message throttled out' });
      expect((await get('/petstore/v1/pets', { apikey: key })).allowed).toBe(true);
    });
  });
});
