import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import { type Config, loadConfig } from '../../../common/config/index.ts';
import { createLogger } from '../../../common/log.ts';
import type { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { Usage } from '../../../events/usage.ts';
import { UsageMeterState } from '../../../events/usage-meter-state.ts';
import {
  buildLambdaKafkaEvent,
  busDeps,
  type FunctionDeps,
  inRecordsFromValues,
  instantiateLocal,
} from '../../../functions/lib/index.ts';
import usageMetering, {
  lambdaStore,
  meteringLambdaHandler,
  stateFileOf,
} from '../../../functions/usage-metering/index.ts';
import { FileStateStore } from '../../../functions/usage-metering/state-store.ts';
import { requestAttributes } from '../fixtures.ts';

function ev(seq: number, at: string): RequestAttributes {
  const checkId = `adapter-0~boot1:${seq}`;
  return {
    ...requestAttributes({ requestId: `r-${seq}`, receivedAt: at }),
    checkId,
    eventId: `als:${checkId}`,
  };
}
const at = (m: number) => `2026-11-26T04:${String(m).padStart(2, '0')}:00.000Z`;
const hour4 = Array.from({ length: 20 }, (_, i) => ev(i, at(i * 2)));
const closer = ev(1000, '2026-11-26T05:06:00.000Z');

/** A Lambda "container": its own deps and handler over a shared bus (the Kafka cluster). */
function container(bus: MemoryBus, config: Config, clock: { now: number }) {
  const deps: FunctionDeps = {
    ...busDeps(bus, config, createLogger('test')),
    now: () => new Date(clock.now),
  };
  const handler = meteringLambdaHandler(
    () => deps,
    (c) => lambdaStore(c, bus),
  );
  return {
    batch: (events: RequestAttributes[], firstOffset: number) =>
      handler(
        buildLambdaKafkaEvent(inRecordsFromValues(TOPICS.requestAttributes.name, events, { firstOffset }), {
          shape: 'msk',
        }),
      ),
    schedule: () => handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }),
  };
}

const usageOf = (bus: MemoryBus) =>
  bus.records(TOPICS.usage.name).map((r) => Usage.parse(JSON.parse(r.value!.toString())));

const lambdaConfig = () =>
  loadConfig({
    env: { MESH_APIM_FUNCTIONS_USAGE_STATE_TOPIC: 'true', MESH_APIM_FUNCTIONS_USAGE_LATENESS_MS: '300000' },
  });

describe('usage-metering on Lambda: state in the compacted usage-meter-state topic', () => {
  it('a cold start mid-hour loses nothing and counts nothing twice (redelivered batch, stale container)', async () => {
    const bus = new MemoryBus();
    const config = lambdaConfig();
    const clock = { now: Date.parse(at(30)) };
    const a = container(bus, config, clock);
    await a.batch(hour4.slice(0, 8), 0);
    // Batch 2 is processed and its state saved, but the container dies before Lambda commits it.
    await a.batch(hour4.slice(8, 12), 8);
    // Each batch of the one hour wrote that hour's segment, then the head.
    const saved = bus
      .records(TOPICS.usageMeterState.name)
      .map((r) => UsageMeterState.parse(JSON.parse(r.value!.toString())));
    expect(saved.map((r) => ('kind' in r ? r.kind : 'whole'))).toEqual([
      'segment',
      'head',
      'segment',
      'head',
    ]);
    expect(saved[3]!.consumer).toBe('usage-metering');

    const b = container(bus, config, clock); // cold start: empty memory
    expect(await b.batch(hour4.slice(8, 12), 8)).toMatchObject({ processed: 0, skipped: 4 });
    await b.batch(hour4.slice(12), 12);
    // Container A comes back (warm, older memory) for the next batch: it reloads instead of overwriting.
    await a.batch([closer], 20);
    const out = usageOf(bus);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ revision: 1, counts: { allowed: 20 } });
  });

  it("the schedule closes an idle partition's last hour by the clock after end + lateness; a late event amends it", async () => {
    const bus = new MemoryBus();
    const config = lambdaConfig();
    const clock = { now: Date.parse(at(40)) };
    await container(bus, config, clock).batch(hour4, 0);
    clock.now = Date.parse('2026-11-26T05:04:59.000Z'); // end + lateness not reached
    expect(await container(bus, config, clock).schedule()).toEqual({ scheduled: true, published: 0 });
    clock.now = Date.parse('2026-11-26T05:05:00.000Z');
    // A cold container serves the schedule: it has the state from the topic.
    expect(await container(bus, config, clock).schedule()).toEqual({ scheduled: true, published: 1 });
    expect(usageOf(bus)[0]).toMatchObject({ revision: 1, counts: { allowed: 20 } });
    await container(bus, config, clock).batch([ev(50, '2026-11-26T04:59:30.000Z')], 20);
    expect(usageOf(bus).map((u) => [u.revision, u.counts.allowed, u.lateEvents])).toEqual([
      [1, 20, 0],
      [2, 21, 1],
    ]);
  });

  it('a partition that had a batch within the lateness is not closed by the clock', async () => {
    const bus = new MemoryBus();
    const clock = { now: Date.parse('2026-11-26T05:03:00.000Z') }; // batch arrives late, at 05:03
    const c = container(bus, lambdaConfig(), clock);
    await c.batch(hour4, 0);
    clock.now = Date.parse('2026-11-26T05:06:00.000Z'); // 3 min after its last batch: not idle
    expect(await c.schedule()).toEqual({ scheduled: true, published: 0 });
    clock.now = Date.parse('2026-11-26T05:08:00.000Z');
    expect(await c.schedule()).toEqual({ scheduled: true, published: 1 });
  });
});

