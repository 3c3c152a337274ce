/** Request-attributes events for the functions' tests, one builder per case they provoke. */
import type { RequestAttributes } from '../../events/request-attributes.ts';

type Overrides = Partial<Omit<RequestAttributes, 'decision'>> & {
  decision?: Partial<RequestAttributes['decision']>;
};

export function requestAttributes(o: Overrides = {}): RequestAttributes {
  const { decision, ...rest } = o;
  const requestId = rest.requestId ?? 'req-0001';
  return {
    type: 'request-attributes',
    schemaVersion: 1,
    eventId: `ev-${requestId}`,
    occurredAt: '2026-11-26T04:00:00.120Z',
    source: 'access-log',
    requestId,
    receivedAt: '2026-11-26T04:00:00.000Z',
    api: {
      id: '6e8b1c2a-0000-4000-8000-000000000001',
      name: 'PetStore',
      version: '1.0.0',
      context: '/petstore/1.0.0',
      creator: 'admin',
      creatorTenantDomain: 'carbon.super',
      type: 'HTTP',
    },
    resource: { template: '/pets/{petId}', method: 'GET' },
    application: { id: 'app-uuid-1', name: 'ShopApp', owner: 'alice', tier: 'Unlimited' },
    subscriptionTier: 'Gold',
    keyType: 'PRODUCTION',
    credentialType: 'apikey',
    userName: 'alice@carbon.super',
    decision: {
      kind: 'allow',
      httpStatus: 200,
      code: null,
      reason: 'OK',
      throttleKey: null,
      overQuota: false,
      ...decision,
    },
    client: {
      ip: '10.1.2.3',
      userAgent:
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
      referer: null,
    },
    request: { method: 'GET', host: 'api.example.com', path: '/petstore/1.0.0/pets/42' },
    adapterInstance: 'adapter-0',
    response: {
      status: 200,
      latencyMs: 35,
      backendLatencyMs: 30,
      requestBytes: 0,
      responseBytes: 512,
      upstreamHost: 'petstore.shop.svc.cluster.local:8080',
    },
    ...rest,
  };
}
