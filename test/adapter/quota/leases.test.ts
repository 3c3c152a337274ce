import { describe, expect, it } from 'vitest';
import { ThrottleState } from '../../../adapter/policy/throttle.ts';
import { largestRemainder, QuotaLeases } from '../../../adapter/quota/leases.ts';
import type { ThrottleCounts } from '../../../events/throttle-counts.ts';

const KEY = 'sub:3:app:3:api';
const INTERVAL = 250;

interface Node {
  leases: QuotaLeases;
  state: ThrottleState;
  allowed: number;
  alive: boolean;
}

/** N instances on one simulated topic: each report reaches the others `delayMs` after its tick. */
class Cluster {
  readonly nodes: Node[] = [];
  private inTransit: { at: number; from: Node; report: ThrottleCounts }[] = [];
  constructor(
    readonly delayMs = 40,
    readonly opts: Partial<ConstructorParameters<typeof QuotaLeases>[0]> = {},
  ) {}

  add(id: string, now: number, history: ThrottleCounts[] = []): Node {
    const leases = new QuotaLeases({
      instanceId: id,
      boot: 'b',
      intervalMs: INTERVAL,
      leaseTimeoutMs: 1000,
      localBelowMs: 5000,
      expectedInstances: 0,
      fullEveryMs: 10_000,
      ...this.opts,
    });
    leases.start(now);
    for (const r of history) leases.ingest(r, now);
    leases.markCaughtUp();
    leases.published(now);
    const n: Node = { leases, state: new ThrottleState(1000, { budget: leases }), allowed: 0, alive: true };
    this.nodes.push(n);
    return n;
  }

  /** One request at `n`: the decide() rule (count below the allowance, then counted). */
  hit(n: Node, limit: number, windowMs: number, now: number): boolean {
    const { count } = n.state.peek(KEY, windowMs, now);
    if (count >= n.state.allowance(KEY, windowMs, limit, count, now)) return false;
    n.state.consume(KEY, windowMs, now);
    n.allowed += 1;
    return true;
  }

  readonly log: ThrottleCounts[] = [];

  /** Advances to `now`: delivers due reports, ticks instances whose interval came (offset per instance). */
  step(now: number, brokerUp = true): void {
    const due = this.inTransit.filter((m) => m.at <= now);
    this.inTransit = this.inTransit.filter((m) => m.at > now);
    for (const m of due)
      for (const n of this.nodes) if (n !== m.from && n.alive) n.leases.ingest(m.report, now);
    this.nodes.forEach((n, i) => {
      if (!n.alive) return;
      // Instances tick out of phase with each other, as real timers do.
      if ((now + i * 83) % INTERVAL !== 0) return;
      const report = n.leases.tick(now);
      if (!brokerUp) return;
      n.leases.published(now);
      this.log.push(report);
      this.inTransit.push({ at: now + this.delayMs, from: n, report });
    });
  }
}

/** Runs `ms` of load: `perMs(t)` lists the instances that get a request at ms t. */
function run(
  c: Cluster,
  from: number,
  ms: number,
  limit: number,
  windowMs: number,
  perMs: (t: number) => Node[],
  brokerUp = () => true,
) {
  for (let t = from; t < from + ms; t++) {
    c.step(t, brokerUp());
    for (const n of perMs(t)) if (n.alive) c.hit(n, limit, windowMs, t);
  }
}

const total = (c: Cluster) => c.nodes.reduce((s, n) => s + n.allowed, 0);

describe('largestRemainder', () => {
  it('splits a total into integer parts adding up to it, the same on every instance', () => {
    const shares = [
      { id: 'a', weight: 1 },
      { id: 'b', weight: 1 },
      { id: 'c', weight: 1 },
    ];
    const parts = ['a', 'b', 'c'].map((id) => largestRemainder(1000, shares, id));
    expect(parts.reduce((a, b) => a + b)).toBe(1000);
    expect(parts).toEqual([334, 333, 333]);
    expect(['a', 'b', 'c'].map((id) => largestRemainder(2, shares, id))).toEqual([1, 1, 0]);
  });
});

