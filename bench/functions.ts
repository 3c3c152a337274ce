/**
 * `npm run bench:functions`: analytics-publisher throughput, side by side in one run.
 *  1. events/s into the ELK file sink through the whole handler (Lambda event decode, schema
 *     validation, WSO2 mapping, file write + fsync per batch), against a baseline that only appends
 *     the same pre-rendered lines with the same batching/fsync: the ratio is the handler's overhead;
 *     and a floor (floorFile): the least any correct handler does per record on that input.
 *  2. events/s through the whole handler into the HTTP `_bulk` sink against a local fake (127.0.0.1:0).
 *  3. replay time of BENCH_REPLAY_EVENTS (default 100000) request-attributes from the embedded log
 *     through the handler into a replay file, against a plain Bus.read scan of the same range, with
 *     the RSS sampled over the replay (flat = bounded memory) and the process's peak RSS; the scan runs
 *     before and after the replay and the ratio uses their mean.
 *  4. with BENCH_KAFKA_BROKERS (e.g. 127.0.0.1:19292, infra/kafka/kafka.sh): the local runner on a real
 *     Kafka, BENCH_KAFKA_EVENTS (default 100000) consumed, mapped and written to the file sink (fsync per
 *     batch: the consumer commits a batch's offsets only after the handler, and so the fsync, returned).
 * 1M mode: `npm run bench:functions -- --1m` (or BENCH_MODE=1m): the replay section over 1,000,000 events.
 * Knobs: BENCH_EVENTS (default 50000), BENCH_BATCH (100), BENCH_REPLAY_EVENTS, BENCH_REPLAY_BATCH (1000),
 * BENCH_ONLY (comma list of file, http, replay: only those sections, e.g. to profile or A/B one),
 * BENCH_REPLAY_WORKERS (2: the replay's worker threads; 0 = in-process, one thread).
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EMBEDDED_BUS_DEFAULTS } from '../bus/config.ts';
import { EmbeddedBus } from '../bus/embedded/index.ts';
import type { InRecord } from '../bus/types.ts';
import { loadConfig } from '../common/config/index.ts';
import { createLogger } from '../common/log.ts';
import type { AnalyticsEvent } from '../events/analytics.ts';
import { TOPICS } from '../events/topics.ts';
import { create } from '../functions/analytics-publisher/index.ts';
import { createSinks, toAnalyticsEvent } from '../functions/analytics-publisher/publisher.ts';
import { analyticsCases } from '../functions/analytics-publisher/samples.ts';
import { elkLine, elkLineWith, elkPrefix } from '../functions/analytics-publisher/sinks/elk-line.ts';
import { replayFileName } from '../functions/analytics-publisher/sinks/file.ts';
import { buildLambdaKafkaEvent, busDeps, MemoryDeadLetterPublisher } from '../functions/lib/index.ts';
import { consumerGroup, startFunctions } from '../functions/runner/index.ts';
import { replay } from '../functions/runner/replay.ts';
import { analyticsReplayWorkers } from '../functions/runner/replay-analytics.ts';
import { benchArgs } from './lib/args.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const { values } = benchArgs({
  usage:
    'npm run bench:functions [-- --1m] (knobs: BENCH_EVENTS, BENCH_BATCH, BENCH_REPLAY_EVENTS, BENCH_REPLAY_BATCH, BENCH_KAFKA_BROKERS, BENCH_KAFKA_EVENTS)',
  options: { '1m': { type: 'boolean', default: false } },
  describe: { '1m': 'the replay section over 1,000,000 events (also BENCH_MODE=1m)' },
});
const ONE_M = values['1m'] || process.env.BENCH_MODE === '1m';
const REPLAY_EVENTS = ONE_M ? 1_000_000 : Number(process.env.BENCH_REPLAY_EVENTS ?? 100_000);
const KAFKA = process.env.BENCH_KAFKA_BROKERS ?? '';
const KAFKA_EVENTS = Number(process.env.BENCH_KAFKA_EVENTS ?? 100_000);
const mib = (b: number) => `${Math.round(b / 1048576)} MiB`;
const REPLAY_BATCH = Number(process.env.BENCH_REPLAY_BATCH ?? 1000);
const REPLAY_WORKERS = Number(process.env.BENCH_REPLAY_WORKERS ?? 2);
const topic = TOPICS.requestAttributes.name;
const ONLY = new Set((process.env.BENCH_ONLY ?? 'file,http,replay').split(',').map((x) => x.trim()));

const cases = Object.values(analyticsCases()).filter((e) => e.api !== null);
function event(i: number) {
  const base = cases[((i % cases.length) + cases.length) % cases.length]!;
  return { ...base, requestId: `bench-${i}`, eventId: `ev-bench-${i}` };
}

function records(n: number, first = 0): InRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    topic,
    partition: 0,
    offset: String(first + i),
    timestamp: Date.now(),
    key: Buffer.from(`bench-${first + i}`),
    value: Buffer.from(JSON.stringify(event(first + i))),
    headers: {},
  }));
}

const log = createLogger('bench');
const silent = createLogger('bench');
silent.level = 'warn';

async function handlerToFile(dir: string, fsync: boolean): Promise<number> {
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir: dir,
      'functions.analytics.sinks': ['file'],
      'functions.analytics.file.fsync': fsync,
    },
  });
  const deps = {
    ...busDeps({ produce: async () => {} }, config, silent),
    deadLetters: new MemoryDeadLetterPublisher(),
  };
  const inst = create(deps);
  const recs = records(EVENTS);
  const events = [];
  for (let i = 0; i < recs.length; i += BATCH) events.push(buildLambdaKafkaEvent(recs.slice(i, i + BATCH)));
  // warm-up (loads the user-agent rules); its correlationId is not one of the measured ones
  await inst.handler(buildLambdaKafkaEvent(records(1, EVENTS)));
  const t = performance.now();
  for (const e of events) await inst.handler(e);
  const s = (performance.now() - t) / 1000;
  await inst.close();
  return EVENTS / s;
}

/**
 * A minimal `_bulk` endpoint on 127.0.0.1:0: counts the documents (every other NDJSON line) and
 * answers `errors: false`, so the figure is the sink's, not a fake Elasticsearch's (it runs in this
 * process). test/support/fakes/fake-bulk.ts is the full fake the tests use.
 */
