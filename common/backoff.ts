/**
 * The one backoff of long-running loops (consumers, pollers, reconnects). Requests that are retried a
 * bounded number of times use p-retry instead; this is for loops that never give up and only need the
 * next wait. Full jitter by default (AWS architecture blog, "Exponential Backoff And Jitter"): loops of
 * many replicas that failed together must not retry together.
 */
export interface BackoffOptions {
  /** First wait, ms. */
  minMs: number;
  /** Cap of a wait, ms. */
  maxMs: number;
  /** Growth per failure; 2 unless told. */
  factor?: number;
  /** 'full': uniform in [0, wait] (never below minMs/2); 'none': the deterministic wait. */
  jitter?: 'full' | 'none';
  /** Injectable for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly factor: number;
  private readonly jitter: 'full' | 'none';
  private readonly random: () => number;

  constructor(private readonly o: BackoffOptions) {
    if (!(o.minMs > 0) || !(o.maxMs >= o.minMs))
      throw new RangeError(`backoff: need 0 < minMs <= maxMs (${o.minMs}, ${o.maxMs})`);
    this.factor = o.factor ?? 2;
    this.jitter = o.jitter ?? 'full';
    this.random = o.random ?? Math.random;
  }

  /** The wait before the next try, growing per call until reset(). */
  next(): number {
    const wait = Math.min(this.o.maxMs, this.o.minMs * this.factor ** this.attempt);
    if (wait < this.o.maxMs) this.attempt++;
    if (this.jitter === 'none') return wait;
    return Math.max(this.o.minMs / 2, Math.round(wait * this.random()));
  }

  /** The deterministic wait the next call would draw from, for logs. */
  peek(): number {
    return Math.min(this.o.maxMs, this.o.minMs * this.factor ** this.attempt);
  }

  /** A success: the next failure starts from minMs again. */
  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}

/** A sleep that ends early (resolving, not rejecting) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
