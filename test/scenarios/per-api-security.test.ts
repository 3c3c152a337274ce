/**
 * Per-API security as API Manager configures it (Publisher API v4 API: apiKeyHeader, securityScheme,
 * isDefaultVersion, context with {version}, production/sandbox endpoints), end to end over gRPC.
 * Keys are built as wso2/carbon-apimgt DefaultApiKeyGenerator builds them (test/support/wso2-apikey.ts);
 * header lookup follows ApiKeyAuthenticator (the API's securityParam header), schemes follow
 * APIAuthenticationHandler (only the enabled authenticators are engaged).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAdapter, type TestAdapter } from '../support/adapter.ts';
import { otherRsaKey } from '../support/keys.ts';
import { wso2ApiKey } from '../support/wso2-apikey.ts';

const FIXTURE = readFileSync(new URL('./fixtures/per-api-security.yaml', import.meta.url), 'utf8');

describe('per-API security', () => {
  let t: TestAdapter;
  beforeAll(async () => {
    t = await startTestAdapter({ yaml: FIXTURE });
  });
  afterAll(async () => {
    await t?.close();
  });
  const key = (extra: Partial<Parameters<typeof wso2ApiKey>[0]> = {}) =>
    wso2ApiKey({
      kid: t.adapter.signingKey!.kid,
      privateKey: t.adapter.signingKey!.privateKey,
      nowMs: t.clock.now(),
      application: { id: 1, uuid: 'demo-app', name: 'demo-app', tier: 'Unlimited', owner: 'admin' },
      ...extra,
    });
  const get = (path: string, headers: Record<string, string> = {}) => t.client.check({ path, headers });

  describe('apiKeyHeader', () => {
    it('the key is read from the API’s header (case-insensitive) and removed before the upstream', async () => {
      const res = await get('/custom/v1/x', { 'x-api-key': key() });
      expect(res.allowed).toBe(true);
      expect(res.headersToRemove).toContain('x-api-key');
    });

    it('the default `apikey` header is not a carrier for that API: 401 900902', async () => {
      const res = await get('/custom/v1/x', { apikey: key() });
      expect(res.httpStatus).toBe(401);
      expect(res.body?.code).toBe('900902');
      expect(res.body?.description).toContain("'x-api-key: API_KEY'");
    });

    it('forged keys in the custom header are still 401 900901', async () => {
      const res = await get('/custom/v1/x', { 'x-api-key': key({ privateKey: otherRsaKey() }) });
      expect(res.httpStatus).toBe(401);
      expect(res.body?.code).toBe('900901');
    });
  });

  describe('securityScheme', () => {
    it('an API without api_key does not accept a valid API key: 401 900902', async () => {
      const res = await get('/oauthonly/v1/x', { apikey: key() });
      expect(res.httpStatus).toBe(401);
      expect(res.body?.code).toBe('900902');
    });

    it('mutual TLS mandatory without a client certificate: 401 900911 (APISecurityConstants.MUTUAL_SSL_VALIDATION_FAILURE; test/scenarios/mtls.test.ts has the rest)', async () => {
      const res = await get('/mtls/v1/x', { apikey: key() });
      expect(res.httpStatus).toBe(401);
      expect(res.body?.code).toBe('900911');
    });
  });

  describe('isDefaultVersion and {version}', () => {
    it('unversioned calls reach the default version; versioned ones their own', async () => {
      const unversioned = await get('/shop/items', { apikey: key() });
      expect(unversioned.allowed).toBe(true);
      expect(unversioned.headers['x-mesh-apim-api-id']).toBe('shop-v2');
      expect((await get('/shop/v2only', { apikey: key() })).allowed).toBe(true);
      const v1 = await get('/shop/v1/items', { apikey: key() });
      expect(v1.headers['x-mesh-apim-api-id']).toBe('shop-v1');
      expect((await get('/shop/v1/v2only', { apikey: key() })).body?.code).toBe('900906');
    });

    it('a context with {version} resolves with the version in place, and unversioned as default', async () => {
      const versioned = await get('/v1/inventory/stock', { apikey: key() });
      expect(versioned.headers['x-mesh-apim-api-id']).toBe('inventory-v1');
      expect((await get('/inventory/stock', { apikey: key() })).headers['x-mesh-apim-api-id']).toBe(
        'inventory-v1',
      );
    });
  });

  describe('production and sandbox endpoints', () => {
    it('a sandbox key for an API with no sandbox endpoint is 401 900901; production is served', async () => {
      const sandbox = await get('/prodonly/v1/x', { apikey: key({ keyType: 'SANDBOX' }) });
      expect(sandbox.httpStatus).toBe(401);
      expect(sandbox.body?.code).toBe('900901');
      expect(sandbox.body?.description).toContain('no sandbox endpoint');
      expect((await get('/prodonly/v1/x', { apikey: key() })).allowed).toBe(true);
      expect((await get('/shop/v1/items', { apikey: key({ keyType: 'SANDBOX' }) })).allowed).toBe(true);
    });
  });
});
