import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../../../../adapter/transport/http2/deadlines.ts';

describe('Deadlines (one coarse timer for every call)', () => {
  let clock = 0;
  const now = () => clock;
  /** Moves the clock and the fake timers together. */
  const advance = (ms: number) => {
    clock += ms;
    vi.advanceTimersByTime(ms);
  };
  beforeEach(() => {
    vi.useFakeTimers();
    clock = 1000;
  });
  afterEach(() => vi.useRealTimers());

  it('expires each item at its deadline rounded up to the granularity, never before, earliest first', () => {
    const expired: string[] = [];
    const d = new Deadlines<string>((x) => expired.push(x), 10, now);
    d.add('c', 95);
    d.add('a', 30);
    d.add('b', 61);
    advance(29);
    expect(expired).toEqual([]);
    advance(1);
    expect(expired).toEqual(['a']);
    advance(31); // 61: b's deadline
    expect(expired).toEqual(['a']);
    advance(9); // 70: b's bucket ends
    expect(expired).toEqual(['a', 'b']);
    advance(30);
    expect(expired).toEqual(['a', 'b', 'c']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a removed item never expires; an item added with an earlier deadline re-arms the timer', () => {
    const expired: string[] = [];
    const d = new Deadlines<string>((x) => expired.push(x), 10, now);
    const k = d.add('long', 10_000);
    d.add('gone', 50);
    const g = d.add('gone2', 50);
    d.remove('gone2', g);
    d.add('short', 20);
    d.remove('long', k);
    advance(20);
    expect(expired).toEqual(['short']);
    advance(10_000);
    expect(expired).toEqual(['short', 'gone']);
    expect(d.size).toBe(0);
  });

  it('the same timeout for every item arms the timer once per period, not once per item', () => {
    const expired: number[] = [];
    const d = new Deadlines<number>((x) => expired.push(x), 10, now);
    const spy = vi.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 1000; i++) {
      const k = d.add(i, 10_000);
      if (i % 100 !== 0) d.remove(i, k);
      advance(1);
    }
    expect(spy).toHaveBeenCalledTimes(1);
    advance(10_000);
    expect(expired).toEqual(Array.from({ length: 10 }, (_, i) => i * 100));
    spy.mockRestore();
  });

  it('several buckets due at once (a stalled loop) expire earliest first', () => {
    const expired: string[] = [];
    const d = new Deadlines<string>((x) => expired.push(x), 10, now);
    d.add('late', 300);
    d.add('early', 100);
    d.add('mid', 200);
    clock += 1000; // the loop was blocked: the clock moved, the timer did not fire yet
    vi.advanceTimersByTime(100);
    expect(expired).toEqual(['early', 'mid', 'late']);
  });

  it('close() stops the timer', () => {
    const expired: string[] = [];
    const d = new Deadlines<string>((x) => expired.push(x), 10, now);
    d.add('x', 10);
    d.close();
    advance(100);
    expect(expired).toEqual([]);
  });
});
