/**
 * List + watch over Services, the client-go reflector pattern: list (paginated), then watch from the
 * list's resourceVersion, following it through events and BOOKMARKs. A watch that ends is resumed
 * from the last resourceVersion; 410 Gone (HTTP or an ERROR event) means the history is compacted
 * and we list again, reporting objects that vanished meanwhile as deleted. Errors back off
 * exponentially. A periodic resync hands every cached object to the handler again; the handler
 * decides that nothing changed. Handler calls are serialized; a failed one is retried with backoff.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff } from '../common/backoff.ts';
import type { Logger } from '../common/log.ts';
import type { ServiceObject } from './annotations.ts';
import { ResourceVersionExpired } from './errors.ts';
import type { KubeApi, WatchEventType } from './kube.ts';

export interface ReflectorHandlers {
  upsert(obj: ServiceObject): Promise<void>;
  remove(obj: ServiceObject): Promise<void>;
  /** After each full list, with the keys that exist (handlers may know keys from before a restart). */
  synced?(present: ReadonlySet<string>): Promise<void>;
}

export interface ReflectorOptions {
  namespace: string | null;
  resyncMs: number;
  watchTimeoutSeconds: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  pageSize: number;
  log: Logger;
}

export const keyOf = (o: ServiceObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class Reflector {
  readonly store = new Map<string, ServiceObject>();
  resourceVersion = '';
  readonly stats = { lists: 0, watches: 0, expired: 0, bookmarks: 0, errors: 0, events: 0 };
  private running = false;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private currentWatch: { abort(): void } | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private resolveSynced!: () => void;
  /** Resolves once the first list has been handed to the handlers. */
  readonly synced = new Promise<void>((r) => {
    this.resolveSynced = r;
  });

  constructor(
    private readonly api: KubeApi,
    private readonly handlers: ReflectorHandlers,
    private readonly opts: ReflectorOptions,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    this.currentWatch?.abort();
    await this.loop;
    await this.queue;
  }

  /** Lets every pending handler call finish (tests). */
  idle(): Promise<void> {
    return this.queue;
  }

  resync(): void {
    for (const obj of this.store.values()) this.enqueue('upsert', obj);
  }

  /** Deterministic doubling from backoffInitialMs to backoffMaxMs; jitter, where wanted, is the caller's. */
  private backoff(): Backoff {
    const { backoffInitialMs: min, backoffMaxMs: maxMs } = this.opts;
    return new Backoff({ minMs: Math.min(min, maxMs), maxMs, jitter: 'none' });
  }

  private enqueue(kind: 'upsert' | 'remove', obj: ServiceObject, attempt = 0, retry?: Backoff): void {
    this.queue = this.queue.then(async () => {
      try {
        await this.handlers[kind](obj);
      } catch (err) {
        this.stats.errors++;
        const key = keyOf(obj);
        const backoff = retry ?? this.backoff();
        const delay = backoff.next();
        this.opts.log.error(
          { err, key, kind, attempt, retryInMs: delay },
          'handling a Service change failed',
        );
        if (!this.running) return;
        const t = setTimeout(() => {
          this.retryTimers.delete(t);
          // Retry with the newest state: a later change may have superseded this one.
          const latest = this.store.get(key);
          if (kind === 'upsert' && latest) this.enqueue('upsert', latest, attempt + 1, backoff);
          if (kind === 'remove' && !latest) this.enqueue('remove', obj, attempt + 1, backoff);
        }, delay);
        this.retryTimers.add(t);
      }
    });
  }

  /** A backoff wait that stop() cuts short. */
  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  private enqueueSynced(present: ReadonlySet<string>, retry?: Backoff): void {
    this.queue = this.queue.then(async () => {
      try {
        await this.handlers.synced?.(present);
      } catch (err) {
        this.stats.errors++;
        const backoff = retry ?? this.backoff();
        const delay = backoff.next();
        this.opts.log.error({ err, retryInMs: delay }, 'post-list reconciliation failed');
        if (!this.running) return;
        const t = setTimeout(() => {
          this.retryTimers.delete(t);
          this.enqueueSynced(new Set(this.store.keys()), backoff);
        }, delay);
        this.retryTimers.add(t);
      }
    });
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.api.listServices(this.opts.namespace, this.opts.pageSize);
    this.stats.lists++;
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      this.store.set(key, item);
      this.enqueue('upsert', item);
    }
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.enqueue('remove', old);
      }
    }
    this.resourceVersion = resourceVersion;
    if (this.handlers.synced) this.enqueueSynced(new Set(seen));
    this.opts.log.info({ count: items.length, resourceVersion }, 'listed Services');
  }

  private onEvent(type: WatchEventType, object: Record<string, unknown>, state: { expired: boolean }): void {
    this.stats.events++;
    const rv = (object.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    switch (type) {
      case 'ADDED':
      case 'MODIFIED': {
        const obj = object as ServiceObject;
        this.store.set(keyOf(obj), obj);
        this.enqueue('upsert', obj);
        break;
      }
      case 'DELETED': {
        const obj = object as ServiceObject;
        this.store.delete(keyOf(obj));
        this.enqueue('remove', obj);
        break;
      }
      case 'BOOKMARK':
        this.stats.bookmarks++;
        break;
      case 'ERROR': {
        const status = object as { code?: number; reason?: string; message?: string };
        if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone')
          state.expired = true;
        else this.opts.log.warn({ status }, 'watch ERROR event');
        this.currentWatch?.abort();
        return;
      }
    }
    if (rv) this.resourceVersion = rv;
  }

  private async run(): Promise<void> {
    let needList = true;
    const backoff = this.backoff();
    while (this.running) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          this.resolveSynced();
        }
        const state = { expired: false };
        const before = this.stats.events;
        const handle = await this.api.watchServices(
          this.opts.namespace,
          this.resourceVersion,
          this.opts.watchTimeoutSeconds,
          (type, obj) => this.onEvent(type, obj, state),
        );
        this.stats.watches++;
        // stop() may have run while the watch was connecting: it had nothing to abort then.
        if (!this.running) {
          handle.abort();
          await handle.done.catch(() => undefined);
          break;
        }
        this.currentWatch = handle;
        try {
          await handle.done;
        } catch (err) {
          if (!this.running) break;
          if (!state.expired) throw err;
        } finally {
          this.currentWatch = null;
        }
        if (state.expired)
          throw new ResourceVersionExpired(`resourceVersion ${this.resourceVersion} expired`);
        // A normal end (server timeout): resume at once. An empty stream that ends repeatedly backs off.
        if (this.stats.events > before) backoff.reset();
        else await this.pause(backoff.next());
      } catch (err) {
        if (!this.running) break;
        if (err instanceof ResourceVersionExpired) {
          this.stats.expired++;
          this.opts.log.info(
            { resourceVersion: this.resourceVersion },
            'resourceVersion expired (410): relisting',
          );
          needList = true;
          continue;
        }
        this.stats.errors++;
        const wait = backoff.next();
        this.opts.log.warn({ err, retryInMs: wait }, 'list/watch failed: reconnecting with backoff');
        // +-25 % so that many controllers that lost the API server together do not return together.
        await this.pause(wait * (0.75 + Math.random() / 2));
      }
    }
  }
}
