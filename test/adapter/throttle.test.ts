import { describe, expect, it } from 'vitest';
import { RevocationSet, ThrottleState } from '../../adapter/throttle.ts';

describe('ThrottleState', () => {
  it('counts per fixed window and resets at the window boundary', () => {
    const s = new ThrottleState(10);
    const t0 = 60_000 * 1000;
    expect(s.consume('k', 60_000, t0)).toBe(1);
    expect(s.consume('k', 60_000, t0 + 59_999)).toBe(2);
    expect(s.peek('k', 60_000, t0 + 59_999)).toEqual({ count: 2, resetAt: t0 + 60_000 });
    expect(s.peek('k', 60_000, t0 + 60_000).count).toBe(0);
    expect(s.consume('k', 60_000, t0 + 60_000)).toBe(1);
  });

  it('never holds more than maxKeys counters: idle (expired) keys go first, then the least recently used', () => {
    const s = new ThrottleState(100);
    const t0 = 1_000_000_000;
    for (let i = 0; i < 100; i++) s.consume(`old-${i}`, 1000, t0);
    // Windows of the old keys have ended: they are dropped to make room.
    for (let i = 0; i < 1000; i++) s.consume(`new-${i}`, 60_000, t0 + 5000);
    expect(s.size).toBe(100);
    expect(s.peek('old-0', 1000, t0).count).toBe(0);
    // All live now: the least recently used live key is evicted, the recently used one survives.
    s.consume('new-950', 60_000, t0 + 6000);
    s.consume('fresh', 60_000, t0 + 6000);
    expect(s.size).toBe(100);
    expect(s.peek('new-950', 60_000, t0 + 6000).count).toBe(2);
    expect(s.peek('new-900', 60_000, t0 + 6000).count).toBe(0);
    expect(s.evictedLive).toBeGreaterThan(0);
  });

  it('sweep drops keys whose window has passed', () => {
    const s = new ThrottleState(10);
    s.consume('a', 1000, 0);
    s.consume('b', 60_000, 0);
    expect(s.sweep(1000)).toBe(1);
    expect(s.size).toBe(1);
  });
});

describe('RevocationSet', () => {
  it('forgets entries after their expiry on prune', () => {
    const r = new RevocationSet();
    r.add('a', 1000, 0);
    r.add('b', null, 0);
    expect(r.has('a')).toBe(true);
    r.prune(1000);
    expect(r.has('a')).toBe(false);
    expect(r.has('b')).toBe(true);
  });
});
