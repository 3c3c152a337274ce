/**
 * Cluster-wide quotas, the pure core (the transport is sync.ts): the ThrottleBudget the counters of
 * adapter/policy/throttle.ts consult. No I/O and no timers: the transport hands in what other instances
 * reported (ingest), asks for this instance's report each sync interval (tick) and says whether the
 * broker takes its reports (published / publishFailed).
 *
 * Model, per (counter key, window): every instance reports its count in the window and its ceiling
 * (count + lease: what it may count before its next report). An instance re-leases at every tick:
 *   free  = limit - own count - sum over other instances of (live ? max(count, ceiling) : count)
 *   lease = its share of free, weighted by demand (requests that asked for the counter in the last
 *           interval, + 1 so an idle instance keeps a sliver), split by largest remainder so the
 *           shares add up to free exactly when the instances see the same reports.
 * Leases are taken from what nobody else has claimed, so with consistent views the sum of ceilings
 * never passes the limit; a view that misses a report (sent less than one interval + delivery ago)
 * can over-lease by what the cluster admits in that time, and the next tick sees it (free < 0: no
 * lease for anyone). A dead instance (no report for leaseTimeoutMs) keeps its count, loses its lease.
 * Windows shorter than localBelowMs (burst control) are not shared: each instance enforces
 * limit / live instances. Until caught up with the topic, or while the broker does not take reports,
 * every instance enforces limit / expected instances (fallback).
 */
import type { ThrottleCounter, ThrottleCounts } from '../../events/throttle-counts.ts';
import type { ThrottleBudget, ThrottleScope } from '../policy/throttle.ts';

export interface LeaseOptions {
  instanceId: string;
  /** Token of this process run (a restart is a new member). */
  boot: string;
  intervalMs: number;
  /** An instance whose reports stop this long is dead: its unused lease returns to the others. */
  leaseTimeoutMs: number;
  /** Windows shorter than this are split statically (limit / live instances), not leased. */
  localBelowMs: number;
  /** Instances the fallback divides by; 0 = as many as were live when last synced (at least 1). */
  expectedInstances: number;
  /** Every this often a report lists all shared counters, not only the changed ones. */
  fullEveryMs: number;
}

export type SyncMode = 'synced' | 'catching-up' | 'broker-unreachable';

interface Own {
  key: string;
  windowStart: number;
  windowMs: number;
  limit: number;
  count: number;
  ceiling: number;
  /** Requests that asked during the running interval / the last one. */
  demandNow: number;
  demandLast: number;
  /** Last reported values (a counter is re-sent only when one changed). */
  sent: { count: number; ceiling: number; demand: number } | null;
}

interface Peer {
  id: string;
  /** Local time of its latest report (receipt time: immune to clock skew between hosts). */
  seenAt: number;
  counters: Map<string, ThrottleCounter>;
}

export interface LeaseStatus {
  mode: SyncMode;
  /** Live instances, this one included. */
  instances: number;
  /** What the fallback divides by. */
  expectedInstances: number;
  sharedCounters: number;
  /** ms since the broker last took a report (null: never). */
  lastPublishAgeMs: number | null;
  lastError: string | null;
}

function windowStartOf(now: number, windowMs: number): number {
  return Math.floor(now / windowMs) * windowMs;
}

export class QuotaLeases implements ThrottleBudget {
  readonly self: string;
  private readonly own = new Map<string, Own>();
  private readonly peers = new Map<string, Peer>();
  private caughtUp = false;
  private lastPublishOk: number | null = null;
  private startedAt: number | null = null;
  private lastError: string | null = null;
  private lastFull = Number.NEGATIVE_INFINITY;
  private liveCount = 1;
  /** Most instances live while in sync in the last minute (the fallback's default divisor). */
  private liveWhenSynced = 1;
  private liveWhenSyncedAt = Number.NEGATIVE_INFINITY;
  private seq = 0;
  /** Limit decisions made on the fallback share (a metric). */
  fallbackDecisions = 0;

  constructor(private readonly o: LeaseOptions) {
    this.self = `${o.instanceId}~${o.boot}`;
  }

