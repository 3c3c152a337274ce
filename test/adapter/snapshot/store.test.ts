/**
 * adapter/snapshot/store.ts on its own, over a scripted SnapshotSource: the atomic swap, the last
 * good snapshot kept on a failed load, unchanged versions, serialized loads, debounced watch
 * notifications, swap listeners, and the metrics it keeps.
 */
import { describe, expect, it, vi } from 'vitest';
import { createAdapterMetrics } from '../../../adapter/metrics.ts';
import { compileSnapshot } from '../../../adapter/snapshot/compile.ts';
import type { SnapshotSource } from '../../../adapter/snapshot/source.ts';
import { SnapshotStore } from '../../../adapter/snapshot/store.ts';
import type { Snapshot } from '../../../adapter/snapshot/types.ts';
import { loadStandaloneData } from '../../../adapter/standalone/source.ts';
import type { Logger } from '../../../common/log.ts';

/** A snapshot with one API per name: different names, different content, different version. */
function snapshotOf(...names: string[]): Snapshot {
  return compileSnapshot(
    {
      apis: names.map((name) => ({
        name,
        version: 'v1',
        context: `/${name}`,
        resources: [{ method: 'GET', path: '/*' }],
      })),
    },
    { source: 'scripted' },
  );
}

/** A source that answers each load() with the next scripted step; watch() hands out its trigger. */
function scripted(...steps: (Snapshot | Error)[]) {
  let notify: (() => void) | null = null;
  const source = {
    name: 'scripted',
    loads: 0,
    unwatched: false,
    /** Resolves the load in progress (loads wait for it when `hold` is set). */
    hold: null as Promise<void> | null,
    async load(): Promise<Snapshot> {
      source.loads += 1;
      if (source.hold) await source.hold;
      const step = steps.length > 1 ? steps.shift()! : steps[0]!;
      if (step instanceof Error) throw step;
      return step;
    },
    watch(onChange: () => void) {
      notify = onChange;
      return () => {
        source.unwatched = true;
        notify = null;
      };
    },
    change() {
      notify?.();
    },
  } satisfies SnapshotSource & Record<string, unknown>;
  return source;
}

const quiet = () => ({ error: vi.fn(), info: vi.fn(), warn: vi.fn(), debug: vi.fn() }) as unknown as Logger;

describe('SnapshotStore failure messages', () => {
  it('a failed first load does not claim to keep a last good snapshot; a later failure does', async () => {
    let broken = true;
    const source: SnapshotSource = {
      name: 'test',
      async load() {
        if (broken) throw new Error('config/standalone.yaml: apis[0].colour: unknown key');
        return compileSnapshot(loadStandaloneData('config/standalone.yaml', null).data, { source: 'test' });
      },
    };
    const error = vi.fn();
    const logger = { error, info: vi.fn(), warn: vi.fn(), debug: vi.fn() } as unknown as Logger;
    const store = new SnapshotStore(source, { logger });
    expect((await store.refresh()).status).toBe('failed');
    expect(error.mock.calls[0]![1]).toMatch(/no snapshot yet: not ready until the source is fixed/);
    expect(error.mock.calls[0]![1]).not.toMatch(/keeping/);
    broken = false;
    expect((await store.refresh()).status).toBe('ok');
    broken = true;
    expect((await store.refresh()).status).toBe('failed');
    expect(error.mock.calls[1]![1]).toMatch(/keeping the last good snapshot/);
  });
});

