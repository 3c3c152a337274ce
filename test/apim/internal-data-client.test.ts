import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApimResponseError, ApimUnavailableError } from '../../apim/errors.ts';
import { InternalDataClient } from '../../apim/internal-data-client.ts';
import { FakeApim } from '../support/fakes/fake-apim-internal-data.ts';

let fake: FakeApim;
beforeEach(async () => {
  fake = await new FakeApim().start();
});
afterEach(() => fake.close());

function client(overrides: Partial<ConstructorParameters<typeof InternalDataClient>[0]> = {}) {
  return new InternalDataClient({
    url: fake.url,
    username: 'admin',
    password: 'admin',
    tenant: 'carbon.super',
    timeoutMs: 2_000,
    ...overrides,
  });
}

describe('InternalDataClient', () => {
  it('reads every collection with spec-valid requests and parses the spec shapes', async () => {
    const data = await client({ gatewayLabel: 'Default' }).fetchAll();
    expect(fake.violations).toEqual([]);
    const paths = fake
      .requestsTo('/internal/data/v1')
      .map((r) => new URL(r.url).pathname)
      .sort();
    expect(paths).toEqual(
      [
        'apis',
        'api-policies',
        'application-key-mappings',
        'application-policies',
        'applications',
        'revokedjwt',
        'subscription-policies',
        'subscriptions',
      ]
        .map((p) => `/internal/data/v1/${p}`)
        .sort(),
    );
    for (const r of fake.requestsTo('/internal/data/v1')) {
      expect(r.headers.xwso2tenant).toBe('carbon.super');
      expect(r.headers.authorization).toBe(`Basic ${Buffer.from('admin:admin').toString('base64')}`);
    }
    expect(fake.requestsTo('/internal/data/v1/apis')[0]!.url).toContain('gatewayLabel=Default');
    expect(data.apis[0]).toMatchObject({ apiId: 1, context: '/petstore/v1', version: 'v1' });
    expect(data.subscriptions[0]).toMatchObject({ policyId: 'Gold', apiId: 1, appId: 10 });
    expect(data.subscriptionPolicies.find((p) => p.name === 'Bronze')).toMatchObject({
      rateLimitCount: 10,
      rateLimitTimeUnit: 'sec',
      defaultLimit: { requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 1000 } },
    });
    expect(data.keyMappings).toHaveLength(4);
  });

  it('the contract check catches a request the spec does not allow', async () => {
    // A client that omits the required xWSO2Tenant header must be caught by the fake's validator.
    const bad = new InternalDataClient({
      url: fake.url,
      username: 'admin',
      password: 'admin',
      tenant: '',
      timeoutMs: 2_000,
    });
    (bad as unknown as { headers: Record<string, string> }).headers.xWSO2Tenant =
      undefined as unknown as string;
    delete (bad as unknown as { headers: Record<string, string> }).headers.xWSO2Tenant;
    await expect(bad.fetchAll()).rejects.toThrow(ApimUnavailableError);
    expect(fake.violations.join('\n')).toMatch(/xwso2tenant/i);
  });

  it('refuses a partial list (the spec has no paging parameters to follow pagination.next)', async () => {
    fake.pageSize = 1;
    await expect(client().fetchAll()).rejects.toThrow(/partial list/);
    expect(fake.violations).toEqual([]);
  });

  it('rejects wrong credentials, 500s, malformed JSON and timeouts with typed, retriable errors', async () => {
    await expect(client({ password: 'wrong' }).fetchAll()).rejects.toThrow(/HTTP 401/);
    fake.mode = 'error';
    await expect(client().fetchAll()).rejects.toThrow(ApimUnavailableError);
    fake.mode = 'malformed';
    const err = await client()
      .fetchAll()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApimResponseError);
    expect((err as ApimResponseError).retriable).toBe(true);
    fake.mode = 'down';
    await expect(client().fetchAll()).rejects.toThrow(ApimUnavailableError);
    fake.mode = 'slow';
    fake.slowMs = 1_000;
    await expect(client({ timeoutMs: 50 }).fetchAll()).rejects.toThrow(/timeout/i);
  });

  it('rejects a response missing a member the adapter depends on', async () => {
    fake.data.subscriptions.push({ subscriptionId: 9, apiId: 1, appId: 12, subscriptionState: 'UNBLOCKED' });
    await expect(client().fetchAll()).rejects.toThrow(
      /subscriptions: unexpected response shape:[\s\S]*at list\[2\]\.policyId/,
    );
  });
});
