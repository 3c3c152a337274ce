/**
 * Call deadlines on one coarse timer instead of a setTimeout per call. A per-call timer costs an
 * allocation, a timer-list insert and a clearTimeout on the check path although almost every Check
 * is answered long before its deadline. Here a call joins a bucket (its deadline rounded up to the
 * next multiple of the granularity) and leaves it when it ends; one timer is armed for the earliest
 * bucket. Calls therefore expire at their deadline or up to one granularity later, never before.
 * With the usual case (one request timeout for every call) buckets are created in increasing order
 * and the timer is armed once per request-timeout period, not once per call.
 */
import { performance } from 'node:perf_hooks';

/** Expiry granularity: a call expires 0–10 ms after its deadline (plus event-loop lag). */
export const DEADLINE_GRANULARITY_MS = 10;

export class Deadlines<T> {
  private readonly buckets = new Map<number, Set<T>>();
  private timer: NodeJS.Timeout | null = null;
  /** The bucket the timer is armed for (Infinity: not armed). */
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(
    private readonly expire: (item: T) => void,
    private readonly granularityMs = DEADLINE_GRANULARITY_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Schedules `item` to expire in `ms`; returns its bucket, to pass to remove(). */
  add(item: T, ms: number): number {
    const key = Math.ceil((this.now() + Math.max(0, ms)) / this.granularityMs);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new Set();
      this.buckets.set(key, bucket);
      if (key < this.armedFor) this.arm(key);
    }
    bucket.add(item);
    return key;
  }

  /** `item` ended before its deadline. The timer stays armed: when it fires it finds nothing and re-arms. */
  remove(item: T, key: number): void {
    const bucket = this.buckets.get(key);
    if (bucket?.delete(item) && bucket.size === 0) this.buckets.delete(key);
  }

  /** Items waiting (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.size;
    return n;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private arm(key: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = key;
    // At least 1 ms: the loop's cached clock may wake us just before the bucket's end.
    this.timer = setTimeout(this.fire, Math.max(1, key * this.granularityMs - this.now()));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const dueUpTo = Math.floor(this.now() / this.granularityMs);
    const due: number[] = [];
    for (const key of this.buckets.keys()) if (key <= dueUpTo) due.push(key);
    // Earliest deadline first, also when a stalled loop makes several buckets due at once.
    due.sort((a, b) => a - b);
    for (const key of due) {
      const bucket = this.buckets.get(key);
      this.buckets.delete(key);
      if (bucket) for (const item of bucket) this.expire(item);
    }
    let next = Number.POSITIVE_INFINITY;
    for (const key of this.buckets.keys()) if (key < next) next = key;
    if (next < this.armedFor) this.arm(next);
  };
}
