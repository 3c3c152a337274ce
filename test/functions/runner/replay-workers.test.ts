import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMBEDDED_BUS_DEFAULTS } from '../../../bus/config.ts';
import { EmbeddedBus } from '../../../bus/embedded/index.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { MeshApimError } from '../../../common/errors.ts';
import { createLogger } from '../../../common/log.ts';
import { TOPICS } from '../../../events/topics.ts';
import { create } from '../../../functions/analytics-publisher/index.ts';
import { createSinks } from '../../../functions/analytics-publisher/publisher.ts';
import { replayFileName } from '../../../functions/analytics-publisher/sinks/file.ts';
import type { AnalyticsSink, SinkItem } from '../../../functions/analytics-publisher/sinks/types.ts';
import { busDeps } from '../../../functions/lib/index.ts';
import { replay } from '../../../functions/runner/replay.ts';
import { analyticsReplayWorkers } from '../../../functions/runner/replay-analytics.ts';
import { Sequencer } from '../../../functions/runner/replay-pool.ts';
import { requestAttributes } from '../fixtures.ts';

const FROM = '2026-11-26T00:00:00Z';
const TO = '2026-11-26T01:00:00Z';
const topic = TOPICS.requestAttributes.name;
const silent = createLogger('test');
silent.level = 'warn';

describe('Sequencer: each service applies its calls in batch order', () => {
  const deferred = () => {
    let resolve!: () => void;
    const p = new Promise<void>((r) => {
      resolve = r;
    });
    return { p, resolve };
  };

  it('holds a later batch until every earlier one made its call or completed; a retry of a released batch runs at once', async () => {
    const s = new Sequencer(['sink']);
    const applied: number[] = [];
    const call = (seq: number) => s.call('sink', seq, async () => void applied.push(seq));
    const c2 = call(2);
    const c1 = call(1);
    await new Promise((r) => setImmediate(r));
    expect(applied).toEqual([]); // batch 0 has neither written nor completed
    s.complete(0); // batch 0 wrote nothing (every record skipped)
    await Promise.all([c1, c2]);
    expect(applied).toEqual([1, 2]);
    await call(1); // a retry of batch 1 after its write went through
    expect(applied).toEqual([1, 2, 1]);
    const gate = deferred();
    const c4 = call(4);
    const c3 = s.call('sink', 3, async () => {
      await gate.p; // one call at a time per service
      applied.push(3);
    });
    await new Promise((r) => setImmediate(r));
    expect(applied).toEqual([1, 2, 1]);
    gate.resolve();
    await Promise.all([c3, c4]);
    expect(applied).toEqual([1, 2, 1, 3, 4]);
  });

  it('after a batch fails for good, later batches are refused and earlier ones still go through', async () => {
    const s = new Sequencer(['sink']);
    const applied: number[] = [];
    const call = (seq: number) => s.call('sink', seq, async () => void applied.push(seq));
    const later = call(3);
    const earlier = call(1);
    s.abortAfter(2, new Error('batch 2 failed'));
    await expect(later).rejects.toThrow(/batch 2 failed/);
    await expect(call(5)).rejects.toThrow(/batch 2 failed/);
    s.complete(0);
    await earlier;
    expect(applied).toEqual([1]);
  });
});

