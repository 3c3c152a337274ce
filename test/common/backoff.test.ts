import { describe, expect, it } from 'vitest';
import { Backoff, sleep } from '../../common/backoff.js';

describe('Backoff', () => {
  it('doubles from minMs up to maxMs without jitter, and starts again after reset', () => {
    const b = new Backoff({ minMs: 100, maxMs: 1000, jitter: 'none' });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('draws a full-jitter wait within [minMs/2, wait]', () => {
    const lo = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 });
    const hi = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.999 });
    lo.next();
    hi.next();
    expect(lo.next()).toBe(50);
    expect(hi.next()).toBe(200);
  });

  it('keeps the attempt count bounded once the cap is reached (no overflow to Infinity)', () => {
    const b = new Backoff({ minMs: 1, maxMs: 8, jitter: 'none' });
    for (let i = 0; i < 5000; i++) b.next();
    expect(b.next()).toBe(8);
    expect(b.failures).toBeLessThan(10);
  });

  it('refuses an impossible range', () => {
    expect(() => new Backoff({ minMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ minMs: 10, maxMs: 5 })).toThrow(RangeError);
  });
});

describe('sleep', () => {
  it('ends early when the signal aborts', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    await p;
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
