import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { createLogger } from '../../../common/log.ts';
import { DeadLetter } from '../../../events/dead-letter.ts';
import type { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { Usage } from '../../../events/usage.ts';
import { buildLambdaKafkaEvent, busDeps, inRecordsFromValues } from '../../../functions/lib/index.ts';
import { loadFunction } from '../../../functions/registry.ts';
import usageMetering, { create, stateFileOf } from '../../../functions/usage-metering/index.ts';
import { FileStateStore } from '../../../functions/usage-metering/state-store.ts';
import { requestAttributes } from '../fixtures.ts';

function ev(seq: number, at: string, over: Partial<RequestAttributes> = {}): RequestAttributes {
  const checkId = `adapter-0~boot1:${seq}`;
  return {
    ...requestAttributes({ requestId: `r-${seq}`, receivedAt: at }),
    checkId,
    eventId: `als:${checkId}`,
    ...over,
  };
}

const hour4 = Array.from({ length: 20 }, (_, i) =>
  ev(i, `2026-11-26T04:${String(i * 2).padStart(2, '0')}:00.000Z`),
);
const closer = ev(1000, '2026-11-26T05:06:00.000Z');

function setup(env: Record<string, string> = {}) {
  const config = loadConfig({ env: { MESH_APIM_FUNCTIONS_USAGE_LATENESS_MS: '300000', ...env } });
  const bus = new MemoryBus();
  const deps = busDeps(bus, config, createLogger('test'));
  const handler = create(deps).handler;
  const usage = () => bus.records(TOPICS.usage.name).map((r) => Usage.parse(JSON.parse(r.value!.toString())));
  const batch = (
    events: RequestAttributes[],
    firstOffset = 0,
    shape: 'msk' | 'self-managed' = 'self-managed',
  ) =>
    handler(
      buildLambdaKafkaEvent(inRecordsFromValues(TOPICS.requestAttributes.name, events, { firstOffset }), {
        shape,
      }),
    );
  return { bus, batch, usage };
}

describe('usage-metering handler', () => {
  it('is registered for the local runner on request-attributes', async () => {
    expect((await loadFunction('usage-metering'))?.topics).toEqual([TOPICS.requestAttributes]);
    expect(usageMetering.name).toBe('usage-metering');
  });

  for (const shape of ['msk', 'self-managed'] as const) {
    it(`${shape}: a batch delivered twice counts once; the closed window is published once`, async () => {
      const { batch, usage } = setup();
      const first = await batch(hour4, 0, shape);
      expect(first).toMatchObject({ records: 20, processed: 20, skipped: 0 });
      const again = await batch(hour4, 0, shape);
      expect(again).toMatchObject({ records: 20, processed: 0, skipped: 20 });
      await batch([closer], 20, shape);
      const out = usage();
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({
        revision: 1,
        counts: { allowed: 20, throttled: 0 },
        responseBytes: 20 * 512,
      });
    });
  }

  it('replaying the whole range (new offsets, same events) publishes nothing new', async () => {
    const { batch, usage } = setup();
    await batch([...hour4, closer]);
    expect(usage()).toHaveLength(1);
    const replay = await batch([...hour4, closer], 21);
    expect(replay.skipped).toBe(21);
    expect(usage()).toHaveLength(1);
  });

  it('a late event publishes revision 2 with the amended totals', async () => {
    const { batch, usage } = setup();
    await batch([...hour4, closer]);
    await batch([ev(21, '2026-11-26T04:59:59.000Z')], 21);
    const out = usage();
    expect(out.map((u) => [u.revision, u.counts.allowed, u.lateEvents])).toEqual([
      [1, 20, 0],
      [2, 21, 1],
    ]);
    expect(out[0]!.windowId).toBe(out[1]!.windowId);
  });

  it('a failed publish fails the batch; its redelivery counts nothing twice and publishes the window', async () => {
    const { bus, batch, usage } = setup();
    await batch(hour4);
    bus.failProduce = new Error('broker down');
    await expect(batch([closer], 20)).rejects.toThrow();
    bus.failProduce = null;
    const retry = await batch([closer], 20);
    expect(retry).toMatchObject({ processed: 0, skipped: 1 });
    const out = usage();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ revision: 1, counts: { allowed: 20 } });
  });

  it('an event of an hour no longer retained is dead-lettered, not dropped nor recounted', async () => {
    const { bus, batch } = setup({ MESH_APIM_FUNCTIONS_USAGE_RETAIN_CLOSED_MS: '3600000' });
    await batch([...hour4, closer]);
    await batch([ev(2000, '2026-11-26T06:10:00.000Z')], 21);
    const s = await batch([hour4[0]!], 22);
    expect(s.deadLettered).toBe(1);
    const letters = bus
      .records(TOPICS.deadLetter.name)
      .map((r) => DeadLetter.parse(JSON.parse(r.value!.toString())));
    expect(letters).toHaveLength(1);
    expect(letters[0]!.error.code).toBe('USAGE_BEYOND_RETENTION');
  });
});

describe('usage-metering in the local runner (npm start)', () => {
  it('consumes request-attributes from the bus and publishes the closed window to the usage topic', async () => {
    const { startFunctions } = await import('../../../functions/runner/index.ts');
    const config = loadConfig({ env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'usage-runner-')) } });
    const bus = new MemoryBus();
    const running = await startFunctions(config, bus, {
      only: ['usage-metering'],
      logger: createLogger('test'),
    });
    try {
      expect(running.names).toEqual(['usage-metering']);
      await bus.produce(
        TOPICS.requestAttributes.name,
        [...hour4, closer].map((e) => ({ key: e.requestId, value: JSON.stringify(e) })),
      );
      const end = Date.now() + 10_000;
      while (bus.records(TOPICS.usage.name).length === 0 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const out = bus.records(TOPICS.usage.name).map((r) => Usage.parse(JSON.parse(r.value!.toString())));
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({ revision: 1, counts: { allowed: 20 } });
    } finally {
      await running.stop();
    }
  });
});

describe('usage-metering state file (local runner restarts)', () => {
  it('a restarted process restores windows and seen ranges: the redelivered batch counts once, the window closes with every count', async () => {
    const config = loadConfig({ env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'usage-state-')) } });
    const stateFile = stateFileOf(config);
    const bus = new MemoryBus();
    const deps = busDeps(bus, config, createLogger('test'));
    const run = async (events: RequestAttributes[], firstOffset: number) => {
      // A new definition = new memory; the lock is released like a dead process's would be.
      const fn = create(deps, { store: new FileStateStore(stateFile).lock() });
      try {
        return await fn.handler(
          buildLambdaKafkaEvent(inRecordsFromValues(TOPICS.requestAttributes.name, events, { firstOffset }), {
            shape: 'self-managed',
          }),
        );
      } finally {
        await fn.close();
      }
    };
    // Process 1 counts the first half, then "crashes" before its offsets were committed.
    await run(hour4.slice(0, 10), 0);
    expect(existsSync(stateFile)).toBe(true);
    // Process 2 gets the batch again, then the rest.
    const again = await run(hour4.slice(0, 10), 0);
    expect(again).toMatchObject({ processed: 0, skipped: 10 });
    await run([...hour4.slice(10), closer], 10);
    const out = bus.records(TOPICS.usage.name).map((r) => Usage.parse(JSON.parse(r.value!.toString())));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ revision: 1, counts: { allowed: 20 } });
  });
});
