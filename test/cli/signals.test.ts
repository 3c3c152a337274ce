import { afterEach, describe, expect, it } from 'vitest';
import { runUntilSignal } from '../../cli/signals.ts';
import { createLogger } from '../../common/log.ts';

// The listeners runUntilSignal installs stay for the process's life (a late signal must not kill a
// stopping process); a test removes the ones it added so the worker keeps its own signal handling.
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
const before = new Map(SIGNALS.map((s) => [s, process.listeners(s)]));
afterEach(() => {
  for (const s of SIGNALS) {
    for (const l of process.listeners(s)) if (!before.get(s)!.includes(l)) process.off(s, l);
  }
});

const log = createLogger('test');

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('runUntilSignal', () => {
  it('a SIGTERM while the start is still running stops the process once started, instead of killing it', async () => {
    const started = deferred<{ stop(): Promise<void> }>();
    const events: string[] = [];
    const running = {
      stop: async () => {
        events.push('stop');
      },
    };
    const done = runUntilSignal(
      () => started.promise,
      log,
      () => events.push('started'),
    );
    // Without a listener yet, this signal would take the default action (the process dies).
    expect(process.listenerCount('SIGTERM')).toBeGreaterThan(before.get('SIGTERM')!.length);
    process.emit('SIGTERM', 'SIGTERM');
    await new Promise((r) => setTimeout(r, 5));
    expect(events).toEqual([]);
    started.resolve(running);
    expect(await done).toBe(0);
    expect(events).toEqual(['started', 'stop']);
  });

  it('a second signal during the stop is ignored: the stop runs once, to its end', async () => {
    const stopping = deferred<void>();
    let stops = 0;
    const running = {
      stop: async () => {
        stops++;
        await stopping.promise;
      },
    };
    const done = runUntilSignal(async () => running, log);
    await new Promise((r) => setTimeout(r, 1));
    process.emit('SIGINT', 'SIGINT');
    await new Promise((r) => setTimeout(r, 1));
    process.emit('SIGTERM', 'SIGTERM');
    stopping.resolve();
    expect(await done).toBe(0);
    expect(stops).toBe(1);
  });

  it('a failing start rejects (exit 1 from cli/main.ts) and stops nothing', async () => {
    await expect(runUntilSignal(() => Promise.reject(new Error('port in use')), log)).rejects.toThrow(
      'port in use',
    );
  });
});