  // ---- the check path (ThrottleBudget): synchronous, no allocation for a known counter ----

  ceiling(key: string, windowMs: number, limit: number, count: number, now: number): number {
    if (windowMs < this.o.localBelowMs) {
      return Math.ceil(limit / (this.synced(now) ? this.liveCount : this.expected()));
    }
    if (!this.synced(now)) {
      this.fallbackDecisions += 1;
      return Math.ceil(limit / this.expected());
    }
    const start = windowStartOf(now, windowMs);
    let e = this.own.get(key);
    if (!e || e.windowStart !== start || e.windowMs !== windowMs) {
      e = {
        key,
        windowStart: start,
        windowMs,
        limit,
        count,
        ceiling: count,
        demandNow: 0,
        demandLast: 0,
        sent: null,
      };
      this.own.set(key, e);
      this.lease(e, now);
    } else if (e.limit !== limit) {
      e.limit = limit;
      this.lease(e, now);
    }
    e.demandNow += 1;
    return e.ceiling;
  }

  counted(key: string, windowMs: number, count: number): void {
    const e = this.own.get(key);
    // A counter of another window (its entry not made yet) is picked up by ceiling() next time.
    if (e && e.windowMs === windowMs) e.count = count;
  }

  scope(_key: string, windowMs: number, now: number): ThrottleScope {
    if (windowMs < this.o.localBelowMs) return 'instance';
    return this.synced(now) ? 'cluster' : 'fallback';
  }

  // ---- the transport's side ----

  /** The transport started reading the topic at `now`. */
  start(now: number): void {
    this.startedAt = now;
  }

  /** The reader has reached the end the topic had when it started: the view is complete. */
  markCaughtUp(): void {
    this.caughtUp = true;
  }

  published(now: number): void {
    this.lastPublishOk = now;
    this.lastError = null;
  }

  publishFailed(message: string): void {
    this.lastError = message;
  }

  /** The next report lists every shared counter (the previous one was lost). */
  resendAll(): void {
    this.lastFull = Number.NEGATIVE_INFINITY;
  }

  /** Another instance's report (own reports, read back from the topic, are skipped). */
  ingest(report: ThrottleCounts, now: number): void {
    const id = `${report.instance.id}~${report.instance.boot}`;
    if (id === this.self) return;
    let p = this.peers.get(id);
    if (!p) {
      p = { id, seenAt: now, counters: new Map() };
      this.peers.set(id, p);
    }
    p.seenAt = now;
    for (const c of report.counters) {
      const prev = p.counters.get(c.key);
      // Reports of one instance arrive in order; a counter of an older window never replaces a newer one.
      if (!prev || c.windowStart >= prev.windowStart) p.counters.set(c.key, c);
    }
  }

  /**
   * One sync interval passed: ends finished windows, re-leases every shared counter from the
   * latest reports, and returns this instance's report (changed counters, or all of them regularly).
   */
  tick(now: number): ThrottleCounts {
    this.prunePeers(now);
    const synced = this.synced(now);
    this.liveCount = 1 + this.livePeers(now);
    // A high-water mark: when the broker goes, the others' reports stop too, and they must not look dead.
    if (synced && (this.liveCount >= this.liveWhenSynced || now - this.liveWhenSyncedAt > 60_000)) {
      this.liveWhenSynced = this.liveCount;
      this.liveWhenSyncedAt = now;
    }
    const full = now - this.lastFull >= this.o.fullEveryMs;
    if (full) this.lastFull = now;
    const counters: ThrottleCounter[] = [];
    for (const [key, e] of this.own) {
      if (e.windowStart + e.windowMs <= now) {
        this.own.delete(key);
        continue;
      }
      e.demandLast = e.demandNow;
      e.demandNow = 0;
      if (synced) this.lease(e, now);
      const s = e.sent;
      if (full || !s || s.count !== e.count || s.ceiling !== e.ceiling || s.demand !== e.demandLast) {
        e.sent = { count: e.count, ceiling: e.ceiling, demand: e.demandLast };
        counters.push({
          key,
          windowStart: e.windowStart,
          windowMs: e.windowMs,
          limit: e.limit,
          count: e.count,
          ceiling: e.ceiling,
          demand: e.demandLast,
        });
      }
    }
    this.seq += 1;
    return {
      type: 'throttle-counts',
      schemaVersion: 1,
      eventId: `thr:${this.self}:${this.seq}`,
      occurredAt: new Date(now).toISOString(),
      instance: { id: this.o.instanceId, boot: this.o.boot },
      sentAt: now,
      intervalMs: this.o.intervalMs,
      counters,
      full,
    };
  }

