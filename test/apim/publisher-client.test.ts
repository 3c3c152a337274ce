import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { PublisherClient } from '../../apim/publisher-client.ts';
import { contractCheckedPublisherPerTest, type FakeApim } from '../support/fakes/fake-apim-publisher.ts';

function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { log: pino({ level: 'warn' }, stream), lines };
}

describe('PublisherClient retries', () => {
  let apim: FakeApim;
  contractCheckedPublisherPerTest((a) => {
    apim = a;
  });

  const client = (retryMaxMs: number, draws: number[]) => {
    const { log, lines } = capturedLogger();
    const c = new PublisherClient({
      baseUrl: apim.url,
      username: 'admin',
      password: 'admin',
      clientName: 'mesh-apim-test',
      timeoutMs: 5_000,
      maxAttempts: 3,
      retryBaseMs: 200,
      retryMaxMs,
      log,
      random: () => draws.shift() ?? 0,
    });
    return { c, lines };
  };

  const apiCalls = () => apim.log.filter((l) => l.method === 'GET' && l.path.includes('/apis?'));

  it('the delay it logs is the wait that happens: half to all of base * 2^n, drawn once', async () => {
    apim.fail('GET', /\/apis$/, 503, 2);
    const { c, lines } = client(5_000, [0.2, 0.6]);
    await expect(c.findApis('petstore', 'v1')).resolves.toEqual([]);
    // 200 * (0.5 + 0.1) and 400 * (0.5 + 0.3).
    expect(lines.map((l) => [l.attempt, l.delay])).toEqual([
      [1, 120],
      [2, 320],
    ]);
    const calls = apiCalls();
    expect(calls.map((l) => l.status)).toEqual([503, 503, 200]);
    // Each retry starts no earlier than the delay logged before it (timer granularity aside).
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(120 - 2);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(320 - 2);
    expect(c.stats.retries).toBe(2);
  });

  it('the cap bounds the ceiling before the jitter; the last failure is not followed by a wait', async () => {
    apim.fail('GET', /\/apis$/, 503, 3);
    const { c, lines } = client(250, [0.2, 0.6, 0.9]);
    await expect(c.findApis('petstore', 'v1')).rejects.toMatchObject({ status: 503, retriable: true });
    // Attempt 2's ceiling is min(250, 400): 250 * 0.8.
    expect(lines.map((l) => l.delay)).toEqual([120, 200]);
    expect(apiCalls().map((l) => l.status)).toEqual([503, 503, 503]);
  });

  it('a non-retriable answer is neither waited on nor logged as a retry', async () => {
    apim.fail('GET', /\/apis$/, 400, 1);
    const { c, lines } = client(5_000, []);
    await expect(c.findApis('petstore', 'v1')).rejects.toMatchObject({ status: 400, retriable: false });
    expect(lines).toEqual([]);
    expect(c.stats.retries).toBe(0);
  });
});