async function startCountingBulk() {
  const { createServer } = await import('node:http');
  let docs = 0;
  const server = createServer((req, res) => {
    let lines = 0;
    req.on('data', (c: Buffer) => {
      for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) lines++;
    });
    req.on('end', () => {
      docs += lines / 2;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"took":1,"errors":false,"items":[]}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    docs: () => docs,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function handlerToHttp(dir: string): Promise<number> {
  const fake = await startCountingBulk();
  try {
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: dir,
        'functions.analytics.sinks': ['http'],
        'functions.analytics.http.url': fake.url,
      },
    });
    const deps = {
      ...busDeps({ produce: async () => {} }, config, silent),
      deadLetters: new MemoryDeadLetterPublisher(),
    };
    const inst = create(deps);
    const recs = records(EVENTS);
    const events = [];
    for (let i = 0; i < recs.length; i += BATCH) events.push(buildLambdaKafkaEvent(recs.slice(i, i + BATCH)));
    await inst.handler(buildLambdaKafkaEvent(records(1, EVENTS)));
    const t = performance.now();
    for (const e of events) await inst.handler(e);
    const s = (performance.now() - t) / 1000;
    await inst.close();
    if (fake.docs() < EVENTS) throw new Error(`fake _bulk received ${fake.docs()} of ${EVENTS} documents`);
    return EVENTS / s;
  } finally {
    await fake.close();
  }
}

function baselineFile(dir: string, fsync: boolean): number {
  const lines = Array.from({ length: EVENTS }, (_, i) =>
    elkLine(toAnalyticsEvent(event(i)) as AnalyticsEvent, new Date()),
  );
  const fd = openSync(path.join(dir, `baseline-${fsync}.log`), 'a');
  const t = performance.now();
  for (let i = 0; i < lines.length; i += BATCH) {
    writeSync(fd, Buffer.from(lines.slice(i, i + BATCH).join('')));
    if (fsync) fsyncSync(fd);
  }
  const s = (performance.now() - t) / 1000;
  closeSync(fd);
  return EVENTS / s;
}

