import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory.ts';
import { createLogger } from '../../common/log.ts';
import { translateService } from '../../controller/annotations.ts';
import { type ControllerSettings, ServiceController } from '../../controller/controller.ts';
import { ClientNodeKubeApi } from '../../controller/kube.ts';
import { Reflector } from '../../controller/reflector.ts';
import { ServiceLifecycle as Schema, type ServiceLifecycle } from '../../events/service-lifecycle.ts';
import { TOPICS } from '../../events/topics.ts';
import { FakeKubeApi } from '../support/fakes/fake-kube-api.ts';

const settings: ControllerSettings = {
  cluster: 'test',
  topicPrefix: '',
  component: 'mesh-apim-controller',
  instance: 'test',
  endpointTemplate: 'http://{name}.{namespace}.svc.cluster.local:{port}',
  environments: ['Default'],
  tiers: ['Unlimited'],
  openapiPath: '/openapi.json',
  defaultVersion: 'v1',
};

const svc = (
  name: string,
  annotations: Record<string, string> = { 'mesh-apim.io/expose': 'true' },
  port = 8080,
) => ({
  metadata: { name, namespace: 'shop', annotations },
  spec: { ports: [{ name: 'http', port }] },
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('annotations', () => {
  it('defaults: name, v1, /<name>, /openapi.json from the service, the http port', () => {
    const t = translateService(svc('petstore'), settings);
    expect(t).toEqual({
      kind: 'exposed',
      api: {
        name: 'petstore',
        version: 'v1',
        context: '/petstore',
        endpoint: 'http://petstore.shop.svc.cluster.local:8080',
        openapi: { kind: 'service-path', path: '/openapi.json' },
        environments: ['Default'],
        tiers: ['Unlimited'],
      },
    });
  });

  it('reads every annotation of the set', () => {
    const t = translateService(
      {
        metadata: {
          name: 'orders',
          namespace: 'shop',
          annotations: {
            'mesh-apim.io/expose': 'true',
            'mesh-apim.io/api-name': 'Orders',
            'mesh-apim.io/api-version': '2.1.0',
            'mesh-apim.io/context': '/shop/orders',
            'mesh-apim.io/openapi': 'configmap:orders-api/openapi.yaml',
            'mesh-apim.io/port': 'grpc-web',
            'mesh-apim.io/environments': 'Default, Internal',
            'mesh-apim.io/tiers': 'Gold,Silver',
          },
        },
        spec: {
          ports: [
            { name: 'http', port: 80 },
            { name: 'grpc-web', port: 9000 },
          ],
        },
      },
      settings,
    );
    expect(t.kind === 'exposed' && t.api).toMatchObject({
      name: 'Orders',
      version: '2.1.0',
      context: '/shop/orders',
      endpoint: 'http://orders.shop.svc.cluster.local:9000',
      openapi: { kind: 'configmap', name: 'orders-api', key: 'openapi.yaml' },
      environments: ['Default', 'Internal'],
      tiers: ['Gold', 'Silver'],
    });
    const url = translateService(
      svc('a', { 'mesh-apim.io/expose': 'true', 'mesh-apim.io/openapi': 'https://specs.example/a.json' }),
      settings,
    );
    expect(url.kind === 'exposed' && url.api.openapi).toEqual({
      kind: 'url',
      url: 'https://specs.example/a.json',
    });
  });

  it('not exposed without the flag or with false; every problem listed when invalid', () => {
    expect(translateService(svc('a', {}), settings).kind).toBe('not-exposed');
    expect(translateService(svc('a', { 'mesh-apim.io/expose': 'false' }), settings).kind).toBe('not-exposed');
    const t = translateService(
      svc('a', {
        'mesh-apim.io/expose': 'yes please',
        'mesh-apim.io/context': 'no-slash',
        'mesh-apim.io/openapi': 'ftp://x',
        'mesh-apim.io/port': 'admin',
        'mesh-apim.io/tiers': ' , ',
      }),
      settings,
    );
    expect(t.kind).toBe('invalid');
    expect(t.kind === 'invalid' && t.errors).toHaveLength(5);
  });
});

describe('controller against a fake Kubernetes API server', () => {
  let kube: FakeKubeApi;
  let bus: MemoryBus;
  let controller: ServiceController;
  let reflector: Reflector;
  const topic = TOPICS.serviceLifecycle.name;
  const emitted = (): ServiceLifecycle[] =>
    bus.records(topic).map((r) => Schema.parse(JSON.parse(r.value!.toString())));

  async function startController(extra: Partial<{ resyncMs: number; namespace: string }> = {}) {
    const kc = new KubeConfig();
    kc.loadFromString(kube.kubeconfig());
    const api = new ClientNodeKubeApi(kc);
    const log = createLogger('controller-test');
    controller = new ServiceController(bus, api, settings, log);
    await controller.restore();
    reflector = new Reflector(api, controller, {
      namespace: extra.namespace ?? null,
      resyncMs: extra.resyncMs ?? 60_000,
      watchTimeoutSeconds: 300,
      backoffInitialMs: 10,
      backoffMaxMs: 100,
      pageSize: 2,
      log,
    });
    reflector.start();
    await reflector.synced;
    await until(() => kube.openWatches() === 1, 'the watch');
    await reflector.idle();
  }

  beforeEach(async () => {
    kube = new FakeKubeApi();
    await kube.start();
    bus = new MemoryBus();
  });
  afterEach(async () => {
    await reflector?.stop();
    await kube.stop();
  });

  it('lists (paginated) at start: one service-deployed per opted-in Service, keyed by namespace/name', async () => {
    const stored = kube.apply(svc('petstore'));
    kube.apply(svc('internal', {}));
    kube.apply(svc('orders'));
    await startController();
    const evs = emitted();
    expect(evs.map((e) => e.type)).toEqual(['service-deployed', 'service-deployed']);
    const pet = evs.find((e) => e.service.name === 'petstore')!;
    expect(pet.idempotencyKey).toBe(`${stored.metadata.uid}/${stored.metadata.resourceVersion}`);
    expect(pet.service).toMatchObject({ cluster: 'test', namespace: 'shop', uid: stored.metadata.uid });
    expect(
      bus
        .records(topic)
        .map((r) => r.key?.toString())
        .sort(),
    ).toEqual(['shop/orders', 'shop/petstore']);
    expect(kube.requests.filter((r) => r.path === '/api/v1/services' && !r.query.watch)).toHaveLength(2);
    const watch = kube.requests.find((r) => r.query.watch === 'true')!;
    expect(watch.query).toMatchObject({ resourceVersion: kube.resourceVersion, allowWatchBookmarks: 'true' });
  });

  it('watch: added, changed, unrelated change, resync, opt-out and delete', async () => {
    await startController();
    const a = kube.apply(svc('petstore'));
    await until(() => emitted().length === 1, 'deployed');
    // A change that does not touch the API (a label) and a resync emit nothing.
    kube.apply({
      ...svc('petstore'),
      metadata: { ...svc('petstore').metadata, labels: { team: 'x' } } as never,
    });
    reflector.resync();
    await sleep(50);
    await reflector.idle();
    expect(emitted()).toHaveLength(1);
    expect(controller.stats.unchanged).toBeGreaterThanOrEqual(2);
    // A changed port changes the endpoint: a new event with a new idempotency key.
    const b = kube.apply(svc('petstore', undefined, 9090));
    await until(() => emitted().length === 2, 'changed');
    const [first, second] = emitted();
    expect(first!.idempotencyKey).toBe(`${a.metadata.uid}/${a.metadata.resourceVersion}`);
    expect(second!.idempotencyKey).toBe(`${a.metadata.uid}/${b.metadata.resourceVersion}`);
    expect(second!.type === 'service-deployed' && second!.api.endpoint).toBe(
      'http://petstore.shop.svc.cluster.local:9090',
    );
    kube.apply(svc('petstore', { 'mesh-apim.io/expose': 'false' }));
    await until(() => emitted().length === 3, 'opt-out');
    expect(emitted()[2]!.type).toBe('service-deleted');
    kube.apply(svc('petstore'));
    await until(() => emitted().length === 4, 'opt-in again');
    kube.remove('shop', 'petstore');
    await until(() => emitted().length === 5, 'deleted');
    expect(emitted()[4]).toMatchObject({
      type: 'service-deleted',
      api: { name: 'petstore', version: 'v1', context: '/petstore' },
    });
    // Deleting a Service that never opted in emits nothing.
    kube.apply(svc('plain', {}));
    kube.remove('shop', 'plain');
    await sleep(50);
    await reflector.idle();
    expect(emitted()).toHaveLength(5);
  });

  it('watches one namespace when configured (namespaced list and watch paths)', async () => {
    kube.apply(svc('petstore'));
    kube.apply({ ...svc('elsewhere'), metadata: { ...svc('elsewhere').metadata, namespace: 'other' } });
    await startController({ namespace: 'shop' });
    kube.apply({ ...svc('late'), metadata: { ...svc('late').metadata, namespace: 'other' } });
    kube.apply(svc('late'));
    await until(() => emitted().length === 2, 'namespaced events');
    await sleep(30);
    expect(emitted().map((e) => `${e.service.namespace}/${e.service.name}`)).toEqual([
      'shop/petstore',
      'shop/late',
    ]);
    expect(new Set(kube.requests.map((r) => r.path))).toEqual(new Set(['/api/v1/namespaces/shop/services']));
  });

  it('a restart restores what was emitted from the stream: unchanged Services stay quiet, ones deleted meanwhile are deleted', async () => {
    kube.apply(svc('stays'));
    kube.apply(svc('goes'));
    await startController();
    expect(emitted()).toHaveLength(2);
    await reflector.stop();
    kube.remove('shop', 'goes');
    kube.apply(svc('arrives'));
    // Another cluster's event on the same stream: not ours to delete.
    const foreign = {
      ...emitted()[0]!,
      service: { ...emitted()[0]!.service, cluster: 'other', name: 'foreign' },
    };
    await bus.produce(topic, [{ key: 'shop/foreign', value: JSON.stringify(foreign) }]);
    await startController();
    await until(() => emitted().length === 5, 'events after restart');
    await sleep(30);
    await reflector.idle();
    expect(
      emitted()
        .slice(3)
        .map((e) => `${e.type} ${e.service.name}`)
        .sort(),
    ).toEqual(['service-deleted goes', 'service-deployed arrives']);
    expect(controller.stats.unchanged).toBeGreaterThanOrEqual(1);
  });

  it('a dropped watch resumes from the last resourceVersion (no relist, nothing missed)', async () => {
    await startController();
    kube.apply(svc('one'));
    await until(() => emitted().length === 1, 'one');
    kube.dropWatches();
    kube.apply(svc('two'));
    await until(() => emitted().length === 2, 'two after reconnect');
    expect(reflector.stats.lists).toBe(1);
    const watches = kube.requests.filter((r) => r.query.watch === 'true');
    expect(watches.length).toBeGreaterThanOrEqual(2);
    expect(Number(watches.at(-1)!.query.resourceVersion)).toBeLessThan(Number(kube.resourceVersion));
  });

  it('BOOKMARK events advance the resourceVersion without touching the cache', async () => {
    await startController();
    kube.apply(svc('plain', {}));
    await until(() => reflector.resourceVersion === kube.resourceVersion, 'event rv');
    kube.bookmark();
    await until(() => reflector.stats.bookmarks === 1, 'bookmark');
    expect(reflector.resourceVersion).toBe(kube.resourceVersion);
    expect(reflector.store.size).toBe(1);
  });

  for (const goneAs of ['event', 'status'] as const) {
    it(`410 Gone (${goneAs === 'event' ? 'ERROR event in the stream' : 'HTTP status'}) relists; Services deleted meanwhile are reported deleted`, async () => {
      kube.goneAs = goneAs;
      kube.apply(svc('keep'));
      kube.apply(svc('gone'));
      await startController();
      expect(emitted()).toHaveLength(2);
      kube.dropWatches();
      // While disconnected: one Service deleted, one added, and the history compacted away.
      kube.remove('shop', 'gone');
      kube.apply(svc('new'));
      kube.compact();
      await until(() => emitted().length === 4, 'relist results');
      expect(reflector.stats.expired).toBeGreaterThanOrEqual(1);
      expect(reflector.stats.lists).toBe(2);
      const tail = emitted().slice(2);
      expect(tail.map((e) => `${e.type} ${e.service.name}`).sort()).toEqual([
        'service-deleted gone',
        'service-deployed new',
      ]);
    });
  }

  it('list failures back off and retry until the API server answers', async () => {
    kube.failLists = 3;
    kube.apply(svc('petstore'));
    await startController();
    expect(emitted()).toHaveLength(1);
    expect(kube.requests.filter((r) => !r.query.watch && r.status === 500)).toHaveLength(3);
  });

  it('annotation errors: a Warning Event on the Service (once per version), nothing emitted', async () => {
    await startController();
    const bad = kube.apply(svc('bad', { 'mesh-apim.io/expose': 'true', 'mesh-apim.io/context': 'nope' }));
    await until(() => kube.events.length === 1, 'k8s event');
    reflector.resync();
    await sleep(50);
    await reflector.idle();
    expect(kube.events).toHaveLength(1);
    expect(kube.events[0]).toMatchObject({
      kind: 'Event',
      type: 'Warning',
      reason: 'InvalidApiAnnotations',
      involvedObject: { kind: 'Service', name: 'bad', namespace: 'shop', uid: bad.metadata.uid },
    });
    expect(String(kube.events[0]!.message)).toMatch(/mesh-apim.io\/context/);
    expect(emitted()).toHaveLength(0);
    // Fixed annotations publish the API.
    kube.apply(svc('bad'));
    await until(() => emitted().length === 1, 'fixed');
  });

  it('ConfigMap OpenAPI sources are inlined; a missing ConfigMap is reported and retried on resync', async () => {
    await startController();
    kube.apply(
      svc('orders', {
        'mesh-apim.io/expose': 'true',
        'mesh-apim.io/openapi': 'configmap:orders-api/openapi.json',
      }),
    );
    await until(() => kube.events.length === 1, 'missing configmap event');
    expect(String(kube.events[0]!.message)).toMatch(/orders-api.*not found/);
    kube.configMaps.set('shop/orders-api', { 'openapi.json': '{"openapi":"3.0.0","paths":{}}' });
    reflector.resync();
    await until(() => emitted().length === 1, 'deployed after configmap appeared');
    const ev = emitted()[0]!;
    expect(ev.type === 'service-deployed' && ev.api.openapi).toEqual({
      kind: 'inline',
      content: '{"openapi":"3.0.0","paths":{}}',
    });
  });

  it('a bus that is down: nothing recorded as emitted, retried with backoff until it is back', async () => {
    bus.failProduce = new Error('broker down');
    kube.apply(svc('petstore'));
    await startController();
    expect(emitted()).toHaveLength(0);
    bus.failProduce = null;
    await until(() => emitted().length === 1, 'emitted after recovery');
  });
});
