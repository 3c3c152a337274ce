import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../../cli/commands/check.ts';
import { startTestAdapter, type TestAdapter } from '../../support/adapter.ts';

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    return { code: await run(argv), out };
  } finally {
    spy.mockRestore();
  }
}

describe('mesh-apim check', () => {
  let t: TestAdapter;
  beforeAll(async () => {
    t = await startTestAdapter();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sends one CheckRequest and prints the decision; exit 0 when allowed, 3 when denied', async () => {
    const address = `127.0.0.1:${t.adapter.grpcPort}`;
    const ok = await capture(['--address', address, '--apikey', await t.apiKey('demo-app')]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({
      allowed: true,
      headers: { 'x-mesh-apim-application-name': 'demo-app' },
    });
    const denied = await capture(['--address', address, '--path', '/petstore/v1/pets']);
    expect(denied.code).toBe(3);
    expect(JSON.parse(denied.out)).toMatchObject({
      allowed: false,
      httpStatus: 401,
      body: { code: '900902' },
    });
  });

  it('gives every check its own x-request-id (the analytics correlationId) unless --request-id is given', async () => {
    const address = `127.0.0.1:${t.adapter.grpcPort}`;
    const key = await t.apiKey('demo-app');
    const ids = [];
    for (const extra of [[], [], ['--request-id', 'mine-1']]) {
      const res = await capture(['--address', address, '--apikey', key, ...extra]);
      expect(res.code).toBe(0);
      ids.push(JSON.parse(res.out).requestContext.requestId as string);
    }
    expect(ids[0]).not.toBe(ids[1]);
    expect(ids[2]).toBe('mine-1');
  });
});
