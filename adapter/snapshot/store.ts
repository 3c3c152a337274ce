/**
 * Holds the snapshot in force. Loads are serialized; a successful load swaps the snapshot
 * atomically (one reference assignment: a check sees the old or the new one, never a mix), a
 * failed load keeps the last good snapshot and is logged and counted.
 */
import { errorMessage } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import type { AdapterMetrics } from '../metrics.ts';
import type { SnapshotSource } from './source.ts';
import type { Snapshot } from './types.ts';

export type RefreshResult =
  | { status: 'ok'; version: string; previousVersion: string | null }
  | { status: 'unchanged'; version: string }
  | { status: 'failed'; error: string };

export interface SnapshotStoreOptions {
  metrics?: AdapterMetrics;
  logger?: Logger;
  /** Debounce of watch notifications (editors write files in several steps). */
  debounceMs?: number;
}

export class SnapshotStore {
  readonly source: SnapshotSource;
  private snapshot: Snapshot | null = null;
  private inFlight: Promise<RefreshResult> | null = null;
  private again = false;
  private unwatch: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(s: Snapshot) => void>();
  private readonly metrics: AdapterMetrics | undefined;
  private readonly log: Logger;
  private readonly debounceMs: number;
  private lastError: string | null = null;

  constructor(source: SnapshotSource, options: SnapshotStoreOptions = {}) {
    this.source = source;
    this.metrics = options.metrics;
    this.log = options.logger ?? createLogger('snapshot-store', { source: source.name });
    this.debounceMs = options.debounceMs ?? 100;
  }

  /** The snapshot in force, or null before the first successful load. */
  current(): Snapshot | null {
    return this.snapshot;
  }

  get ready(): boolean {
    return this.snapshot !== null;
  }

  /** Message of the last failed load (null after a success). */
  get error(): string | null {
    return this.lastError;
  }

  /** Called after each swap. */
  onSwap(listener: (s: Snapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Loads once, then follows the source's change notifications. */
  async start(): Promise<RefreshResult> {
    const first = await this.refresh();
    if (this.source.watch && !this.unwatch) {
      this.unwatch = this.source.watch(() => this.schedule());
    }
    return first;
  }

  stop(): void {
    this.unwatch?.();
    this.unwatch = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Installs a snapshot built elsewhere (tests, sources that push). */
  swap(next: Snapshot): void {
    this.snapshot = next;
    this.metrics?.snapshotLoaded.set({ source: this.source.name }, 1);
    this.metrics?.snapshotInfo.reset();
    this.metrics?.snapshotInfo.set({ source: this.source.name, version: next.version }, 1);
    for (const l of this.listeners) {
      try {
        l(next);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'snapshot listener failed');
      }
    }
  }

  /** Loads now. Concurrent calls share the load in progress and trigger one more after it. */
  refresh(): Promise<RefreshResult> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.loadOnce().finally(() => {
      this.inFlight = null;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.inFlight;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, this.debounceMs);
    this.timer.unref();
  }

  private async loadOnce(): Promise<RefreshResult> {
    const source = this.source.name;
    let next: Snapshot;
    try {
      next = await this.source.load();
    } catch (err) {
      const error = errorMessage(err);
      this.lastError = error;
      this.metrics?.snapshotReloads.inc({ source, result: 'failed' });
      this.metrics?.snapshotFailures.inc({ source });
      // On a first load there is no good snapshot to keep: say what that means instead.
      this.log.error(
        { err: error, keeping: this.snapshot?.version ?? null },
        this.snapshot
          ? 'policy snapshot load failed; keeping the last good snapshot'
          : 'policy snapshot load failed; no snapshot yet: not ready until the source is fixed (`mesh-apim validate` lists every problem)',
      );
      return { status: 'failed', error };
    }
    this.lastError = null;
    const previous = this.snapshot;
    if (previous && previous.version === next.version) {
      this.metrics?.snapshotReloads.inc({ source, result: 'unchanged' });
      return { status: 'unchanged', version: next.version };
    }
    this.swap(next);
    this.metrics?.snapshotReloads.inc({ source, result: 'ok' });
    this.log.info(
      { version: next.version, previous: previous?.version ?? null, apis: next.apis.size },
      'policy snapshot loaded',
    );
    return { status: 'ok', version: next.version, previousVersion: previous?.version ?? null };
  }
}