describe('SnapshotStore', () => {
  it('is not ready before the first load; a load swaps the snapshot in and reports both versions', async () => {
    const a = snapshotOf('a');
    const b = snapshotOf('b');
    const store = new SnapshotStore(scripted(a, b), { logger: quiet() });
    expect(store.ready).toBe(false);
    expect(store.current()).toBeNull();
    expect(await store.refresh()).toEqual({ status: 'ok', version: a.version, previousVersion: null });
    expect(store.ready).toBe(true);
    expect(store.current()).toBe(a);
    expect(await store.refresh()).toEqual({ status: 'ok', version: b.version, previousVersion: a.version });
    expect(store.current()).toBe(b);
  });

  it('the same version again is unchanged: the snapshot in force stays, no listener is called', async () => {
    const a = snapshotOf('a');
    const store = new SnapshotStore(scripted(a, snapshotOf('a')), { logger: quiet() });
    const swapped = vi.fn();
    store.onSwap(swapped);
    await store.refresh();
    expect(await store.refresh()).toEqual({ status: 'unchanged', version: a.version });
    expect(store.current()).toBe(a);
    expect(swapped).toHaveBeenCalledTimes(1);
  });

  it('a failed load keeps the last good snapshot and says why; the next good load clears the error', async () => {
    const a = snapshotOf('a');
    const b = snapshotOf('b');
    const store = new SnapshotStore(scripted(a, new Error('apis[0].context: required'), b), {
      logger: quiet(),
    });
    await store.refresh();
    expect(await store.refresh()).toEqual({ status: 'failed', error: 'apis[0].context: required' });
    expect(store.current()).toBe(a);
    expect(store.ready).toBe(true);
    expect(store.error).toBe('apis[0].context: required');
    expect((await store.refresh()).status).toBe('ok');
    expect(store.error).toBeNull();
    expect(store.current()).toBe(b);
  });

  it('loads are serialized: calls during a load share it and run exactly one more after it', async () => {
    const source = scripted(snapshotOf('a'), snapshotOf('b'), snapshotOf('c'));
    let release!: () => void;
    source.hold = new Promise((r) => {
      release = r;
    });
    const store = new SnapshotStore(source, { logger: quiet() });
    const first = store.refresh();
    const second = store.refresh();
    const third = store.refresh();
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(source.loads).toBe(1);
    release();
    source.hold = null;
    expect((await first).status).toBe('ok');
    await vi.waitFor(() => expect(store.current()?.apis.has('b-v1')).toBe(true));
    await new Promise((r) => setTimeout(r, 20));
    expect(source.loads).toBe(2);
  });

  it('start() loads, then follows the source: notifications within the debounce make one load; stop() ends it', async () => {
    vi.useFakeTimers();
    try {
      const source = scripted(snapshotOf('a'), snapshotOf('b'), snapshotOf('c'));
      const store = new SnapshotStore(source, { logger: quiet(), debounceMs: 100 });
      expect((await store.start()).status).toBe('ok');
      source.change();
      await vi.advanceTimersByTimeAsync(50);
      source.change();
      source.change();
      await vi.advanceTimersByTimeAsync(99);
      expect(source.loads).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(source.loads).toBe(2);
      expect(store.current()?.apis.has('b-v1')).toBe(true);
      // A notification pending at stop() never loads.
      source.change();
      store.stop();
      expect(source.unwatched).toBe(true);
      await vi.advanceTimersByTimeAsync(1000);
      expect(source.loads).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('swap() installs a snapshot built elsewhere; listeners see each swap, a throwing one is logged and the rest still run', async () => {
    const logger = quiet();
    const store = new SnapshotStore(scripted(snapshotOf('a')), { logger });
    const seen: string[] = [];
    store.onSwap(() => {
      throw new Error('listener broke');
    });
    const off = store.onSwap((s) => seen.push(s.version));
    const pushed = snapshotOf('pushed');
    store.swap(pushed);
    expect(store.current()).toBe(pushed);
    expect(seen).toEqual([pushed.version]);
    expect(logger.error).toHaveBeenCalledWith({ err: 'listener broke' }, 'snapshot listener failed');
    off();
    store.swap(snapshotOf('later'));
    expect(seen).toEqual([pushed.version]);
  });

  it('counts loads by result and names the version in force', async () => {
    const metrics = createAdapterMetrics();
    const a = snapshotOf('a');
    const b = snapshotOf('b');
    const store = new SnapshotStore(scripted(a, snapshotOf('a'), new Error('down'), b), {
      logger: quiet(),
      metrics,
    });
    for (let i = 0; i < 4; i++) await store.refresh();
    const value = async (name: string, labels: Record<string, string>) =>
      (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) =>
        Object.entries(labels).every(([k, l]) => v.labels[k] === l),
      )?.value;
    expect(await value('mesh_apim_snapshot_reloads_total', { result: 'ok' })).toBe(2);
    expect(await value('mesh_apim_snapshot_reloads_total', { result: 'unchanged' })).toBe(1);
    expect(await value('mesh_apim_snapshot_reloads_total', { result: 'failed' })).toBe(1);
    expect(await value('mesh_apim_snapshot_failures_total', { source: 'scripted' })).toBe(1);
    expect(await value('mesh_apim_snapshot_loaded', { source: 'scripted' })).toBe(1);
    const info = (await metrics.registry.getSingleMetric('mesh_apim_snapshot_info')!.get()).values;
    // Only the version in force: the previous one's series is reset on a swap.
    expect(info.map((v) => v.labels.version)).toEqual([b.version]);
  });
});
