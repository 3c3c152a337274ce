/** Standalone control plane: main file + standalone.d fragments, reload good and bad, file watch. */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SHIPPED_STANDALONE, startTestAdapter, type TestAdapter } from '../../support/adapter.ts';

const ORDERS_FRAGMENT = `
apis:
  - id: orders-v2
    name: orders
    version: v2
    context: /orders
    resources:
      - { method: GET, path: /* }
subscriptions:
  - { application: demo-app, api: orders-v2, tier: Silver }
`;

async function metric(t: TestAdapter, pattern: RegExp): Promise<boolean> {
  const body = await (await fetch(`http://127.0.0.1:${t.adapter.adminPort}/metrics`)).text();
  return pattern.test(body);
}

describe('standalone source', () => {
  let t: TestAdapter | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('the shipped file has the demo API and applications', async () => {
    t = await startTestAdapter();
    const s = t.adapter.store.current()!;
    const api = s.apisByContext.get('/petstore/v1')!;
    expect(api.resources.map((r) => `${r.method} ${r.template}`).sort()).toEqual([
      'GET /pets',
      'GET /pets/{id}',
      'POST /pets',
    ]);
    expect([...new Set([...s.applications.values()].map((a) => a.name))].sort()).toEqual([
      'bronze-app',
      'demo-app',
      'unsubscribed-app',
    ]);
    expect(s.subscriptions.get(`demo-app\u0000${api.info.id}`)?.tier).toBe('Gold');
    expect(s.subscriptions.get(`bronze-app\u0000${api.info.id}`)?.tier).toBe('Bronze');
    const res = await t.client.check({
      path: '/petstore/v1/pets',
      headers: { apikey: await t.apiKey('unsubscribed-app') },
    });
    expect(res.body?.code).toBe('900908');
  });

  it('a bad edit keeps the last good snapshot and is reported with file, path and problem', async () => {
    t = await startTestAdapter();
    const before = t.adapter.store.current()!.version;
    const key = await t.apiKey('demo-app');
    const broken = readFileSync(SHIPPED_STANDALONE, 'utf8').replace('method: POST', 'method: FETCH');
    writeFileSync(t.standaloneFile, broken);
    const result = await t.adapter.store.refresh();
    expect(result.status).toBe('failed');
    if (result.status === 'failed') {
      expect(result.error).toContain(t.standaloneFile);
      expect(result.error).toContain('apis[0].resources[1].method');
    }
    expect(t.adapter.store.current()!.version).toBe(before);
    expect((await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } })).allowed).toBe(
      true,
    );
    expect(await metric(t, /mesh_apim_snapshot_failures_total\{source="standalone"\} [1-9]/)).toBe(true);
    const ready = JSON.parse(await (await fetch(`http://127.0.0.1:${t.adapter.adminPort}/readyz`)).text());
    expect(ready).toMatchObject({ ready: true, lastError: expect.stringContaining('method') });

    writeFileSync(t.standaloneFile, 'apis: [unclosed');
    const yamlError = await t.adapter.store.refresh();
    expect(yamlError).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/standalone\.yaml:\d+: not valid YAML/),
    });

    writeFileSync(
      t.standaloneFile,
      `${readFileSync(SHIPPED_STANDALONE, 'utf8')}\n`.replace('tier: Gold', 'tier: Platinum'),
    );
    expect(await t.adapter.store.refresh()).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/subscriptions\[0\]\.tier: unknown subscription policy "Platinum"/),
    });
  });

  it('a good edit is swapped in', async () => {
    t = await startTestAdapter();
    const key = await t.apiKey('demo-app');
    writeFileSync(
      t.standaloneFile,
      readFileSync(SHIPPED_STANDALONE, 'utf8').replace(
        '- { method: GET, path: /pets }',
        "- { method: GET, path: /pets }\n      - { method: DELETE, path: '/pets/{id}' }",
      ),
    );
    expect(await t.adapter.store.refresh()).toMatchObject({ status: 'ok' });
    const res = await t.client.check({
      method: 'DELETE',
      path: '/petstore/v1/pets/7',
      headers: { apikey: key },
    });
    expect(res.allowed).toBe(true);
  });

  it('serves API fragments from standalone.d without a restart, and stops serving deleted ones', async () => {
    t = await startTestAdapter();
    const key = await t.apiKey('demo-app');
    expect((await t.client.check({ path: '/orders/v2/1', headers: { apikey: key } })).httpStatus).toBe(403); // 900906: WSO2 answers 403
    mkdirSync(t.fragmentsDir, { recursive: true });
    const fragment = join(t.fragmentsDir, 'orders.yaml');
    writeFileSync(fragment, ORDERS_FRAGMENT);
    // The watcher picks the file up (no refresh() call): wait for the swap, bounded.
    await vi.waitFor(() => expect(t!.adapter.store.current()!.apis.has('orders-v2')).toBe(true), {
      timeout: 10_000,
      interval: 50,
    });
    const res = await t.client.check({ path: '/orders/v2/1', headers: { apikey: key } });
    expect(res.allowed).toBe(true);
    expect(res.headers['x-mesh-apim-subscription-tier']).toBe('Silver');

    writeFileSync(join(t.fragmentsDir, 'zz-dup.yaml'), ORDERS_FRAGMENT);
    const dup = await t.adapter.store.refresh();
    expect(dup).toMatchObject({ status: 'failed', error: expect.stringContaining('zz-dup.yaml: apis[0]') });
    expect(dup.status === 'failed' && dup.error).toContain('already declared in');
    rmSync(join(t.fragmentsDir, 'zz-dup.yaml'));

    rmSync(fragment);
    expect(await t.adapter.store.refresh()).toMatchObject({ status: 'ok' });
    expect((await t.client.check({ path: '/orders/v2/1', headers: { apikey: key } })).httpStatus).toBe(403); // 900906: WSO2 answers 403
  });

  it('the file watcher reloads the main file', async () => {
    t = await startTestAdapter();
    const before = t.adapter.store.current()!.version;
    writeFileSync(
      t.standaloneFile,
      readFileSync(SHIPPED_STANDALONE, 'utf8').replace('tier: Bronze', 'tier: Silver'),
    );
    await vi.waitFor(() => expect(t!.adapter.store.current()!.version).not.toBe(before), {
      timeout: 10_000,
      interval: 50,
    });
  });
});
