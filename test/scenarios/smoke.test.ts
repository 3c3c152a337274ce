import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAdapter, type TestAdapter } from '../support/adapter.ts';

describe('adapter smoke', () => {
  let t: TestAdapter;
  beforeAll(async () => {
    t = await startTestAdapter();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('allows demo-app with a fresh key and denies without one', async () => {
    const key = await t.apiKey('demo-app');
    const ok = await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } });
    expect(ok.allowed).toBe(true);
    const no = await t.client.check({ path: '/petstore/v1/pets' });
    expect(no.httpStatus).toBe(401);
    expect(no.body?.code).toBe('900902');
  });
});
