/**
 * `npm run bench:usage`: usage-metering per process, side by side in one run, ratios first.
 *  1. handler: the whole kafkaBatchHandler path (records decoded from JSON, schema-validated, metered,
 *     closed windows produced to a MemoryBus) of
 *       - a function whose process() does nothing (the baseline),
 *       - usage-metering without a state store,
 *       - usage-metering with the local runner's changelog file (saved after every batch, fsync),
 *       - usage-metering with the Lambda state topic (a MemoryBus standing in for Kafka; saved after every
 *         batch, and the stale-container check before every batch, as on Lambda),
 *     over the same records; events/s and CPU ms per 1,000 events, each as a ratio to the no-op.
 *  2. core: UsageMeter.ingest + advance/pending/ack per batch against a loop reading the same fields.
 *  3. the meter's own heap: events generated as JSON into Buffers (off the JS heap), parsed one at a
 *     time while metered; heapUsed after a full GC before and after, at 10k and 100k events over the
 *     same hours: the difference stays flat (bounded by windows and seen ranges, not events).
 * Knobs: BENCH_EVENTS (default 200000), BENCH_BATCH (500), BENCH_APPS (50). Needs --expose-gc (the
 * npm script passes it) for the heap figures. The figures go to stdout, the functions' logs (pino) to
 * stderr: `npm run bench:usage 2>/dev/null` measures without a terminal's cost of printing logs.
 */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '../bus/memory.ts';
import type { InRecord } from '../bus/types.ts';
import { loadConfig } from '../common/config/index.ts';
import { createLogger } from '../common/log.ts';
import type { RequestAttributes } from '../events/request-attributes.ts';
import { TOPICS } from '../events/topics.ts';
import { requestAttributes } from '../functions/analytics-publisher/samples.ts';
import { busDeps, type KafkaFunction, kafkaBatchHandler, kafkaFunctionOf } from '../functions/lib/index.ts';
import usageMetering, { meteringCore } from '../functions/usage-metering/index.ts';
import { UsageMeter } from '../functions/usage-metering/meter.ts';
import {
  FileStateStore,
  type MeterStateStore,
  TopicStateStore,
} from '../functions/usage-metering/state-store.ts';
import { benchArgs } from './lib/args.ts';

const N = Number(process.env.BENCH_EVENTS ?? 200_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const APPS = Number(process.env.BENCH_APPS ?? 50);
const START = Date.parse('2026-11-26T00:00:00Z');
const HOURS = 6;
const OPTS = { latenessMs: 300_000, retainClosedMs: 172_800_000, legacyDedupePerHour: 100_000 };

/** Event i of n, spread over HOURS hours whatever n (so windows close during the run). */
function event(base: RequestAttributes, i: number, n: number): RequestAttributes {
  // Three adapters, each numbering its own checks consecutively (as identity.ts does).
  const checkId = `adapter-${i % 3}~boot:${Math.floor(i / 3)}`;
  const throttled = i % 10 === 0;
  return {
    ...base,
    requestId: `r-${i}`,
    receivedAt: new Date(START + Math.floor((i * HOURS * 3_600_000) / n)).toISOString(),
    checkId,
    eventId: `${throttled ? 'chk' : 'als'}:${checkId}`,
    source: throttled ? 'check' : 'access-log',
    application: { ...base.application!, id: `app-${i % APPS}` },
    decision: throttled ? { ...base.decision, kind: 'rate-limited', httpStatus: 429 } : base.decision,
    response: throttled ? null : base.response,
  } as RequestAttributes;
}

const gc = () => {
  globalThis.gc?.();
  globalThis.gc?.();
};
/** heapUsed after full GCs with turns of the event loop between (finalizers, weak refs settle). */
const heapMb = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed / 1048576;
};
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Run {
  name: string;
  wallMs: number;
  cpuMs: number;
  note: string;
}

