import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import { parseReplayArgs, progressReporter, run, UsageError } from '../../../cli/commands/replay.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { MeshApimError } from '../../../common/errors.ts';
import { createLogger } from '../../../common/log.ts';
import { TOPICS } from '../../../events/topics.ts';
import { create } from '../../../functions/analytics-publisher/index.ts';
import { replayFileName } from '../../../functions/analytics-publisher/sinks/file.ts';
import type { BatchSummary } from '../../../functions/lib/batch.ts';
import type { KafkaHandler } from '../../../functions/lib/handler.ts';
import { busDeps } from '../../../functions/lib/index.ts';
import { replay } from '../../../functions/runner/replay.ts';
import { requestAttributes } from '../fixtures.ts';

const cfg = () => loadConfig({ env: {} });
const parse = (argv: string[]) => parseReplayArgs(argv, () => cfg());
const FROM = '2026-11-26T00:00:00Z';
const TO = '2026-11-26T01:00:00Z';

describe('replay arguments', () => {
  const bad: [string, string[], RegExp][] = [
    ['missing --from', ['--to', TO], /required option '--from <ISO time>' not specified/],
    ['missing --to', ['--from', FROM], /required option '--to <ISO time>' not specified/],
    ['not a time', ['--from', 'yesterday', '--to', TO], /not an ISO-8601 time/],
    ['an impossible date', ['--from', '2026-13-45T00:00:00Z', '--to', TO], /not an ISO-8601 time/],
    ['end before start', ['--from', TO, '--to', FROM], /--to .* must be after --from/],
    ['empty range', ['--from', FROM, '--to', FROM], /must be after/],
    [
      'unknown topic',
      ['--from', FROM, '--to', TO, '--topic', 'mesh-apim.token-revoked.v1'],
      /unknown topic "mesh-apim.token-revoked.v1"/,
    ],
    ['unknown sink', ['--from', FROM, '--to', TO, '--sink', 'file,s3'], /unknown sink "s3"/],
    ['http sink without url', ['--from', FROM, '--to', TO, '--sink', 'http'], /analytics\.http\.url/],
    ['batch size zero', ['--from', FROM, '--to', TO, '--batch-size', '0'], /--batch-size "0"/],
    ['batch size not a number', ['--from', FROM, '--to', TO, '--batch-size', 'ten'], /--batch-size "ten"/],
    [
      'unknown flag',
      ['--from', FROM, '--to', TO, '--frm', 'x'],
      /unknown option '--frm'\n\(Did you mean --from\?\)/,
    ],
    ['rate zero', ['--from', FROM, '--to', TO, '--rate', '0'], /--rate "0"/],
    ['rate not a number', ['--from', FROM, '--to', TO, '--rate', 'fast'], /--rate "fast"/],
    ['concurrency zero', ['--from', FROM, '--to', TO, '--concurrency', '0'], /--concurrency "0"/],
    ['partition not a number', ['--from', FROM, '--to', TO, '--partition', 'p1'], /--partition "p1"/],
    ['workers not a number', ['--from', FROM, '--to', TO, '--workers', 'two'], /--workers "two"/],
  ];
  for (const [name, argv, msg] of bad) {
    it(`${name} -> UsageError`, () => {
      expect(() => parse(argv)).toThrow(UsageError);
      expect(() => parse(argv)).toThrow(msg);
    });
  }

  it('bad arguments exit 2 with the message and usage on stderr', async () => {
    const write = process.stderr.write;
    let err = '';
    process.stderr.write = ((s: string) => {
      err += s;
      return true;
    }) as typeof process.stderr.write;
    try {
      expect(await run(['--from', TO, '--to', FROM])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(err).toMatch(/mesh-apim replay: --to .* must be after --from/);
    expect(err).toMatch(/Usage|mesh-apim replay --from/);
  });

  it('good arguments: defaults from config, logical or wire topic name, sink list', () => {
    const { args } = parse([
      '--from',
      FROM,
      '--to',
      '2026-11-26T01:00:00.000+00:00',
      '--topic',
      'request-attributes',
      '--sink',
      'file',
      '--sink',
      'kafka',
      '--dry-run',
      '--batch-size',
      '500',
    ]);
    expect(args).toMatchObject({
      from: '2026-11-26T00:00:00.000Z',
      to: '2026-11-26T01:00:00.000Z',
      topic: TOPICS.requestAttributes.name,
      sinks: ['file', 'kafka'],
      dryRun: true,
      batchSize: 500,
    });
    expect(parse(['--from', FROM, '--to', TO]).args.sinks).toEqual(['file']);
    expect(parse(['--from', FROM, '--to', TO]).args).toMatchObject({
      rate: undefined,
      partitions: undefined,
    });
    expect(
      parse(['--from', FROM, '--to', TO, '--rate', '5000', '--partition', '0,2', '--partition', '2']).args,
    ).toMatchObject({ rate: 5000, partitions: [0, 2] });
    expect(parse(['--from', FROM, '--to', TO]).args.concurrency).toBe(1);
    expect(parse(['--from', FROM, '--to', TO, '--concurrency', '3']).args.concurrency).toBe(3);
    expect(parse(['--from', FROM, '--to', TO, '--workers', '0']).args.workers).toBe(0);
    expect(parse(['--from', FROM, '--to', TO, '--workers', '3']).args.workers).toBe(3);
  });
});

describe('replay over a bus', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-replay-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  async function seed(bus: MemoryBus) {
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
    // in time order, as a log is (offsets-for-times assumes timestamps grow with offsets)
    recs.sort((a, b) => a.timestamp - b.timestamp);
    await bus.produce(TOPICS.requestAttributes.name, recs);
  }

  it('replays exactly the range, in Lambda-shaped batches, twice without duplicates in the sinks', async () => {
    const bus = new MemoryBus(3);
    await seed(bus);
    const config = loadConfig({
      env: { DATA_DIR: dataDir, MESH_APIM_FUNCTIONS_ANALYTICS_FILE_FSYNC: 'false' },
    });
    const progress: number[] = [];
    for (let round = 0; round < 2; round++) {
      const inst = create(busDeps(bus, config, createLogger('test')), {
        overrides: { fileName: replayFileName(FROM, TO), truncateFile: true },
      });
      const s = await replay({
        bus,
        topic: TOPICS.requestAttributes.name,
        fromMs: Date.parse(FROM),
        toMs: Date.parse(TO),
        handler: inst.handler,
        functionName: 'analytics-publisher',
        batchSize: 4,
        onProgress: (p) => progress.push(p.read),
      });
      await inst.close();
      expect(s).toMatchObject({ read: 32, total: 32, published: 30, deadLettered: 2, skipped: 0 });
    }
    const file = path.join(dataDir, 'analytics', `${replayFileName(FROM, TO)}.log`);
    const ids = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l.slice(l.indexOf(':{') + 1)).correlationId);
    expect(ids).toHaveLength(30);
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: 30 }, (_, i) => `r-${i}`)));
    expect(progress.at(-1)).toBe(32);
  });

  it('--partition replays only those partitions; an unknown partition is an error', async () => {
    const bus = new MemoryBus(3);
    await seed(bus);
    const config = loadConfig({
      env: { DATA_DIR: dataDir, MESH_APIM_FUNCTIONS_ANALYTICS_FILE_FSYNC: 'false' },
    });
    const inst = create(busDeps(bus, config, createLogger('test')), { sinks: [] });
    const common = {
      bus,
      topic: TOPICS.requestAttributes.name,
      fromMs: Date.parse(FROM),
      toMs: Date.parse(TO),
      handler: inst.handler,
      functionName: 'analytics-publisher',
      batchSize: 4,
    };
    const all = await replay(common);
    const only = await replay({ ...common, partitions: [1] });
    const p1 = all.partitions.find((p) => p.partition === 1)!;
    expect(only.partitions).toEqual([p1]);
    expect(only.read).toBe(Number(BigInt(p1.end) - BigInt(p1.start)));
    expect(only.read).toBeGreaterThan(0);
    expect(only.read).toBeLessThan(all.read);
    await expect(replay({ ...common, partitions: [7] })).rejects.toThrow(/no partition 7/);
    await inst.close();
  });

  it('--rate paces the replay to at most that many records per second', async () => {
    const bus = new MemoryBus(3);
    await seed(bus);
    const config = loadConfig({
      env: { DATA_DIR: dataDir, MESH_APIM_FUNCTIONS_ANALYTICS_FILE_FSYNC: 'false' },
    });
    const inst = create(busDeps(bus, config, createLogger('test')), { sinks: [] });
    const s = await replay({
      bus,
      topic: TOPICS.requestAttributes.name,
      fromMs: Date.parse(FROM),
      toMs: Date.parse(TO),
      handler: inst.handler,
      functionName: 'analytics-publisher',
      batchSize: 8,
      rate: 100,
    });
    await inst.close();
    // 32 records at 100/s cannot finish in less than ~0.32 s (a lower bound: never flaky on a slow machine).
    expect(s.read).toBe(32);
    expect(s.elapsedMs).toBeGreaterThanOrEqual(300);
  });

  it('a retriable failure retries the batch with doubling waits; a non-retriable one stops at once', async () => {
    const bus = new MemoryBus(1);
    await seed(bus);
    const calls: number[] = [];
    const flaky = (retriable: boolean, failures: number): KafkaHandler => {
      let n = 0;
      const h = (async () => ({ processed: 0, skipped: 0, deadLettered: 0 })) as unknown as KafkaHandler;
      h.records = async (records) => {
        calls.push(Date.now());
        if (n++ < failures) throw new MeshApimError('FLAKY', 'sink down', { retriable });
        return { processed: records.length, skipped: 0, deadLettered: 0 } as unknown as BatchSummary;
      };
      return h;
    };
    const common = {
      bus,
      topic: TOPICS.requestAttributes.name,
      fromMs: Date.parse(FROM),
      toMs: Date.parse(TO),
      functionName: 'analytics-publisher',
      batchSize: 1_000,
      backoffMs: 20,
    };
    const s = await replay({ ...common, handler: flaky(true, 2) });
    expect(s.retries).toBe(2);
    expect(s.published).toBe(32);
    expect(calls).toHaveLength(3);
    // 20 ms then 40 ms (lower bounds: timers never fire early).
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(19);
    expect(calls[2]! - calls[1]!).toBeGreaterThanOrEqual(39);

    calls.length = 0;
    await expect(replay({ ...common, handler: flaky(false, 1) })).rejects.toThrow(/failed after 1 attempt/);
    expect(calls).toHaveLength(1);
    calls.length = 0;
    await expect(replay({ ...common, maxAttempts: 2, handler: flaky(true, 5) })).rejects.toThrow(
      /failed after 2 attempt/,
    );
    expect(calls).toHaveLength(2);
  });

  it('--concurrency replays partitions at once, each in offset order, with the same summary; a failure stops every lane', async () => {
    const bus = new MemoryBus(3);
    await seed(bus);
    const calls: { partition: number; offsets: number[] }[] = [];
    const recording = (failAt?: number): KafkaHandler => {
      const h = (async () => ({ processed: 0, skipped: 0, deadLettered: 0 })) as unknown as KafkaHandler;
      h.records = async (records) => {
        const n = calls.push({
          partition: records[0]!.partition,
          offsets: records.map((r) => Number(r.offset)),
        });
        await new Promise((r) => setImmediate(r)); // a handler that waits on I/O
        if (n === failAt) throw new MeshApimError('POISON_SINK', 'rejected', { retriable: false });
        return { processed: records.length, skipped: 0, deadLettered: 0 } as unknown as BatchSummary;
      };
      return h;
    };
    const common = {
      bus,
      topic: TOPICS.requestAttributes.name,
      fromMs: Date.parse(FROM),
      toMs: Date.parse(TO),
      functionName: 'analytics-publisher',
      batchSize: 2,
    };
    const serial = await replay({ ...common, handler: recording() });
    const serialCalls = calls.splice(0);
    const parallel = await replay({ ...common, handler: recording(), concurrency: 3 });
    expect({ ...parallel, elapsedMs: 0 }).toEqual({ ...serial, elapsedMs: 0 });
    // serially partition after partition; with 3 lanes the partitions interleave
    const switches = (cs: typeof calls) =>
      cs.filter((c, i) => i > 0 && c.partition !== cs[i - 1]!.partition).length;
    expect(switches(serialCalls)).toBe(2);
    expect(switches(calls)).toBeGreaterThan(2);
    for (const p of [0, 1, 2]) {
      const offsets = calls.filter((c) => c.partition === p).flatMap((c) => c.offsets);
      expect(offsets).toEqual(serialCalls.filter((c) => c.partition === p).flatMap((c) => c.offsets));
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
    calls.length = 0;
    await expect(replay({ ...common, handler: recording(2), concurrency: 3 })).rejects.toThrow(/rejected/);
    // lanes stop at their next batch: far fewer calls than the whole range's batches
    expect(calls.length).toBeLessThan(serialCalls.length);
    expect(calls.length).toBeLessThanOrEqual(4);
  });

  it('plain progress lines when not on a terminal', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c) => {
      text += c;
    });
    const r = progressReporter(out, 0);
    r.update({ read: 50, total: 100, published: 50, skipped: 0, deadLettered: 0, elapsedMs: 1000 });
    r.update({ read: 100, total: 100, published: 100, skipped: 0, deadLettered: 0, elapsedMs: 2000 });
    expect(text).toMatch(/^replay: 50\/100 records \(50\.0%\), 50\/s, ETA 1s\n/);
    expect(text).toMatch(/replay: 100\/100 records \(100\.0%\)/);
  });
});
