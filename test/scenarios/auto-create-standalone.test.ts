/**
 * End to end in standalone mode, all in this process on loopback: a Service annotated in the fake
 * Kubernetes API server -> controller (client-node list/watch) -> service-deployed on the embedded
 * bus -> local runner -> api-auto-creator (OpenAPI fetched from the Service) -> fragment file ->
 * adapter reloads without restart -> ext_authz Check with an API key is allowed. Deleting the
 * Service removes the API and the same check is denied. The latency from the watch event to the
 * first allowed check is measured and printed (not asserted).
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../bus/index.ts';
import type { Bus } from '../../bus/types.ts';
import { loadConfig } from '../../common/config/index.ts';
import { ClientNodeKubeApi } from '../../controller/kube.ts';
import { type ControllerHandle, startController } from '../../controller/main.ts';
import { type RunningFunctions, startFunctions } from '../../functions/runner/index.ts';
import { ManualClock, startTestAdapter, type TestAdapter } from '../support/adapter.ts';
import type { CheckResult } from '../support/check-client.ts';
import { FakeKubeApi } from '../support/fakes/fake-kube-api.ts';

const STANDALONE = `
apis: []
applications:
  - { name: e2e-app, owner: e2e, tier: Unlimited }
`;

const OPENAPI = JSON.stringify({
  openapi: '3.0.3',
  info: { title: 'inventory', version: '1' },
  paths: { '/items': { get: { responses: { '200': { description: 'ok' } } } } },
});

async function until<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await sleep(5);
  }
}

describe('service annotation -> API served by the adapter (standalone, no restart)', () => {
  let kube: FakeKubeApi;
  let service: Server;
  let t: TestAdapter;
  let bus: Bus;
  let functions: RunningFunctions;
  let controller: ControllerHandle;
  let servicePort: number;

  beforeAll(async () => {
    kube = new FakeKubeApi();
    await kube.start();
    service = createServer((req, res) => {
      if (req.url === '/openapi.json')
        res.writeHead(200, { 'content-type': 'application/json' }).end(OPENAPI);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    servicePort = (service.address() as AddressInfo).port;

    t = await startTestAdapter({ yaml: STANDALONE, clock: new ManualClock(Date.now()) });
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: join(t.dir, 'data'),
        'adapter.standaloneFile': t.standaloneFile,
        'functions.batchWindowMs': 5,
        'autoCreator.standaloneSubscribers': ['e2e-app'],
        // The "in-mesh" address of the Service is its loopback listener here.
        'controller.endpointTemplate': 'http://127.0.0.1:{port}',
        'controller.cluster': 'e2e',
        'controller.backoffInitialMs': 10,
      },
    });
    bus = createBus(config);
    functions = await startFunctions(config, bus, { only: ['api-auto-creator'] });
    const kc = new KubeConfig();
    kc.loadFromString(kube.kubeconfig());
    controller = await startController(config, { bus, kube: new ClientNodeKubeApi(kc) });
    await controller.reflector.synced;
  });

  afterAll(async () => {
    await controller?.stop();
    await functions?.stop();
    await bus?.close();
    await t?.close();
    await kube?.stop();
    service?.closeAllConnections();
    await new Promise<void>((r) => service.close(() => r()));
  });

  it('is allowed once the Service appears, denied once it is deleted', async () => {
    const key = await t.apiKey('e2e-app');
    const check = (): Promise<CheckResult> =>
      t.client.check({ path: '/inventory/v1/items', headers: { apikey: key } });
    const before = await check();
    expect(before.allowed).toBe(false);
    expect(before.httpStatus).toBe(403); // 900906: WSO2 answers 403

    await until(
      async () => kube.openWatches(),
      (n) => n === 1,
      'the controller watch',
    );
    let emittedAt = 0;
    let fragmentAt = 0;
    controller.controller.onEmit = () => {
      emittedAt ||= performance.now();
    };
    const fragment = join(t.fragmentsDir, 'svc.e2e.shop.inventory.yaml');
    const started = performance.now();
    kube.apply({
      metadata: { name: 'inventory', namespace: 'shop', annotations: { 'mesh-apim.io/expose': 'true' } },
      spec: { ports: [{ name: 'http', port: servicePort }] },
    });
    const allowed = await until(
      async () => {
        if (!fragmentAt && existsSync(fragment)) fragmentAt = performance.now();
        return check();
      },
      (r) => r.allowed,
      'an allowed check',
    );
    const latencyMs = performance.now() - started;
    expect(allowed.httpStatus).toBe(200);
    // Measured, not asserted (GUIDE: no timed assertions).
    console.log(
      `[measure] watch event -> first allowed check: ${latencyMs.toFixed(1)} ms ` +
        `(event on the bus at ${(emittedAt - started).toFixed(1)} ms, fragment seen at ${(fragmentAt - started).toFixed(1)} ms)`,
    );

    // The path not in the OpenAPI document is not a resource of the API.
    const other = await t.client.check({ path: '/inventory/v1/admin', headers: { apikey: key } });
    expect(other.allowed).toBe(false);

    const deletedAt = performance.now();
    kube.remove('shop', 'inventory');
    const denied = await until(check, (r) => !r.allowed, 'a denied check');
    console.log(
      `[measure] delete watch event -> first denied check: ${(performance.now() - deletedAt).toFixed(1)} ms`,
    );
    expect(denied.httpStatus).toBe(403); // 900906: WSO2 answers 403
    expect(controller.controller.stats).toMatchObject({ deployed: 1, deleted: 1 });
  });
});