describe('QuotaLeases: 3 instances, Bronze 1,000 per minute at 3x its rate', () => {
  const W = 60_000;
  const L = 1000;
  const start = 600_000; // a window start
  // 3x the rate: 50 requests/s, one every 20 ms.
  const even = (c: Cluster) => (t: number) => (t % 20 === 0 ? [c.nodes[(t / 20) % 3]!] : []);
  const skewed = (c: Cluster) => (t: number) => (t % 20 === 0 ? [c.nodes[0]!] : []);
  // Bound: L x 1.02 + what the cluster admits in one sync interval plus the delivery delay.
  const oneInterval = Math.ceil(50 * ((INTERVAL + 40) / 1000));

  for (const [name, load] of [
    ['spread evenly', even],
    ['all on one instance', skewed],
  ] as const) {
    it(`${name}: allowed in the window within [0.98 L, 1.02 L + one interval]`, () => {
      const c = new Cluster();
      for (const id of ['a', 'b', 'c']) c.add(id, start - 1000);
      run(c, start - 1000, 1000, L, W, () => []); // heartbeats: everyone knows everyone
      run(c, start, W, L, W, load(c));
      expect(total(c)).toBeGreaterThanOrEqual(0.98 * L);
      expect(total(c)).toBeLessThanOrEqual(1.02 * L + oneInterval);
    });
  }

  it('one instance alone gets the whole limit, as without sync', () => {
    const c = new Cluster();
    c.add('a', start - 1000);
    run(c, start - 1000, 1000, L, W, () => []);
    run(c, start, W, L, W, (t) => (t % 5 === 0 ? [c.nodes[0]!] : []));
    expect(total(c)).toBe(L);
  });

  it('an instance killed mid-window: its unused lease returns to the others within the window', () => {
    const c = new Cluster();
    for (const id of ['a', 'b', 'c']) c.add(id, start - 1000);
    run(c, start - 1000, 1000, L, W, () => []);
    run(c, start, 10_000, L, W, even(c));
    c.nodes[2]!.alive = false; // SIGKILL: no more reports, its ceiling is stale
    run(c, start + 10_000, W - 10_000, L, W, (t) => (t % 20 === 0 ? [c.nodes[(t / 20) % 2]!] : []));
    expect(total(c)).toBeGreaterThanOrEqual(0.98 * L);
    expect(total(c)).toBeLessThanOrEqual(1.02 * L + oneInterval);
  });

  it('a new instance joining mid-window reads the reports so far and does not restart the count', () => {
    const c = new Cluster();
    for (const id of ['a', 'b']) c.add(id, start - 1000);
    run(c, start - 1000, 1000, L, W, () => []);
    // The first half at the limit's rate (500 of 1,000 used), then 3x the rate over three instances.
    run(c, start, 30_000, L, W, (t) => (t % 60 === 0 ? [c.nodes[(t / 60) % 2]!] : []));
    expect(total(c)).toBe(500);
    c.add('c', start + 30_000, c.log);
    run(c, start + 30_000, W - 30_000, L, W, even(c));
    expect(c.nodes[2]!.allowed).toBeGreaterThan(0);
    expect(total(c)).toBeGreaterThanOrEqual(0.98 * L);
    expect(total(c)).toBeLessThanOrEqual(1.02 * L + oneInterval);
  });

  it('broker down: each instance enforces limit / expected instances, said by mode and scope', () => {
    const c = new Cluster();
    for (const id of ['a', 'b', 'c']) c.add(id, start - 1000);
    run(c, start - 1000, 1000, L, W, () => []);
    run(c, start, W, L, W, even(c), () => false);
    const a = c.nodes[0]!.leases;
    expect(a.mode(start + W - 1)).toBe('broker-unreachable');
    expect(a.scope(KEY, W, start + W - 1)).toBe('fallback');
    expect(a.fallbackDecisions).toBeGreaterThan(0);
    // Before the outage showed (one lease timeout) they spent leases; afterwards 334 each at most.
    for (const n of c.nodes) expect(n.allowed).toBeLessThanOrEqual(Math.ceil(L / 3));
    expect(total(c)).toBeLessThanOrEqual(3 * Math.ceil(L / 3));
  });

  it('windows shorter than localBelowMs (burst) are split statically by the live instances', () => {
    const c = new Cluster();
    for (const id of ['a', 'b', 'c']) c.add(id, start - 1000);
    run(c, start - 1000, 1000, L, W, () => []);
    const n = c.nodes[0]!;
    expect(n.state.allowance('burst:1:x', 1000, 30, 0, start)).toBe(10);
    expect(n.leases.scope('burst:1:x', 1000, start)).toBe('instance');
  });

  it('catching up (topic not read yet): fallback share, then the cluster count', () => {
    const l = new QuotaLeases({
      instanceId: 'z',
      boot: 'b',
      intervalMs: INTERVAL,
      leaseTimeoutMs: 1000,
      localBelowMs: 5000,
      expectedInstances: 4,
      fullEveryMs: 10_000,
    });
    l.start(start);
    expect(l.mode(start)).toBe('catching-up');
    expect(l.ceiling(KEY, W, L, 0, start)).toBe(250);
    l.markCaughtUp();
    expect(l.mode(start)).toBe('synced');
    expect(l.ceiling(KEY, W, L, 0, start)).toBe(L);
  });
});
