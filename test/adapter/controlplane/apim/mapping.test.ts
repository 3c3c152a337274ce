import { describe, expect, it } from 'vitest';
import { baseContext, mapApimData, quotaOf } from '../../../../adapter/controlplane/apim/mapping.ts';
import { compileSnapshot } from '../../../../adapter/snapshot/compile.ts';
import { ApimData } from '../../../../apim/internal-data-types.ts';
import { sampleApimData } from '../../../support/fakes/fake-apim-internal-data.ts';

function pull(mutate: (d: ReturnType<typeof sampleApimData>) => void = () => {}) {
  const d = sampleApimData();
  mutate(d);
  return ApimData.parse(d);
}

describe('API Manager data -> control-plane model', () => {
  it('maps contexts, policies (limits, burst), subscriptions by policy name and key mappings', () => {
    const { data, skipped } = mapApimData(pull());
    expect(skipped).toEqual([]);
    const snapshot = compileSnapshot(data, { source: 'apim', applicationNamesAreKeys: false });
    const api = snapshot.apisByContext.get('/petstore/v1')!;
    expect(api.info.id).toBe('a1b2c3d4-0000-4000-8000-000000000001');
    expect(api.policy).toBe('50KPerMin');
    expect(api.resources.find((r) => r.method === 'POST')!.scopes).toEqual(['pets:write']);
    expect(snapshot.subscriptionPolicies.get('Bronze')).toEqual({
      name: 'Bronze',
      quota: { requestCount: 1000, windowMs: 60_000 },
      stopOnQuotaReach: true,
      burst: { limit: 10, windowMs: 1000 },
    });
    expect(snapshot.subscriptionPolicies.get('Gold')!.burst).toBeNull();
    expect(snapshot.subscriptionPolicies.get('Unlimited')!.quota.requestCount).toBeNull();
    expect(snapshot.applicationPolicies.get('10PerMin')!.quota).toEqual({
      requestCount: 10,
      windowMs: 60_000,
    });
    const sub = [...snapshot.subscriptions.values()].find((s) => s.applicationId === 'app-uuid-bronze')!;
    expect(sub).toMatchObject({ apiId: api.info.id, tier: 'Bronze', state: 'UNBLOCKED' });
    expect(snapshot.keyMappings.get('Resident Key Manager\u0000demo-sandbox-key')).toMatchObject({
      applicationId: 'app-uuid-demo',
      keyType: 'SANDBOX',
    });
  });

  it('applications with the same name (per-subscriber in WSO2) compile side by side', () => {
    const p = pull((d) => {
      d.applications.push({
        uuid: 'other-default',
        id: 20,
        name: 'demo-app',
        subName: 'bob',
        policy: 'Unlimited',
      });
    });
    const snapshot = compileSnapshot(mapApimData(p).data, { source: 'apim', applicationNamesAreKeys: false });
    expect(snapshot.applications.get('other-default')!.owner).toBe('bob');
    expect(snapshot.applications.get('app-uuid-demo')!.owner).toBe('admin');
  });

  it('leaves out what cannot be served and says why', () => {
    const p = pull((d) => {
      d.apis.push({
        apiId: 2,
        name: 'ws',
        version: 'v1',
        context: '/ws/v1',
        urlMappings: [{ httpMethod: 'SUBSCRIBE', urlPattern: '/*' }],
      });
      d.subscriptions.push({
        subscriptionId: 5,
        policyId: 'Platinum',
        apiId: 1,
        appId: 12,
        subscriptionState: 'UNBLOCKED',
      });
      d.subscriptions.push({
        subscriptionId: 6,
        policyId: 'Gold',
        apiId: 1,
        appId: 12,
        subscriptionState: 'WEIRD',
      });
    });
    const { data, skipped } = mapApimData(p);
    expect(data.apis).toHaveLength(1);
    expect(skipped.join('\n')).toMatch(/SUBSCRIBE/);
    expect(skipped.join('\n')).toMatch(/subscription 5: unknown subscription policy Platinum/);
    expect(skipped.join('\n')).toMatch(/subscription 6: unknown state WEIRD/);
  });

  it('per-API security from the pull: isDefaultVersion, securityScheme, apiKeyHeader (when API Manager sends them)', () => {
    const { data, skipped } = mapApimData(
      pull((d) => {
        const a = d.apis[0] as Record<string, unknown>;
        a.isDefaultVersion = true;
        a.securityScheme = ['oauth2', 'oauth_basic_auth_api_key_mandatory', 'some_future_scheme'];
        a.apiKeyHeader = 'X-Key';
      }),
    );
    expect(skipped).toEqual([expect.stringContaining('security scheme some_future_scheme not supported')]);
    const snapshot = compileSnapshot(data, { source: 'apim', applicationNamesAreKeys: false });
    const api = snapshot.apisByContext.get('/petstore/v1')!;
    expect(snapshot.apisByContext.get('/petstore')).toBe(api);
    expect([...api.securitySchemes]).toEqual(['oauth2', 'oauth_basic_auth_api_key_mandatory']);
    expect(api.apiKeyHeader).toBe('x-key');
    // Absent (the published spec lists neither): today's defaults, API keys in `apikey`.
    const plain = compileSnapshot(mapApimData(pull()).data, {
      source: 'apim',
      applicationNamesAreKeys: false,
    });
    const p = plain.apisByContext.get('/petstore/v1')!;
    expect([...p.securitySchemes]).toEqual(['oauth2', 'api_key']);
    expect(p.apiKeyHeader).toBe('apikey');
    expect(plain.apisByContext.get('/petstore')).toBeUndefined();
  });

  it('revoked JWT signatures become revoked token ids', () => {
    const p = pull((d) => {
      d.revoked = { revokedJWTList: [{ jwt_signature: 'sig-abc', expiry_time: Date.UTC(2031, 0, 1) }] };
    });
    const snapshot = compileSnapshot(mapApimData(p).data, { source: 'apim', applicationNamesAreKeys: false });
    expect(snapshot.revokedJtis.get('sig-abc')).toBe(Date.UTC(2031, 0, 1));
  });

  it('contexts and time units', () => {
    expect(baseContext('/petstore/v1', 'v1')).toBe('/petstore');
    expect(baseContext('/t/acme.com/petstore/1.0.0', '1.0.0')).toBe('/t/acme.com/petstore');
    expect(baseContext('/petstore/{version}', 'v1')).toBe('/petstore/{version}');
    const skipped: string[] = [];
    expect(
      quotaOf({ requestCount: { timeUnit: 'month', unitTime: 1, requestCount: 100 } }, 'p', skipped),
    ).toEqual({
      requestCount: 100,
      unitTime: 30,
      timeUnit: 'day',
    });
    expect(
      quotaOf({ bandwidth: { timeUnit: 'min', unitTime: 1, dataAmount: 1, dataUnit: 'MB' } }, 'bw', skipped),
    ).toEqual({
      requestCount: null,
      unitTime: 1,
      timeUnit: 'min',
    });
    expect(skipped).toEqual(['bw: only request-count limits are enforced']);
  });
});
