/**
 * `npm run bench:functions`: analytics-publisher throughput, side by side in one run.
 *  1. events/s into the ELK file sink through the whole handler (Lambda event decode, schema
 *     validation, WSO2 mapping, file write + fsync per batch), against a baseline that only appends
 *     the same pre-rendered lines with the same batching/fsync: the ratio is the handler's overhead.
 *  2. replay time of BENCH_REPLAY_EVENTS (default 100000) request-attributes from the embedded log
 *     through the handler into a replay file, against a plain Bus.read scan of the same range.
 * Knobs: BENCH_EVENTS (default 50000), BENCH_BATCH (100), BENCH_REPLAY_EVENTS, BENCH_REPLAY_BATCH (1000).
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EmbeddedBus } from '../bus/embedded/index.ts';
import type { InRecord } from '../bus/types.ts';
import { loadConfig } from '../common/config.ts';
import { createLogger } from '../common/log.ts';
import type { AnalyticsEvent } from '../events/analytics.ts';
import { TOPICS } from '../events/topics.ts';
import { toAnalyticsEvent } from '../functions/analytics/publisher.ts';
import { analyticsCases } from '../functions/analytics/samples.ts';
import { elkLine } from '../functions/analytics/sinks/elk-line.ts';
import { replayFileName } from '../functions/analytics/sinks/file.ts';
import { create } from '../functions/analytics-publisher.ts';
import { buildLambdaKafkaEvent, busDeps, MemoryDeadLetterPublisher } from '../functions/lib/index.ts';
import { replay } from '../functions/runner/replay.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const REPLAY_EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 100_000);
const REPLAY_BATCH = Number(process.env.BENCH_REPLAY_BATCH ?? 1000);
const topic = TOPICS.requestAttributes.name;

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
    overrides: { dataDir: dir, 'functions.analyticsSinks': ['file'], 'functions.analyticsFileFsync': fsync },
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

async function replayBench(dir: string) {
  const bus = new EmbeddedBus({ dir: path.join(dir, 'bus'), logger: silent });
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

  // Baseline: the same range read with Bus.read, no processing.
  t = performance.now();
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
  const scanS = (performance.now() - t) / 1000;

  const config = loadConfig({ env: {}, overrides: { dataDir: dir, 'functions.analyticsSinks': ['file'] } });
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  const inst = create(busDeps(bus, config, silent), {
    overrides: { fileName: replayFileName(from, to), truncateFile: true },
  });
  t = performance.now();
  const summary = await replay({
    bus,
    topic,
    fromMs,
    toMs,
    handler: inst.handler,
    functionName: 'analytics-publisher',
    batchSize: REPLAY_BATCH,
  });
  const replayS = (performance.now() - t) / 1000;
  await inst.close();
  await bus.close();
  return { produceS, scanS, scanned, replayS, summary };
}

const dir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-bench-fn-'));
try {
  log.info({ EVENTS, BATCH, REPLAY_EVENTS, REPLAY_BATCH }, 'bench: functions');
  const best: Record<string, number> = {};
  const keep = (k: string, v: number) => {
    best[k] = Math.max(best[k] ?? 0, v);
  };
  // Alternating rounds: load from other processes on the shared machine hits both alike.
  for (let round = 0; round < 2; round++) {
    for (const fsync of [true, false]) {
      keep(`handler_${fsync}`, await handlerToFile(path.join(dir, `h-${round}-${fsync}`), fsync));
      keep(`baseline_${fsync}`, baselineFile(dir, fsync));
    }
  }
  const r = await replayBench(dir);
  const line = (label: string, fsync: boolean) =>
    `  ${label}: handler ${Math.round(best[`handler_${fsync}`]!)} events/s vs append-only baseline ${Math.round(best[`baseline_${fsync}`]!)} events/s (baseline/handler ${(best[`baseline_${fsync}`]! / best[`handler_${fsync}`]!).toFixed(2)}x)`;
  process.stdout.write(
    [
      `analytics-publisher -> ELK file sink, ${EVENTS} events, batches of ${BATCH} (best of 2 alternating rounds):`,
      line('fsync per batch', true),
      line('no fsync       ', false),
      `replay of ${REPLAY_EVENTS} events from the embedded log (3 partitions), batches of ${REPLAY_BATCH}, file sink:`,
      `  produce ${r.produceS.toFixed(1)} s; plain Bus.read scan ${r.scanS.toFixed(1)} s (${r.scanned} records); replay ${r.replayS.toFixed(1)} s (${Math.round(REPLAY_EVENTS / r.replayS)} events/s; replay/scan ${(r.replayS / r.scanS).toFixed(1)}x)`,
      `  replay summary: read ${r.summary.read}, published ${r.summary.published}, skipped ${r.summary.skipped}, dead-lettered ${r.summary.deadLettered}`,
      `  extrapolated to 1,000,000 events: ${((r.replayS * 1_000_000) / REPLAY_EVENTS).toFixed(0)} s`,
      '',
    ].join('\n'),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