  status(now: number): LeaseStatus {
    return {
      mode: this.mode(now),
      instances: this.liveCount,
      expectedInstances: this.expected(),
      sharedCounters: this.own.size,
      lastPublishAgeMs: this.lastPublishOk === null ? null : now - this.lastPublishOk,
      lastError: this.lastError,
    };
  }

  mode(now: number): SyncMode {
    if (!this.caughtUp) return 'catching-up';
    // Not yet published since start: allowed one lease timeout for the first report to land.
    const since = this.lastPublishOk ?? this.startedAt;
    if (since === null || now - since > this.o.leaseTimeoutMs) return 'broker-unreachable';
    return 'synced';
  }

  private synced(now: number): boolean {
    return this.mode(now) === 'synced';
  }

  private expected(): number {
    return this.o.expectedInstances > 0 ? this.o.expectedInstances : Math.max(1, this.liveWhenSynced);
  }

  private livePeers(now: number): number {
    let n = 0;
    for (const p of this.peers.values()) if (now - p.seenAt <= this.o.leaseTimeoutMs) n += 1;
    return n;
  }

  /** Dead instances are forgotten once none of their counters is in a running window. */
  private prunePeers(now: number): void {
    for (const [id, p] of this.peers) {
      for (const [key, c] of p.counters) if (c.windowStart + c.windowMs <= now) p.counters.delete(key);
      if (p.counters.size === 0 && now - p.seenAt > this.o.leaseTimeoutMs) this.peers.delete(id);
    }
  }

  /** Sets e.ceiling to e.count + this instance's share of the budget nobody else holds. */
  private lease(e: Own, now: number): void {
    let taken = e.count;
    const shares: { id: string; weight: number }[] = [{ id: this.self, weight: e.demandLast + 1 }];
    for (const p of this.peers.values()) {
      const live = now - p.seenAt <= this.o.leaseTimeoutMs;
      const c = p.counters.get(e.key);
      const same = c !== undefined && c.windowStart === e.windowStart && c.windowMs === e.windowMs;
      if (same) taken += live ? Math.max(c.count, c.ceiling) : c.count;
      if (live) shares.push({ id: p.id, weight: (same ? c.demand : 0) + 1 });
    }
    const free = e.limit - taken;
    if (free <= 0) {
      e.ceiling = e.count;
      return;
    }
    if (shares.length === 1) {
      e.ceiling = e.count + free;
      return;
    }
    e.ceiling = e.count + largestRemainder(free, shares, this.self);
  }
}

/**
 * `self`'s part of `total` split by weight so that the parts are integers adding up to total: floors
 * first, the units left over to the largest fractions (ties: lowest id). Every instance computing
 * from the same reports gets the same split.
 */
export function largestRemainder(
  total: number,
  shares: readonly { id: string; weight: number }[],
  self: string,
): number {
  let sum = 0;
  for (const s of shares) sum += s.weight;
  let floors = 0;
  let mine = 0;
  const fractions: { id: string; frac: number }[] = [];
  for (const s of shares) {
    const exact = (total * s.weight) / sum;
    const f = Math.floor(exact);
    floors += f;
    if (s.id === self) mine = f;
    fractions.push({ id: s.id, frac: exact - f });
  }
  const left = total - floors;
  if (left <= 0) return mine;
  fractions.sort((a, b) => b.frac - a.frac || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 0; i < left && i < fractions.length; i++) if (fractions[i]!.id === self) return mine + 1;
  return mine;
}
