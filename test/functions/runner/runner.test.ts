import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { MeshApimError } from '../../../common/errors.ts';
import { TOPICS } from '../../../events/topics.ts';
import analyticsPublisher from '../../../functions/analytics-publisher/index.ts';
import type {
  AnalyticsSink,
  SinkItem,
  SinkItemResult,
} from '../../../functions/analytics-publisher/sinks/types.ts';
import type { AnyFunctionDefinition } from '../../../functions/lib/define.ts';
import { startFunctions } from '../../../functions/runner/index.ts';
import { requestAttributes } from '../fixtures.ts';

/** Records every write; fails the first `failures` calls retriably. */
class CountingSink implements AnalyticsSink {
  readonly name = 'counting';
  calls = 0;
  written: string[] = [];
  constructor(private failures = 0) {}
  async write(items: readonly SinkItem[]): Promise<SinkItemResult[]> {
    this.calls++;
    if (this.failures > 0) {
      this.failures--;
      throw new MeshApimError('DOWN', 'sink down', { retriable: true });
    }
    this.written.push(...items.map((i) => i.data.correlationId));
    return items.map(() => ({ ok: true }));
  }
  async close() {}
}

const config = loadConfig({ env: { MESH_APIM_FUNCTIONS_BATCH_SIZE: '7' } });
const topic = TOPICS.requestAttributes.name;

function moduleWith(sink: AnalyticsSink): AnyFunctionDefinition {
  return { ...analyticsPublisher, localOptions: () => ({ sinks: [sink] }) };
}

async function until(cond: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

async function produce(bus: MemoryBus, n: number, prefix = 'r') {
  await bus.produce(
    topic,
    Array.from({ length: n }, (_, i) => {
      const e = requestAttributes({ requestId: `${prefix}-${i}` });
      return { key: e.requestId, value: JSON.stringify(e) };
    }),
  );
}

describe('local runner on a bus', () => {
  it('delivers every record in Lambda-shaped batches of at most batchSize and dead-letters poison', async () => {
    const bus = new MemoryBus(3);
    await produce(bus, 40);
    await bus.produce(topic, [{ key: 'x', value: '{broken' }]);
    const sink = new CountingSink();
    const running = await startFunctions(config, bus, { modules: [moduleWith(sink)] });
    try {
      await until(() => sink.written.length === 40 && bus.records(TOPICS.deadLetter.name).length === 1);
      expect(new Set(sink.written).size).toBe(40);
      // batches are per partition and at most batchSize
      expect(sink.calls).toBeGreaterThanOrEqual(Math.ceil(40 / 7));
    } finally {
      await running.stop();
    }
  });

  it('a retriable failure is retried with backoff; offsets are committed only after success', async () => {
    const bus = new MemoryBus(1);
    await produce(bus, 5);
    const sink = new CountingSink(2);
    const running = await startFunctions(config, bus, { modules: [moduleWith(sink)] });
    await until(() => sink.written.length === 5);
    await running.stop();
    expect(sink.calls).toBe(3);
    // A restart resumes after the committed batch: nothing is delivered twice.
    const again = new CountingSink();
    const r2 = await startFunctions(config, bus, { modules: [moduleWith(again)] });
    await produce(bus, 2, 'late');
    await until(() => again.written.length === 2);
    await sleep(50);
    await r2.stop();
    expect(again.written).toEqual(['late-0', 'late-1']);
  });

  it('both event shapes drive the handler the same way', async () => {
    for (const shape of ['msk', 'self-managed'] as const) {
      const bus = new MemoryBus(2);
      await produce(bus, 9);
      const sink = new CountingSink();
      const running = await startFunctions(config, bus, { modules: [moduleWith(sink)], shape });
      await until(() => sink.written.length === 9);
      await running.stop();
    }
  });

  it('starts the registered functions by default and rejects unknown ones', async () => {
    const bus = new MemoryBus();
    await expect(startFunctions(config, bus, { only: ['nope'] })).rejects.toThrow(/unknown function "nope"/);
  });
});
