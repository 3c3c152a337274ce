import { beforeEach, describe, expect, it } from 'vitest';
import { ApimError } from '../../../apim/errors.ts';
import { PublisherClient } from '../../../apim/publisher-client.ts';
import type { ServiceDeleted, ServiceDeployed } from '../../../events/service-lifecycle.ts';
import { ApimTarget, type ApimTargetOptions } from '../../../functions/api-auto-creator/apim-target.ts';
import { processLifecycleEvent } from '../../../functions/api-auto-creator/core.ts';
import { contractCheckedPublisherPerTest, type FakeApim } from '../../support/fakes/fake-apim-publisher.ts';

// What the client used to assume when not told (the values of apim.requestTimeoutMs / autoCreator.*).
const CLIENT_SETTINGS = {
  clientName: 'mesh-apim-api-auto-creator',
  timeoutMs: 10_000,
  maxAttempts: 4,
  retryBaseMs: 200,
};

const petstore = (extraPath = false) =>
  JSON.stringify({
    openapi: '3.0.3',
    info: { title: 'petstore', version: '1.0.0' },
    paths: {
      '/pets': { get: { responses: { '200': { description: 'ok' } } } },
      ...(extraPath ? { '/pets/{id}': { get: { responses: { '200': { description: 'ok' } } } } } : {}),
    },
  });

function deployed(over: Partial<ServiceDeployed['api']> = {}, rv = '100'): ServiceDeployed {
  return {
    type: 'service-deployed',
    schemaVersion: 1,
    eventId: `evt-${rv}`,
    occurredAt: '2026-11-26T04:00:00.000Z',
    idempotencyKey: `uid-1/${rv}`,
    service: {
      cluster: 'test',
      namespace: 'shop',
      name: 'petstore',
      uid: 'uid-1',
      resourceVersion: rv,
      generation: null,
    },
    api: {
      name: 'petstore',
      version: 'v1',
      context: '/petstore',
      endpoint: 'http://petstore.shop.svc.cluster.local:8080',
      openapi: { kind: 'inline', content: petstore() },
      environments: ['Default'],
      tiers: ['Unlimited'],
      ...over,
    },
  };
}

const deleted: ServiceDeleted = {
  type: 'service-deleted',
  schemaVersion: 1,
  eventId: 'evt-del',
  occurredAt: '2026-11-26T04:10:00.000Z',
  idempotencyKey: 'uid-1/deleted',
  service: {
    cluster: 'test',
    namespace: 'shop',
    name: 'petstore',
    uid: 'uid-1',
    resourceVersion: '200',
    generation: null,
  },
  api: { name: 'petstore', version: 'v1', context: '/petstore' },
};

