/**
 * WSO2 API Manager as the control plane, end to end: a real adapter (adapter.controlPlane: apim)
 * pulling from the fake API Manager, a separate fake key manager for opaque tokens, checks over
 * gRPC. The fake validates every internal data API request against the published spec.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { refreshControlPlane } from '../../../../adapter/controlplane/apim/source.ts';
import { startTestAdapter, type TestAdapter } from '../../../support/adapter.ts';
import { FakeApim, sampleApimData } from '../../../support/fakes/fake-apim-internal-data.ts';

let apim: FakeApim;
let km: FakeApim;
let dataDir: string;
const adapters: TestAdapter[] = [];

function overrides(extra: Record<string, unknown> = {}) {
  return {
    dataDir,
    'adapter.controlPlane': 'apim',
    'apim.url': apim.url,
    'apim.username': 'admin',
    'apim.password': 'admin',
    'apim.refreshIntervalMs': 3_600_000,
    'apim.requestTimeoutMs': 3_000,
    'oauth.introspectionUrl': `${km.url}/oauth2/introspect`,
    'oauth.introspectionClientId': km.introspectionClient.id,
    'oauth.introspectionClientSecret': km.introspectionClient.secret,
    ...extra,
  };
}

async function start(extra: Record<string, unknown> = {}): Promise<TestAdapter> {
  const t = await startTestAdapter({ overrides: overrides(extra) });
  adapters.push(t);
  return t;
}

function token(t: TestAdapter, consumerKey = 'demo-consumer-key'): string {
  const value = `tok-${consumerKey}-${Math.random().toString(36).slice(2)}`;
  km.tokens.set(value, {
    active: true,
    claims: { client_id: consumerKey, scope: 'default', exp: Math.floor(t.clock.now() / 1000) + 3600 },
  });
  return value;
}

const get = (t: TestAdapter, tok: string, path = '/petstore/v1/pets') =>
  t.client.check({ path, headers: { authorization: `Bearer ${tok}` } });

async function staleGauge(t: TestAdapter): Promise<number> {
  const metric = await t.adapter.metrics.registry.getSingleMetric('mesh_apim_snapshot_stale')!.get();
  return metric.values[0]!.value;
}

beforeAll(async () => {
  km = await new FakeApim().start();
});
afterAll(async () => {
  await km.close();
});
beforeEach(async () => {
  apim = await new FakeApim().start();
  dataDir = mkdtempSync(join(tmpdir(), 'mesh-apim-cp-'));
});
afterEach(async () => {
  for (const t of adapters.splice(0)) await t.close();
  expect(apim.violations).toEqual([]);
  await apim.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('API Manager control plane', () => {
  it('starts from API Manager, serves its data and keeps the pull on disk', async () => {
    const t = await start();
    expect(t.adapter.initialLoad.status).toBe('ok');
    expect(t.adapter.store.current()?.source).toBe('apim');
    const res = await get(t, token(t));
    expect(res.allowed).toBe(true);
    expect(res.headers).toMatchObject({
      'x-mesh-apim-api-id': 'a1b2c3d4-0000-4000-8000-000000000001',
      'x-mesh-apim-application-name': 'demo-app',
      'x-mesh-apim-subscription-tier': 'Gold',
    });
    const pulled = new Set(apim.requestsTo('/internal/data/v1').map((r) => new URL(r.url).pathname));
    expect(pulled.size).toBe(8);
    expect(existsSync(join(dataDir, 'snapshot', 'apim-data.json'))).toBe(true);
    expect(await staleGauge(t)).toBe(0);
    // Subscription state, scopes and the unsubscribed application come from API Manager's data.
    expect((await get(t, token(t, 'unsub-consumer-key'))).body?.code).toBe('900908');
    const post = await t.client.check({
      method: 'POST',
      path: '/petstore/v1/pets',
      headers: { authorization: `Bearer ${token(t)}` },
    });
    expect(post.body?.code).toBe('900910');
  });

  it('picks up changes between polls (on-demand refresh) and swaps atomically', async () => {
    const t = await start();
    const tok = token(t);
    expect((await get(t, tok)).allowed).toBe(true);
    apim.data.subscriptions[0]!.subscriptionState = 'BLOCKED';
    const result = await refreshControlPlane(t.adapter.store);
    expect(result.status).toBe('ok');
    expect((await get(t, tok)).body?.code).toBe('900907');
    apim.data.subscriptions[0]!.subscriptionState = 'UNBLOCKED';
    await refreshControlPlane(t.adapter.store);
    expect((await get(t, tok)).allowed).toBe(true);
    expect((await refreshControlPlane(t.adapter.store)).status).toBe('unchanged');
  });

  it.each([
    ['down', () => Object.assign(apim, { mode: 'down' })],
    ['slow', () => Object.assign(apim, { mode: 'slow', slowMs: 10_000 })],
    ['answering 500', () => Object.assign(apim, { mode: 'error' })],
    ['answering malformed JSON', () => Object.assign(apim, { mode: 'malformed' })],
    ['answering a partial list', () => Object.assign(apim, { pageSize: 1 })],
    ['answering a list missing required members', () => apim.data.subscriptions.push({ subscriptionId: 9 })],
  ])('API Manager %s: keeps serving the last good snapshot, flagged stale', async (_name, breakIt) => {
    const t = await start();
    const tok = token(t);
    const version = t.adapter.store.current()!.version;
    breakIt();
    const result = await refreshControlPlane(t.adapter.store);
    expect(result.status).toBe('failed');
    expect(t.adapter.store.current()!.version).toBe(version);
    expect((await get(t, tok)).allowed).toBe(true);
    expect(await staleGauge(t)).toBe(1);
    // Recovery clears the flag.
    apim.mode = 'ok';
    apim.pageSize = 0;
    apim.data = sampleApimData();
    expect((await refreshControlPlane(t.adapter.store)).status).toMatch(/ok|unchanged/);
    expect(await staleGauge(t)).toBe(0);
  });

  it('polls periodically: a change in API Manager reaches the adapter without a notification', async () => {
    const t = await start({ 'apim.refreshIntervalMs': 50 });
    const tok = token(t);
    expect((await get(t, tok)).allowed).toBe(true);
    apim.data.subscriptions[0]!.subscriptionState = 'ON_HOLD';
    // Wait for the next poll to land (bounded), then the decision must have changed.
    const version = t.adapter.store.current()!.version;
    for (let i = 0; i < 200 && t.adapter.store.current()!.version === version; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect((await get(t, tok)).body?.code).toBe('900909');
  });

  it('restart while API Manager is down: ready from the last good snapshot on disk, stale', async () => {
    const first = await start();
    await first.close();
    adapters.splice(0);
    apim.mode = 'down';
    const t = await start();
    expect(t.adapter.initialLoad.status).toBe('ok');
    expect(t.adapter.store.ready).toBe(true);
    expect(await staleGauge(t)).toBe(1);
    expect((await get(t, token(t))).allowed).toBe(true);
    apim.mode = 'ok';
    await refreshControlPlane(t.adapter.store);
    expect(await staleGauge(t)).toBe(0);
  });

  it('first start with API Manager down and nothing on disk: alive but not ready', async () => {
    apim.mode = 'down';
    const t = await start();
    expect(t.adapter.initialLoad.status).toBe('failed');
    expect(t.adapter.store.ready).toBe(false);
    apim.mode = 'ok';
    await refreshControlPlane(t.adapter.store);
    expect(t.adapter.store.ready).toBe(true);
  });

  it('entities referring outside the pull are left out, the rest is served', async () => {
    apim.data.subscriptions.push({
      subscriptionId: 7,
      policyId: 'NoSuchTier',
      apiId: 1,
      appId: 12,
      subscriptionState: 'UNBLOCKED',
    });
    apim.data.subscriptions.push({
      subscriptionId: 8,
      policyId: 'Gold',
      apiId: 99,
      appId: 12,
      subscriptionState: 'UNBLOCKED',
    });
    const t = await start();
    expect(t.adapter.initialLoad.status).toBe('ok');
    expect((await get(t, token(t))).allowed).toBe(true);
    expect((await get(t, token(t, 'unsub-consumer-key'))).body?.code).toBe('900908');
  });
});