describe('usage-metering in the local runner: idle timer and state file lock', () => {
  const runnerConfig = (dir: string, env: Record<string, string> = {}) =>
    loadConfig({ env: { DATA_DIR: dir, MESH_APIM_FUNCTIONS_USAGE_CLOSE_IDLE_MS: '20', ...env } });

  it("the timer closes the idle partition's hour (injected clock)", async () => {
    const config = runnerConfig(mkdtempSync(join(tmpdir(), 'usage-timer-')));
    const bus = new MemoryBus();
    const clock = { now: Date.parse(at(40)) };
    const deps: FunctionDeps = {
      ...busDeps(bus, config, createLogger('test')),
      now: () => new Date(clock.now),
    };
    const inst = instantiateLocal(usageMetering, deps);
    try {
      await inst.handler(
        buildLambdaKafkaEvent(inRecordsFromValues(TOPICS.requestAttributes.name, hour4), {
          shape: 'self-managed',
        }),
      );
      await new Promise((r) => setTimeout(r, 80));
      expect(usageOf(bus)).toHaveLength(0); // 04:40: the hour is open
      clock.now = Date.parse('2026-11-26T05:05:00.000Z');
      const end = Date.now() + 5000;
      while (usageOf(bus).length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      expect(usageOf(bus)).toHaveLength(1);
      expect(usageOf(bus)[0]).toMatchObject({ counts: { allowed: 20 } });
    } finally {
      await inst.close();
    }
  });

  it('a second runner on the same data dir refuses to start; another runner id gets its own file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'usage-lock-'));
    const bus = new MemoryBus();
    const first = instantiateLocal(usageMetering, busDeps(bus, runnerConfig(dir), createLogger('test')));
    try {
      expect(() =>
        instantiateLocal(usageMetering, busDeps(bus, runnerConfig(dir), createLogger('test'))),
      ).toThrow(/USAGE_STATE_LOCKED|locked by another runner/);
      const other = runnerConfig(dir, { MESH_APIM_FUNCTIONS_USAGE_RUNNER_ID: 'b' });
      const second = instantiateLocal(usageMetering, busDeps(bus, other, createLogger('test')));
      expect(stateFileOf(other)).toMatch(/meter-state-b\.jsonl$/);
      await second.close();
    } finally {
      await first.close();
    }
    // Released on close: the next runner starts.
    const again = instantiateLocal(usageMetering, busDeps(bus, runnerConfig(dir), createLogger('test')));
    await again.close();
    expect(existsSync(`${stateFileOf(runnerConfig(dir))}.lock`)).toBe(false);
  });

  it('the lock of a process that died (SIGKILL) is taken over', () => {
    const dir = mkdtempSync(join(tmpdir(), 'usage-stale-'));
    const file = join(dir, 'usage', 'meter-state.jsonl');
    const dead = spawnSync(process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]).stdout.toString();
    new FileStateStore(file).lock().close(); // creates the directory
    writeFileSync(`${file}.lock`, JSON.stringify({ host: hostname(), pid: Number(dead), token: 'x' }));
    expect(() => new FileStateStore(file).lock()).not.toThrow();
  });
});
