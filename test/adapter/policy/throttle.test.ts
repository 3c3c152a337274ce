import { describe, expect, it } from 'vitest';
import { clientBucket, ThrottleState, throttleKey } from '../../../adapter/policy/throttle.ts';

describe('ThrottleState', () => {
  it('counts per fixed window and resets at the window boundary', () => {
    const s = new ThrottleState(10);
    const t0 = 60_000 * 1000;
    expect(s.consume('k', 60_000, t0)).toBe(1);
    expect(s.consume('k', 60_000, t0 + 59_999)).toBe(2);
    expect(s.peek('k', 60_000, t0 + 59_999)).toEqual({ count: 2, resetAt: t0 + 60_000, tracked: true });
    expect(s.peek('k', 60_000, t0 + 60_000).count).toBe(0);
    expect(s.consume('k', 60_000, t0 + 60_000)).toBe(1);
  });

  it('never holds more than maxKeys counters: ended windows make room, live counters are never evicted', () => {
    const refusals: boolean[] = [];
    const s = new ThrottleState(100, { onRefused: (anonymous) => refusals.push(anonymous) });
    const t0 = 1_000_000_000;
    for (let i = 0; i < 100; i++) s.consume(`old-${i}`, 1000, t0);
    // Windows of the old keys have ended: they are dropped to make room.
    for (let i = 0; i < 1000; i++) s.consume(`new-${i}`, 60_000, t0 + 5000);
    expect(s.size).toBe(100);
    expect(s.peek('old-0', 1000, t0).count).toBe(0);
    // All live now: newcomers are refused (and counted); every live counter keeps its count.
    expect(s.refused).toBe(900);
    expect(s.consume('fresh', 60_000, t0 + 6000)).toBeNull();
    expect(s.peek('fresh', 60_000, t0 + 6000)).toMatchObject({ count: 0, tracked: false });
    expect(s.consume('new-0', 60_000, t0 + 6000)).toBe(2);
    expect(s.refused).toBe(901);
    expect(refusals).toHaveLength(901);
    // The next window: the ended ones go, a newcomer fits.
    expect(s.consume('fresh', 60_000, t0 + 60_000)).toBe(1);
  });

  it('unauthenticated counters take at most half the bound; authenticated newcomers still fit', () => {
    const s = new ThrottleState(10);
    for (let i = 0; i < 20; i++) s.consume(`anon-${i}`, 60_000, 0, true);
    expect(s.size).toBe(5);
    expect(s.refused).toBe(15);
    for (let i = 0; i < 5; i++) expect(s.consume(`sub-${i}`, 60_000, 0)).toBe(1);
    expect(s.consume('sub-5', 60_000, 0)).toBeNull();
  });

  it('admit() is all or nothing for the new counters of one request', () => {
    const s = new ThrottleState(3);
    s.consume('a', 60_000, 0);
    s.consume('b', 60_000, 0);
    expect(s.admit([{}, {}], 0)).toBe(false);
    expect(s.size).toBe(2);
    expect(s.admit([{}], 0)).toBe(true);
  });

  it('sweep drops keys whose window has passed', () => {
    const s = new ThrottleState(10);
    s.consume('a', 1000, 0);
    s.consume('b', 60_000, 0);
    expect(s.sweep(1000)).toBe(1);
    expect(s.size).toBe(1);
  });
});

describe('throttleKey', () => {
  it('is unambiguous: no two different part lists share a key, whatever the names contain', () => {
    const lists = [
      ['acme', 'eu:orders'],
      ['acme:eu', 'orders'],
      ['acme:eu:orders'],
      ['acme', 'eu', 'orders'],
      ['4:acme', ''],
      ['', '4:acme'],
      ['a:1:b', 'c'],
      ['a', '1:b:c'],
    ];
    const keys = new Set(lists.map((l) => throttleKey('sub', ...l)));
    expect(keys.size).toBe(lists.length);
    expect(throttleKey('sub', 'acme', 'eu:orders')).toBe('sub:4:acme:9:eu:orders');
  });
});

describe('clientBucket', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1%eth0', '2001:db8:1:2::/64'],
    ['[2001:db8:1:2::1]', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['64:ff9b::192.0.2.7', '64:ff9b:0:0::/64'],
    ['fe80::1', 'fe80:0:0:0::/64'],
    ['', 'unknown'],
    ['not-an-ip', 'unknown'],
    ['1:2:3:4:5:6:7:8:9', 'unknown'],
    ['1::2::3', 'unknown'],
    ['999.1.1.1', 'unknown'],
  ])('%s -> %s', (address, bucket) => {
    expect(clientBucket(address)).toBe(bucket);
  });

  it('every address of one /64 is one bucket', () => {
    const buckets = new Set<string>();
    for (let i = 0; i < 200; i++)
      buckets.add(
        clientBucket(
          `2001:db8:aa:bb:${((i * 977) & 0xffff).toString(16)}:${i.toString(16)}:1:${(i * 31).toString(16)}`,
        ),
      );
    expect([...buckets]).toEqual(['2001:db8:aa:bb::/64']);
  });
});