async function handlerRuns(records: InRecord[]): Promise<Run[]> {
  const config = loadConfig({ env: {} });
  const deps = busDeps(new MemoryBus(6), config, createLogger('bench'));
  const noop: KafkaFunction<RequestAttributes> = {
    name: 'noop',
    topics: [TOPICS.requestAttributes],
    async process(rs) {
      return rs.map(() => ({ status: 'ok' as const }));
    },
  };
  const run = async (
    name: string,
    fn: () => KafkaFunction<RequestAttributes>,
    note: () => string = () => '',
  ) => {
    const h = kafkaBatchHandler(fn(), deps);
    gc();
    const c0 = cpuMs();
    const t0 = performance.now();
    for (let i = 0; i < records.length; i += BATCH) await h.records!(records.slice(i, i + BATCH));
    const r = { name, wallMs: performance.now() - t0, cpuMs: cpuMs() - c0, note: '' };
    r.note = note();
    return r;
  };
  const file = join(mkdtempSync(join(tmpdir(), 'bench-usage-')), 'meter-state.jsonl');
  let fileStore: FileStateStore | null = null;
  const stateBus = new MemoryBus(1);
  const stateTopic = TOPICS.usageMeterState.name;
  const withStore = (store: MeterStateStore) => () =>
    kafkaFunctionOf(usageMetering, meteringCore(deps, { store }));
  const batches = Math.ceil(records.length / BATCH);
  const runs: Run[] = [];
  runs.push(await run('no-op function', () => noop));
  runs.push(await run('usage-metering, no store', () => kafkaFunctionOf(usageMetering, meteringCore(deps))));
  runs.push(
    await run(
      'usage-metering + changelog file',
      () => {
        fileStore = new FileStateStore(file).lock();
        return withStore(fileStore)();
      },
      () => {
        const { liveBytes } = fileStore!.sizes();
        return `${batches} saves; file now ${kb(statSync(file).size)}, live state ${kb(liveBytes)}`;
      },
    ),
  );
  await fileStore!.close();
  runs.push(
    await run(
      'usage-metering + state topic',
      withStore(new TopicStateStore(stateBus, stateTopic, 'usage-metering')),
      () => {
        const recs = stateBus.records(stateTopic);
        const bytes = recs.reduce((n, r) => n + (r.value?.length ?? 0), 0);
        const max = recs.reduce((n, r) => Math.max(n, r.value?.length ?? 0), 0);
        return `${batches} saves = ${recs.length} records, ${kb(bytes / batches)}/save, largest record ${kb(max)}`;
      },
    ),
  );
  return runs;
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

/**
 * The meter's heap over `n` events held as JSON in one Buffer with their end offsets in a typed array
 * (both external memory, not heapUsed; no per-event object on the heap).
 */
async function meterHeap(
  n: number,
): Promise<{ events: number; heapBeforeMb: number; heapAfterMb: number; stats: string }> {
  const base = requestAttributes();
  const ends = new Uint32Array(n);
  const chunks: Buffer[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const b = Buffer.from(JSON.stringify(event(base, i, n)));
    chunks.push(b);
    total += b.length;
    ends[i] = total;
  }
  const data = Buffer.concat(chunks, total);
  chunks.length = 0;
  const now = new Date();
  const before = await heapMb();
  const meter = new UsageMeter(OPTS);
  for (let i = 0; i < n; i += BATCH) {
    const end = Math.min(i + BATCH, n);
    for (let j = i; j < end; j++) {
      const e = JSON.parse(data.toString('utf8', j === 0 ? 0 : ends[j - 1]!, ends[j]!));
      meter.ingest('t', j % 6, e);
    }
    meter.advance();
    meter.ack(meter.pending(now));
  }
  const after = await heapMb();
  const stats = JSON.stringify(meter.stats());
  return { events: n, heapBeforeMb: before, heapAfterMb: after, stats };
}

async function main() {
  if (!globalThis.gc)
    console.log('(no --expose-gc: heap figures include garbage; npm run bench:usage passes it)');
  // First, while the heap holds nothing else of this bench.
  const heaps: Awaited<ReturnType<typeof meterHeap>>[] = [];
  for (const n of [10_000, 100_000]) heaps.push(await meterHeap(n));
  const base = requestAttributes();
  const evs = Array.from({ length: N }, (_, i) => event(base, i, N));

  // Records as the ESM delivers them: batches of one partition in offset order, the partitions in turn.
  const bus = new MemoryBus(6);
  await bus.produce(
    TOPICS.requestAttributes.name,
    evs.map((e) => ({ key: e.requestId, value: JSON.stringify(e) })),
  );
  const byPartition = [0, 1, 2, 3, 4, 5].map((p) =>
    bus.records(TOPICS.requestAttributes.name).filter((r) => r.partition === p),
  );
  const records: InRecord[] = [];
  for (let at = 0; byPartition.some((p) => at < p.length); at += BATCH)
    for (const p of byPartition) records.push(...p.slice(at, at + BATCH));
  const runs = await handlerRuns(records);

  // Core vs an iteration baseline over the same pre-built events.
  let t = performance.now();
  let sink = 0;
  for (const e of evs) sink += e.receivedAt.length + (e.application?.id.length ?? 0) + e.decision.kind.length;
  const baseMs = performance.now() - t;
  const meter = new UsageMeter(OPTS);
  const now = new Date();
  t = performance.now();
  let published = 0;
  for (let i = 0; i < evs.length; i += BATCH) {
    const end = Math.min(i + BATCH, evs.length);
    for (let j = i; j < end; j++) meter.ingest('t', j % 6, evs[j]!);
    meter.advance();
    const p = meter.pending(now);
    published += p.length;
    meter.ack(p);
  }
  const coreMs = performance.now() - t;
  evs.length = 0;
  records.length = 0;

  const noop = runs[0]!;
  console.log(`usage-metering bench: ${N} events over ${HOURS} h, ${APPS} applications, batches of ${BATCH}`);
  console.log('ratios (CPU per event, vs the no-op function on the same handler path):');
  for (const r of runs.slice(1)) console.log(`  ${r.name.padEnd(34)} ${(r.cpuMs / noop.cpuMs).toFixed(2)}x`);
  console.log(
    `  meter heap 100k / 10k events         ${((heaps[1]!.heapAfterMb - heaps[1]!.heapBeforeMb) / (heaps[0]!.heapAfterMb - heaps[0]!.heapBeforeMb)).toFixed(2)}x`,
  );
  console.log('handler:');
  for (const r of runs) {
    console.log(
      `  ${r.name.padEnd(34)} ${String(rate(N, r.cpuMs)).padStart(7)} events per CPU-second (${String(rate(N, r.wallMs)).padStart(7)} events/s wall), ${((r.cpuMs / N) * 1000).toFixed(1)} CPU ms per 1,000${r.note ? `; ${r.note}` : ''}`,
    );
  }
  console.log(
    `core: UsageMeter ${rate(N, coreMs)} events/s; iteration baseline ${rate(N, baseMs)} events/s (${published} windows published, ignore ${sink % 2})`,
  );
  console.log('meter heap (events held in Buffers off the JS heap; after GC, before and after metering):');
  for (const h of heaps) {
    console.log(
      `  ${String(h.events).padStart(7)} events: ${h.heapBeforeMb.toFixed(1)} MB -> ${h.heapAfterMb.toFixed(1)} MB (meter ${(h.heapAfterMb - h.heapBeforeMb).toFixed(2)} MB); stats ${h.stats}`,
    );
  }
}

benchArgs({ usage: 'npm run bench:usage (knobs: BENCH_EVENTS, BENCH_BATCH, BENCH_APPS)', options: {} });
await main();