/**
 * The least any correct handler must do per record on the same input (a Lambda event): decode the
 * base64 value, JSON.parse it, JSON.stringify the mapped document into its line, and the baseline's
 * write/batching/fsync. No validation, no mapping (the mapped documents are made before the clock
 * starts). handler/floor is what our own code costs; floor/baseline says whether a handler target
 * relative to the baseline is reachable at all while parse + stringify stay.
 */
function floorFile(dir: string, fsync: boolean): number {
  const recs = records(EVENTS);
  const values = recs.map((r) => r.value!.toString('base64'));
  const mapped = Array.from({ length: EVENTS }, (_, i) => toAnalyticsEvent(event(i)) as AnalyticsEvent);
  const prefix = elkPrefix(new Date());
  const fd = openSync(path.join(dir, `floor-${fsync}.log`), 'a');
  let sink = 0;
  const t = performance.now();
  for (let i = 0; i < EVENTS; i += BATCH) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(i + BATCH, EVENTS); j++) {
      const parsed = JSON.parse(Buffer.from(values[j]!, 'base64').toString('utf8')) as { eventId: string };
      sink += parsed.eventId.length; // keeps the parse observable
      lines.push(elkLineWith(prefix, mapped[j]!));
    }
    writeSync(fd, Buffer.from(lines.join('')));
    if (fsync) fsyncSync(fd);
  }
  const s = (performance.now() - t) / 1000;
  closeSync(fd);
  if (sink === 0) throw new Error('floor parsed nothing');
  return EVENTS / s;
}

async function replayBench(dir: string) {
  const bus = new EmbeddedBus({ ...EMBEDDED_BUS_DEFAULTS, dir: path.join(dir, 'bus'), logger: silent });
  await bus.ensureTopics([{ name: topic, partitions: 3, retentionMs: -1, cleanupPolicy: 'delete' }]);
  const t0 = Date.now() - 3_600_000;
  const span = 3_000_000;
  let t = performance.now();
  for (let i = 0; i < REPLAY_EVENTS; i += 5000) {
    const n = Math.min(5000, REPLAY_EVENTS - i);
    await bus.produce(
      topic,
      Array.from({ length: n }, (_, j) => {
        const e = event(i + j);
        return {
          key: e.requestId,
          value: JSON.stringify(e),
          timestamp: t0 + Math.floor(((i + j) * span) / REPLAY_EVENTS),
        };
      }),
    );
  }
  const produceS = (performance.now() - t) / 1000;
  const fromMs = t0;
  const toMs = t0 + span + 1;

  // Baseline: the same range read with Bus.read, no processing; once before and once after the
  // replay (their mean is the ratio's base), so load that comes or goes on a shared machine does
  // not fall on one side only.
  const scan = async () => {
    const t = performance.now();
    let scanned = 0;
    const ends = await bus.offsetsForTime(topic, toMs);
    for (const p of await bus.offsetsForTime(topic, fromMs)) {
      const end = BigInt(ends.find((x) => x.partition === p.partition)!.offset);
      let next = BigInt(p.offset);
      while (next < end) {
        const chunk = await bus.read(topic, p.partition, next.toString(), 10_000);
        if (chunk.length === 0) break;
        scanned += chunk.length;
        next = BigInt(chunk[chunk.length - 1]!.offset) + 1n;
      }
    }
    return { s: (performance.now() - t) / 1000, scanned };
  };
  const before = await scan();
  const scanned = before.scanned;

  const config = loadConfig({ env: {}, overrides: { dataDir: dir, 'functions.analytics.sinks': ['file'] } });
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  const deps = busDeps(bus, config, silent);
  // The same sinks behind the in-process handler and the workers' main-thread side.
  const sinks = createSinks(config, deps, { fileName: replayFileName(from, to), truncateFile: true });
  const inst = create(deps, { sinks });
  const workers =
    REPLAY_WORKERS > 0
      ? analyticsReplayWorkers({
          count: REPLAY_WORKERS,
          config,
          sinks,
          deadLetters: deps.deadLetters,
          logger: silent,
        })
      : undefined;
  const rss: number[] = [];
  let nextSample = 0;
  t = performance.now();
  const summary = await replay({
    onProgress: (p) => {
      if (p.read >= nextSample) {
        rss.push(process.memoryUsage.rss());
        nextSample += Math.max(1, Math.floor(p.total / 10));
      }
    },
    bus,
    topic,
    fromMs,
    toMs,
    handler: inst.handler,
    functionName: 'analytics-publisher',
    batchSize: REPLAY_BATCH,
    ...(workers ? { workers } : {}),
  });
  const replayS = (performance.now() - t) / 1000;
  const after = await scan();
  // Seconds of the scan before and after the replay.
  const scanS = [before.s, after.s] as const;
  await inst.close();
  await bus.close();
  rss.push(process.memoryUsage.rss());
  return { produceS, scanS, scanned, replayS, summary, rss };
}

