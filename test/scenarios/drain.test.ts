/**
 * Graceful drain (adapter.drainMs): once stop is requested, /readyz fails at once while checks are
 * still answered for drainMs; then the adapter stops. With drainMs 0 (the default) stop is immediate.
 */
import { describe, expect, it } from 'vitest';
import { startTestAdapter } from '../support/adapter.ts';

const readyz = async (port: number) => {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; draining?: boolean } };
};

describe('drain on stop', () => {
  it('drainMs > 0: not ready at once, checks still answered during the drain, then stopped', async () => {
    const t = await startTestAdapter({ overrides: { 'adapter.drainMs': 1500 } });
    const key = await t.apiKey('demo-app');
    const port = t.adapter.adminPort;
    expect((await readyz(port)).status).toBe(200);
    const stopping = t.adapter.stop();
    const during = await readyz(port);
    expect(during.status).toBe(503);
    expect(during.body).toMatchObject({ ready: false, draining: true });
    const answer = await t.client.check({
      path: '/petstore/v1/pets',
      headers: { apikey: key },
      requestId: 'drain-1',
    });
    expect(answer.allowed).toBe(true);
    await stopping;
    await expect(fetch(`http://127.0.0.1:${port}/readyz`)).rejects.toThrow();
    await t.close();
  });

  it('drainMs 0 (default): stop does not wait', async () => {
    const t = await startTestAdapter();
    const port = t.adapter.adminPort;
    await t.adapter.stop();
    await expect(fetch(`http://127.0.0.1:${port}/readyz`)).rejects.toThrow();
    await t.close();
  });
});