describe('replay on worker threads over the embedded log', () => {
  let dataDir: string;
  let bus: EmbeddedBus;
  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-replay-w-'));
    bus = new EmbeddedBus({
      ...EMBEDDED_BUS_DEFAULTS,
      dir: path.join(dataDir, 'bus'),
      fsync: false,
      logger: silent,
    });
    await bus.ensureTopics([{ name: topic, partitions: 3, retentionMs: -1, cleanupPolicy: 'delete' }]);
    const base = Date.parse(FROM);
    // 30 records inside the hour, 5 before, 5 after, across 3 partitions; 2 poison inside.
    const recs = [];
    for (let i = -5; i < 35; i++) {
      const e = requestAttributes({ requestId: `r-${i}` });
      recs.push({ key: e.requestId, value: JSON.stringify(e), timestamp: base + i * 120_000 });
    }
    recs.push(
      { key: 'p1', value: '{oops', timestamp: base + 60_000 },
      { key: 'p2', value: '[]', timestamp: base + 61_000 },
    );
    recs.sort((a, b) => a.timestamp - b.timestamp);
    await bus.produce(topic, recs);
  });
  afterEach(async () => {
    await bus.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const config = () =>
    loadConfig({ env: { DATA_DIR: dataDir, MESH_APIM_FUNCTIONS_ANALYTICS_FILE_FSYNC: 'false' } });
  const file = () => path.join(dataDir, 'analytics', `${replayFileName(FROM, TO)}.log`);
  // The line without its hh:mm:ss prefix (the time of writing).
  const lines = () =>
    readFileSync(file(), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(l.indexOf(' ')));
  const deadLetters = async () => {
    const out: { source: { offset: string }; error: { stage: string; code: string; message: string } }[] = [];
    for (const p of await bus.endOffsets(TOPICS.deadLetter.name)) {
      for (const r of await bus.read(TOPICS.deadLetter.name, p.partition, '0', 1000))
        out.push(JSON.parse(r.value!.toString()));
    }
    return out.map((l) => `${l.source.offset} ${l.error.stage} ${l.error.code} ${l.error.message}`).sort();
  };

  async function run(workers: number, sinksOf?: (c: ReturnType<typeof config>) => AnalyticsSink[]) {
    const c = config();
    const deps = busDeps(bus, c, silent);
    const sinks =
      sinksOf?.(c) ?? createSinks(c, deps, { fileName: replayFileName(FROM, TO), truncateFile: true });
    const inst = create(deps, { sinks });
    const progress: number[] = [];
    try {
      const summary = await replay({
        bus,
        topic,
        fromMs: Date.parse(FROM),
        toMs: Date.parse(TO),
        handler: inst.handler,
        functionName: 'analytics-publisher',
        batchSize: 4,
        backoffMs: 10,
        onProgress: (p) => progress.push(p.read),
        ...(workers > 0
          ? {
              workers: analyticsReplayWorkers({
                count: workers,
                config: c,
                sinks,
                deadLetters: deps.deadLetters,
              }),
            }
          : {}),
      });
      return { summary: { ...summary, elapsedMs: 0 }, progress };
    } finally {
      await inst.close();
    }
  }

  it('writes the lines an in-process replay writes, in its order, twice without duplicates; poison goes to the dead-letter topic with its reason', async () => {
    const inProcess = await run(0);
    const expected = lines();
    const lettersInProcess = await deadLetters();
    expect(inProcess.summary).toMatchObject({ read: 32, total: 32, published: 30, deadLettered: 2 });
    expect(expected).toHaveLength(30);
    for (let round = 0; round < 2; round++) {
      const onWorkers = await run(2);
      expect(onWorkers.summary).toEqual(inProcess.summary);
      expect(lines()).toEqual(expected);
      expect(onWorkers.progress.at(-1)).toBe(32);
      expect(onWorkers.progress).toEqual([...onWorkers.progress].sort((a, b) => a - b));
    }
    const letters = await deadLetters();
    // each run dead-letters the two poison records once, with the in-process run's reasons
    expect(letters).toHaveLength(6);
    expect([...new Set(letters)]).toEqual([...new Set(lettersInProcess)]);
    expect(lettersInProcess.map((l) => l.split(' ').slice(1, 3).join(' ')).sort()).toEqual([
      'decode RECORD_UNDECODABLE',
      'validate RECORD_SCHEMA_INVALID',
    ]);
  });

  it('a sink failing retriably retries its batch and keeps the order; an item the sink rejects for good is dead-lettered', async () => {
    const reference: string[] = [];
    await run(0, () => [recording(reference)]);
    const written: string[] = [];
    let failures = 0;
    const flaky: AnalyticsSink = {
      name: 'http',
      async write(items) {
        // The third batch that reaches the sink fails twice (sink down), then goes through.
        if (items.some((i) => i.eventId === reference[9]) && failures++ < 2)
          throw new MeshApimError('SINK_UNAVAILABLE', 'down', { retriable: true });
        written.push(...items.map((i) => i.eventId));
        return items.map((i) =>
          i.eventId === reference[0]
            ? { ok: false, error: new MeshApimError('REJECTED', 'mapping refused', { retriable: false }) }
            : { ok: true },
        );
      },
      close: async () => {},
    };
    const { summary } = await run(2, () => [flaky]);
    expect(summary.retries).toBe(2);
    expect(written).toEqual(reference);
    expect(summary).toMatchObject({ read: 32, published: 29, deadLettered: 3 });
    expect((await deadLetters()).filter((l) => l.endsWith('process REJECTED mapping refused'))).toHaveLength(
      1,
    );
  });

  it('--partition and --rate hold on workers', async () => {
    const c = config();
    const deps = busDeps(bus, c, silent);
    const seen: string[] = [];
    const sinks = [recording(seen)];
    const inst = create(deps, { sinks });
    const common = {
      bus,
      topic,
      fromMs: Date.parse(FROM),
      toMs: Date.parse(TO),
      handler: inst.handler,
      functionName: 'analytics-publisher',
      batchSize: 4,
      workers: analyticsReplayWorkers({ count: 2, config: c, sinks, deadLetters: deps.deadLetters }),
    };
    const all = await replay({ ...common, workers: undefined });
    const p1 = all.partitions.find((p) => p.partition === 1)!;
    const only = await replay({ ...common, partitions: [1] });
    expect(only.partitions).toEqual([p1]);
    expect(only.read).toBe(Number(BigInt(p1.end) - BigInt(p1.start)));
    expect(only.read).toBeLessThan(all.read);
    const paced = await replay({ ...common, rate: 100 });
    await inst.close();
    // 32 records at 100/s cannot finish in less than ~0.32 s (a lower bound: never flaky on a slow machine).
    expect(paced.read).toBe(32);
    expect(paced.elapsedMs).toBeGreaterThanOrEqual(280);
  });

  function recording(into: string[]): AnalyticsSink {
    return {
      name: 'http',
      async write(items: readonly SinkItem[]) {
        into.push(...items.map((i) => i.eventId));
        return items.map(() => ({ ok: true }) as const);
      },
      close: async () => {},
    };
  }
});
