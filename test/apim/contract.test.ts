/**
 * The internal data API pull against WSO2's published spec (../shared/contracts/wso2/
 * internal-data-api-v1.yaml): the client sends what WSO2's own gateway sends (carbon-apimgt
 * SubscriptionDataLoaderImpl.loadAllApis: GET /apis, plus the gateway label when one is set), and
 * the spec's /apis answer carries each API's urlMappings, which reach the snapshot as resources.
 */
import { describe, expect, it } from 'vitest';
import { mapApimData } from '../../adapter/controlplane/apim/mapping.ts';
import { compileSnapshot } from '../../adapter/snapshot/compile.ts';
import { InternalDataClient } from '../../apim/internal-data-client.ts';
import { declaredQueryParameters, validateResponse } from '../support/wso2-contract.ts';

/** An /apis answer as API Manager 4.x returns it (SubscriptionValidationDAO: urlMappings per API). */
const APIS_BODY = {
  count: 1,
  list: [
    {
      uuid: 'a1b2c3d4-0000-4000-8000-000000000001',
      apiId: 7,
      provider: 'admin',
      name: 'PetStore',
      version: '1.0.0',
      context: '/petstore/1.0.0',
      policy: 'Unlimited',
      apiType: 'HTTP',
      status: 'PUBLISHED',
      isDefaultVersion: true,
      urlMappings: [
        {
          authScheme: 'Any',
          throttlingPolicy: 'Unlimited',
          httpMethod: 'GET',
          urlPattern: '/pets',
          scopes: [],
        },
        {
          authScheme: 'Any',
          throttlingPolicy: 'Unlimited',
          httpMethod: 'POST',
          urlPattern: '/pets',
          scopes: ['pets:write'],
        },
        {
          authScheme: 'None',
          throttlingPolicy: 'Unlimited',
          httpMethod: 'GET',
          urlPattern: '/health',
          scopes: [],
        },
      ],
    },
  ],
  pagination: { offset: 0, limit: 1, total: 1 },
};

const EMPTY_LIST = { count: 0, list: [] };

function stubHttp(requested: string[]) {
  return {
    get: async (url: string) => {
      requested.push(url);
      const path = new URL(url).pathname.replace(/^\/internal\/data\/v1/, '');
      const body = path === '/apis' ? APIS_BODY : path === '/revokedjwt' ? {} : EMPTY_LIST;
      return { status: 200, data: JSON.stringify(body) };
    },
  } as never;
}

describe('internal data API contract', () => {
  it('the spec declares urlMappings in the /apis answer: a spec-valid answer with them validates', async () => {
    const ok = await validateResponse('internal-data', 'GET', '/apis', 200, APIS_BODY);
    expect(ok.errors).toEqual([]);
    // The schema does type the mappings: a wrong shape is rejected, so the check above means something.
    const bad = await validateResponse('internal-data', 'GET', '/apis', 200, {
      list: [{ ...APIS_BODY.list[0], urlMappings: [{ httpMethod: 7, scopes: 'x' }] }],
    });
    expect(bad.valid).toBe(false);
  });

  it('GET /apis carries only parameters the spec declares, and every one WSO2 gateways use', async () => {
    const declared = await declaredQueryParameters('internal-data', 'GET', '/apis');
    expect(declared).toContain('gatewayLabel');
    const requested: string[] = [];
    const opts = {
      url: 'https://apim:9443',
      username: 'u',
      password: 'p',
      tenant: 'carbon.super',
      timeoutMs: 1000,
    };
    await new InternalDataClient({ ...opts, gatewayLabel: 'Default', http: stubHttp(requested) }).fetchAll();
    const apis = requested.map((u) => new URL(u)).find((u) => u.pathname.endsWith('/apis'))!;
    for (const k of apis.searchParams.keys()) expect(declared).toContain(k);
    expect(apis.searchParams.get('gatewayLabel')).toBe('Default');
    // `expand` (newer gateways ask for the full API) is sent exactly when the spec offers it.
    expect(apis.searchParams.get('expand')).toBe(declared.includes('expand') ? 'true' : null);
  });

  it('the URL mappings of the pull arrive in the snapshot as resources (method, template, scopes, auth)', async () => {
    const requested: string[] = [];
    const opts = {
      url: 'https://apim:9443',
      username: 'u',
      password: 'p',
      tenant: 'carbon.super',
      timeoutMs: 1000,
    };
    const pull = await new InternalDataClient({ ...opts, http: stubHttp(requested) }).fetchAll();
    expect(pull.apis[0]!.urlMappings).toHaveLength(3);
    const snap = compileSnapshot(mapApimData(pull).data, { source: 'apim', applicationNamesAreKeys: false });
    const api = snap.apis.get('a1b2c3d4-0000-4000-8000-000000000001')!;
    expect(api.versionedContext).toBe('/petstore/1.0.0');
    expect(
      api.resources
        .map((r) => [r.method, r.template, [...r.scopes], r.auth])
        .sort((a, b) => String(a).localeCompare(String(b))),
    ).toEqual([
      ['GET', '/health', [], 'none'],
      ['GET', '/pets', [], 'required'],
      ['POST', '/pets', ['pets:write'], 'required'],
    ]);
  });
});