describe('api-auto-creator against a fake WSO2 API Manager', () => {
  let apim: FakeApim;
  let client: PublisherClient;
  const options: ApimTargetOptions = {
    vhost: 'localhost',
    displayOnDevportal: true,
    maxRevisions: 5,
    onDelete: 'undeploy',
  };
  const run = (ev: ServiceDeployed | ServiceDeleted, opts: Partial<ApimTargetOptions> = {}) =>
    processLifecycleEvent(ev, {
      target: new ApimTarget(client, { ...options, ...opts }),
      openapi: { timeoutMs: 2000, maxBytes: 1 << 20 },
    });

  contractCheckedPublisherPerTest((a) => {
    apim = a;
  });
  beforeEach(() => {
    client = new PublisherClient({
      ...CLIENT_SETTINGS,
      baseUrl: apim.url,
      username: 'admin',
      password: 'admin',
      retryBaseMs: 5,
      maxAttempts: 4,
    });
  });

  it('first deployment: imports, creates a revision, deploys it (201 accepted) and publishes', async () => {
    const out = await run(deployed());
    expect(out.action).toBe('created');
    expect(apim.mutations()).toEqual([
      'POST /apis/import-openapi',
      expect.stringMatching(/^POST \/apis\/[^/]+\/revisions$/),
      expect.stringMatching(/^POST \/apis\/[^/]+\/deploy-revision$/),
      'POST /apis/change-lifecycle',
    ]);
    const [api] = [...apim.apis.values()];
    expect(api).toMatchObject({
      name: 'petstore',
      version: 'v1',
      context: '/petstore',
      lifeCycleStatus: 'PUBLISHED',
    });
    expect(api!.endpointConfig).toMatchObject({
      production_endpoints: { url: 'http://petstore.shop.svc.cluster.local:8080' },
    });
    expect(api!.revisions).toHaveLength(1);
    expect(api!.revisions[0]!.deploymentInfo.map((d) => d.name)).toEqual(['Default']);
    // API Manager would enable OAuth2 only (the fake keeps its default): the import enables API keys
    // and names their header, so Developer Portal keys for the API work at the mesh.
    expect(api!.securityScheme).toEqual(['oauth2', 'api_key', 'oauth_basic_auth_api_key_mandatory']);
    expect(api!.apiKeyHeader).toBe('apikey');
    expect(client.stats.registrations).toBe(1);
    expect(client.stats.tokens).toBe(1);
  });

  it('accepts 200 from deploy-revision as well', async () => {
    apim.deployStatus = 200;
    await run(deployed());
    expect([...apim.apis.values()][0]!.revisions[0]!.deploymentInfo).toHaveLength(1);
  });

  it('unchanged redelivery makes no state-changing call and creates nothing twice', async () => {
    await run(deployed());
    apim.clearLog();
    const out = await run(deployed());
    expect(out.action).toBe('unchanged');
    expect(apim.mutations()).toEqual([]);
    expect(apim.apis.size).toBe(1);
    expect([...apim.apis.values()][0]!.revisions).toHaveLength(1);
  });

  it('finds the API by exact name and version although the search matches substrings', async () => {
    await run(deployed({ name: 'petstore-admin', context: '/petstore-admin' }));
    const out = await run(deployed());
    expect(out.action).toBe('created');
    expect(apim.apis.size).toBe(2);
  });

  it('changed OpenAPI: updates the definition and deploys a new revision, without re-publishing', async () => {
    await run(deployed());
    apim.clearLog();
    const out = await run(deployed({ openapi: { kind: 'inline', content: petstore(true) } }, '101'));
    expect(out.action).toBe('updated');
    expect(apim.mutations()).toEqual([
      expect.stringMatching(/^PUT \/apis\/[^/]+\/swagger$/),
      expect.stringMatching(/^POST \/apis\/[^/]+\/revisions$/),
      expect.stringMatching(/^POST \/apis\/[^/]+\/deploy-revision$/),
    ]);
    const api = [...apim.apis.values()][0]!;
    expect(api.definition).toContain('/pets/{id}');
    expect(api.revisions).toHaveLength(2);
    expect(api.revisions[0]!.deploymentInfo).toEqual([]);
    expect(api.revisions[1]!.deploymentInfo.map((d) => d.name)).toEqual(['Default']);
  });

  it('changed endpoint: updates the API settings (not the definition) and deploys a new revision', async () => {
    await run(deployed());
    apim.clearLog();
    await run(deployed({ endpoint: 'http://petstore.shop.svc.cluster.local:9090' }, '102'));
    expect(apim.mutations()[0]).toMatch(/^PUT \/apis\/[^/]+$/);
    expect([...apim.apis.values()][0]!.endpointConfig).toMatchObject({
      production_endpoints: { url: 'http://petstore.shop.svc.cluster.local:9090' },
    });
  });

  it('revision limit: deletes the oldest undeployed revision first', async () => {
    apim.maxRevisions = 3;
    // The configured limit is higher than the server's: the server's 902010 answer drives the deletion.
    for (let i = 0; i < 3; i++)
      await run(
        deployed(
          { openapi: { kind: 'inline', content: petstore(i % 2 === 1) }, tiers: [`T${i}`] },
          String(i),
        ),
      );
    const api = [...apim.apis.values()][0]!;
    expect(api.revisions.map((r) => r.displayName)).toEqual(['Revision 1', 'Revision 2', 'Revision 3']);
    apim.clearLog();
    const out = await run(deployed({ tiers: ['Gold'] }, '9'));
    expect(out.action).toBe('updated');
    expect(api.revisions.map((r) => r.displayName)).toEqual(['Revision 2', 'Revision 3', 'Revision 4']);
    expect(apim.log.some((l) => l.status === 400 && l.path.endsWith('/revisions'))).toBe(true);
    expect(apim.mutations()).toContainEqual(
      expect.stringMatching(/^DELETE \/apis\/[^/]+\/revisions\/[^/]+$/),
    );
    // With the limit known, the deletion happens before the create (no failed call).
    apim.clearLog();
    await run(deployed({ tiers: ['Silver'] }, '10'), { maxRevisions: 3 });
    expect(apim.log.filter((l) => l.status >= 400)).toEqual([]);
    expect(api.revisions.map((r) => r.displayName)).toEqual(['Revision 3', 'Revision 4', 'Revision 5']);
  });

  it('APIM 500 then success: retried with backoff, nothing created twice', async () => {
    apim.fail('POST', /\/import-openapi$/, 500, 2);
    apim.fail('POST', /\/deploy-revision$/, 503, 1);
    const out = await run(deployed());
    expect(out.action).toBe('created');
    expect(apim.apis.size).toBe(1);
    expect(client.stats.retries).toBe(3);
    expect([...apim.apis.values()][0]!.lifeCycleStatus).toBe('PUBLISHED');
  });

  it('a timed-out import that APIM completed anyway: the retry gets 409, finds the API, creates nothing twice', async () => {
    client = new PublisherClient({
      ...CLIENT_SETTINGS,
      baseUrl: apim.url,
      username: 'admin',
      password: 'admin',
      retryBaseMs: 5,
      timeoutMs: 200,
    });
    apim.stall('POST', /\/import-openapi$/, 600);
    const out = await run(deployed());
    expect(out.action).toBe('created');
    expect(apim.apis.size).toBe(1);
    expect(apim.log.filter((l) => l.path.includes('import-openapi')).map((l) => l.status)).toContain(409);
    expect([...apim.apis.values()][0]!.lifeCycleStatus).toBe('PUBLISHED');
  });

  it('APIM 500 that outlasts the retries surfaces as retriable (the invocation fails and is redelivered)', async () => {
    apim.fail('GET', /\/apis$/, 500, 10);
    const err = await run(deployed()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApimError);
    expect((err as ApimError).retriable).toBe(true);
  });

  it('APIM 400 is not retried and carries the API Manager error body (for the dead letter)', async () => {
    const body = { code: 900700, message: 'Invalid context', description: 'context must not contain spaces' };
    apim.fail('POST', /\/import-openapi$/, 400, 1, body);
    const err = await run(deployed()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApimError);
    expect((err as ApimError).retriable).toBe(false);
    expect((err as ApimError).body).toEqual(body);
    expect(apim.log.filter((l) => l.path.includes('import-openapi'))).toHaveLength(1);
  });

  it('token expiry mid-sequence: the 401 fetches a new token and the call is repeated once', async () => {
    // The token dies between the import and the revision of one deployment.
    apim.expireTokensAt('POST', /\/revisions$/);
    const out = await run(deployed());
    expect(out.action).toBe('created');
    expect(client.stats.tokens).toBe(2);
    expect(client.stats.registrations).toBe(1);
    expect(apim.log.filter((l) => l.status === 401).map((l) => l.method)).toEqual(['POST']);
    const api = [...apim.apis.values()][0]!;
    expect(api.revisions).toHaveLength(1);
    expect(api.lifeCycleStatus).toBe('PUBLISHED');
    // And between events: the next one refreshes too.
    apim.expireTokens();
    expect(
      (await run(deployed({ openapi: { kind: 'inline', content: petstore(true) } }, '103'))).action,
    ).toBe('updated');
    expect(client.stats.tokens).toBe(3);
  });

  it('token expiry by clock: a token past its lifetime is renewed before use', async () => {
    apim.tokenTtlSeconds = 1;
    let now = Date.now();
    client = new PublisherClient({
      ...CLIENT_SETTINGS,
      baseUrl: apim.url,
      username: 'admin',
      password: 'admin',
      now: () => now,
    });
    await run(deployed());
    now += 5_000;
    await run(deployed());
    expect(client.stats.tokens).toBe(2);
    expect(apim.log.filter((l) => l.status === 401)).toHaveLength(0);
  });

  it('service-deleted undeploys; redelivery changes nothing; delete mode removes the API', async () => {
    await run(deployed());
    apim.clearLog();
    expect((await run(deleted)).action).toBe('undeployed');
    expect(apim.mutations()).toEqual([expect.stringMatching(/^POST \/apis\/[^/]+\/undeploy-revision$/)]);
    expect([...apim.apis.values()][0]!.revisions[0]!.deploymentInfo).toEqual([]);
    apim.clearLog();
    await run(deleted);
    expect(apim.mutations()).toEqual([]);
    expect((await run(deleted, { onDelete: 'delete' })).action).toBe('deleted');
    expect(apim.apis.size).toBe(0);
    expect((await run(deleted, { onDelete: 'delete' })).action).toBe('absent');
  });

  it('the fake rejects requests that violate the Publisher contract (the check is live)', async () => {
    const err = await client
      .call('bad lifecycle', 'POST', '/apis/change-lifecycle', { params: { apiId: 'x', action: 'Explode' } })
      .catch((e: unknown) => e);
    expect((err as ApimError).status).toBe(400);
    expect(apim.violations).toHaveLength(1);
    expect(apim.violations[0]).toMatch(/action/);
    apim.violations.length = 0;
  });

  it('service-deleted in retire mode deprecates then retires', async () => {
    await run(deployed());
    expect((await run(deleted, { onDelete: 'retire' })).action).toBe('retired');
    expect([...apim.apis.values()][0]!.lifeCycleStatus).toBe('RETIRED');
  });
});