/** The local runner on a real Kafka: produce, then time the analytics function draining its group. */
async function kafkaRunnerBench(dir: string) {
  const { createBus } = await import('../bus/index.ts');
  const prefix = `bench${Date.now()}.`;
  const config = loadConfig({
    env: { KAFKA_BROKERS: KAFKA },
    overrides: {
      dataDir: dir,
      'bus.topicPrefix': prefix,
      'functions.analytics.sinks': ['file'],
      'functions.analytics.file.fsync': true,
      // One file, never rotated: the line count below follows one file (at the default 100 MiB it
      // stopped counting after ~126k events, and the run looked like 419 events/s).
      'functions.analytics.file.maxBytes': 2 ** 40,
      'functions.batchSize': 1000,
    },
  });
  const bus = createBus(config, silent);
  const wire = `${prefix}${topic}`;
  await bus.ensureTopics([{ name: wire, partitions: 3, retentionMs: -1, cleanupPolicy: 'delete' }]);
  for (let i = 0; i < KAFKA_EVENTS; i += 5000) {
    const n = Math.min(5000, KAFKA_EVENTS - i);
    await bus.produce(
      wire,
      Array.from({ length: n }, (_, j) => {
        const e = event(i + j);
        return { key: e.requestId, value: JSON.stringify(e) };
      }),
    );
  }
  const file = path.join(dir, 'analytics', 'apim_metrics.log');
  // Lines written so far, read incrementally (a full re-read every poll would compete with the runner).
  let readTo = 0;
  let count = 0;
  const chunk = Buffer.alloc(1 << 20);
  const lines = () => {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return 0;
    }
    try {
      for (
        let n = readSync(fd, chunk, 0, chunk.length, readTo);
        n > 0;
        n = readSync(fd, chunk, 0, chunk.length, readTo)
      ) {
        for (let i = chunk.indexOf(10); i !== -1 && i < n; i = chunk.indexOf(10, i + 1)) count++;
        readTo += n;
      }
    } finally {
      closeSync(fd);
    }
    return count;
  };
  const t = performance.now();
  const running = await startFunctions(config, bus, { only: ['analytics-publisher'], logger: silent });
  const deadline = Date.now() + 300_000;
  let seen = lines();
  // The steady rate starts at the first line: joining the group (coordinator election on a fresh
  // broker, the first rebalance) takes seconds that are no part of the per-record cost.
  let firstAt = seen > 0 ? performance.now() : 0;
  let firstSeen = seen;
  while (seen < KAFKA_EVENTS && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    seen = lines();
    if (firstAt === 0 && seen > 0) {
      firstAt = performance.now();
      firstSeen = seen;
    }
  }
  const end_ = performance.now();
  const s = (end_ - t) / 1000;
  const steady = (seen - firstSeen) / ((end_ - firstAt) / 1000);
  // After the file holds every line: the group's committed offsets must reach the log's end (the
  // runner commits a batch only once the handler, whose file write fsyncs, has returned).
  const ends = await bus.endOffsets(wire);
  const { Kafka } = await import('kafkajs');
  const admin = new Kafka({ brokers: KAFKA.split(','), logLevel: 0 }).admin();
  await admin.connect();
  let committed = 0;
  for (let i = 0; i < 50; i++) {
    const [offsets] = await admin.fetchOffsets({
      groupId: consumerGroup(config, 'analytics-publisher'),
      topics: [wire],
    });
    committed = (offsets?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    if (committed >= KAFKA_EVENTS) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await admin.disconnect();
  await running.stop();
  await bus.close();
  const end = ends.reduce((n, p) => n + Number(p.offset), 0);
  return { seen, s, rate: seen / s, steady, firstS: (firstAt - t) / 1000, committed, end };
}

const dir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-bench-fn-'));
try {
  log.info({ EVENTS, BATCH, REPLAY_EVENTS, REPLAY_BATCH }, 'bench: functions');
  const best: Record<string, number> = {};
  const keep = (k: string, v: number) => {
    best[k] = Math.max(best[k] ?? 0, v);
  };
  // Alternating rounds: load from other processes on the shared machine hits both alike.
  if (!ONE_M) {
    for (let round = 0; round < 2; round++) {
      for (const fsync of ONLY.has('file') ? [true, false] : []) {
        keep(`handler_${fsync}`, await handlerToFile(path.join(dir, `h-${round}-${fsync}`), fsync));
        keep(`baseline_${fsync}`, baselineFile(dir, fsync));
        keep(`floor_${fsync}`, floorFile(dir, fsync));
      }
      if (ONLY.has('http')) keep('http', await handlerToHttp(path.join(dir, `http-${round}`)));
    }
  }
  const r = ONE_M || ONLY.has('replay') ? await replayBench(dir) : null;
  const k = KAFKA ? await kafkaRunnerBench(path.join(dir, 'kafka')) : null;
  const line = (label: string, fsync: boolean) => {
    const [h, b, f] = ['handler', 'baseline', 'floor'].map((k) => best[`${k}_${fsync}`]!) as [
      number,
      number,
      number,
    ];
    return `  ${label}: handler ${Math.round(h)} events/s vs append-only baseline ${Math.round(b)} events/s (handler/baseline ${(h / b).toFixed(2)}x); floor (base64 + JSON.parse + JSON.stringify + the same writes) ${Math.round(f)} events/s (handler/floor ${(h / f).toFixed(2)}x, floor/baseline ${(f / b).toFixed(2)}x)`;
  };
  const out: string[] = [];
  if (!ONE_M && ONLY.has('file'))
    out.push(
      `analytics-publisher -> ELK file sink, ${EVENTS} events, batches of ${BATCH} (best of 2 alternating rounds):`,
      line('fsync per batch', true),
      line('no fsync       ', false),
    );
  if (!ONE_M && ONLY.has('http'))
    out.push(
      `analytics-publisher -> HTTP _bulk sink (local fake), ${EVENTS} events, batches of ${BATCH}: ${Math.round(best.http!)} events/s`,
    );
  if (r) {
    const scanMean = (r.scanS[0] + r.scanS[1]) / 2;
    out.push(
      `replay of ${REPLAY_EVENTS} events from the embedded log (3 partitions), batches of ${REPLAY_BATCH}, file sink, ${REPLAY_WORKERS > 0 ? `${REPLAY_WORKERS} worker threads` : 'in-process'}:`,
      `  produce ${r.produceS.toFixed(1)} s; plain Bus.read scan ${scanMean.toFixed(1)} s (${r.scanned} records; mean of ${r.scanS.map((x) => x.toFixed(1)).join(' s before and ')} s after the replay); replay ${r.replayS.toFixed(1)} s (${Math.round(REPLAY_EVENTS / r.replayS)} events/s; replay/scan ${(r.replayS / scanMean).toFixed(1)}x)`,
      `  replay summary: read ${r.summary.read}, published ${r.summary.published}, skipped ${r.summary.skipped}, dead-lettered ${r.summary.deadLettered}`,
      `  RSS over the replay (every 10%): ${r.rss.map(mib).join(', ')}; peak RSS of the process ${mib(process.resourceUsage().maxRSS * 1024)}`,
      ONE_M
        ? `  1,000,000 events end to end into the file sink: ${r.replayS.toFixed(1)} s`
        : `  extrapolated to 1,000,000 events: ${((r.replayS * 1_000_000) / REPLAY_EVENTS).toFixed(0)} s`,
    );
  }
  if (k) {
    out.push(
      `local runner on Kafka (${KAFKA}), ${KAFKA_EVENTS} events, 3 partitions, file sink with fsync per batch: ${k.seen} written in ${k.s.toFixed(1)} s (${Math.round(k.rate)} events/s consumed, mapped, published, group join included; first line after ${k.firstS.toFixed(1)} s, ${Math.round(k.steady)} events/s from the first line to the last); committed offsets ${k.committed} of end ${k.end}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
