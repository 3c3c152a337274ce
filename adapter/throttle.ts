/**
 * Exact per-instance request counters in fixed windows aligned to the epoch (a 1-minute quota
 * resets at each whole minute). This is the explicit state decide() is handed; it is bounded:
 * counters whose window has passed are worth nothing and are dropped first, then the least
 * recently used.
 */

interface Counter {
  windowStart: number;
  windowMs: number;
  count: number;
}

export interface WindowCount {
  count: number;
  /** ms since epoch when the current window ends. */
  resetAt: number;
}

export class ThrottleState {
  private readonly counters = new Map<string, Counter>();
  readonly maxKeys: number;
  /** Counters dropped because the bound was reached while they were still live. */
  evictedLive = 0;

  constructor(maxKeys = 1_000_000) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be a positive integer');
    this.maxKeys = maxKeys;
  }

  get size(): number {
    return this.counters.size;
  }

  /** Requests counted in the current window of `key`. */
  peek(key: string, windowMs: number, now: number): WindowCount {
    const start = Math.floor(now / windowMs) * windowMs;
    const c = this.counters.get(key);
    const count = c && c.windowStart === start && c.windowMs === windowMs ? c.count : 0;
    return { count, resetAt: start + windowMs };
  }

  /** Counts one request in the current window of `key`; returns the new count. */
  consume(key: string, windowMs: number, now: number): number {
    const start = Math.floor(now / windowMs) * windowMs;
    const c = this.counters.get(key);
    if (c) {
      // Re-insert: Map order is then least recently used first.
      this.counters.delete(key);
      if (c.windowStart !== start || c.windowMs !== windowMs) {
        c.windowStart = start;
        c.windowMs = windowMs;
        c.count = 0;
      }
      c.count += 1;
      this.counters.set(key, c);
      return c.count;
    }
    if (this.counters.size >= this.maxKeys) this.makeRoom(now);
    this.counters.set(key, { windowStart: start, windowMs, count: 1 });
    return 1;
  }

  /** Drops every counter whose window has ended (idle keys). */
  sweep(now: number): number {
    let dropped = 0;
    for (const [key, c] of this.counters) {
      if (c.windowStart + c.windowMs <= now) {
        this.counters.delete(key);
        dropped += 1;
      }
    }
    return dropped;
  }

  private makeRoom(now: number): void {
    if (this.sweep(now) > 0) return;
    const oldest = this.counters.keys().next();
    if (!oldest.done) {
      this.counters.delete(oldest.value);
      this.evictedLive += 1;
    }
  }
}

/** Dynamic revocations (revocation feed, CLI) on top of the snapshot's static list. */
export class RevocationSet {
  private readonly entries = new Map<string, number | null>();
  private readonly maxEntries: number;

  constructor(maxEntries = 1_000_000) {
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  /** expiresAt: ms since epoch after which the credential is dead anyway (null = keep forever). */
  add(jti: string, expiresAt: number | null, now: number): void {
    if (this.entries.size >= this.maxEntries) this.prune(now);
    this.entries.set(jti, expiresAt);
  }

  has(jti: string): boolean {
    return this.entries.has(jti);
  }

  /** RevocationLookup over jtis only (the full store is adapter/revocation/store.ts). */
  revokedBy(f: { jti?: string | undefined }): 'jti' | null {
    return f.jti !== undefined && this.entries.has(f.jti) ? 'jti' : null;
  }

  prune(now: number): void {
    for (const [jti, exp] of this.entries) if (exp !== null && exp <= now) this.entries.delete(jti);
  }
}
