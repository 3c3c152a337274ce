/**
 * `npm run bench:usage`: usage-metering throughput per process, side by side in one run.
 *  1. core: UsageMeter.ingest + advance/pending/ack per batch over pre-built events (the work the
 *     function adds), against a baseline that only iterates the same events reading the same fields.
 *  2. handler: the whole usage-metering handler (records decoded from JSON, schema-validated, metered,
 *     closed windows produced to a MemoryBus), against the same handler path of a function whose
 *     process() does nothing: the ratio is the metering's share of the handler's cost.
 * Heap after each section (flat across event counts = memory bounded by windows, not events).
 * Knobs: BENCH_EVENTS (default 200000), BENCH_BATCH (500), BENCH_APPS (50).
 */
import { MemoryBus } from '../bus/memory.ts';
import { loadConfig } from '../common/config/index.ts';
import { createLogger } from '../common/log.ts';
import type { RequestAttributes } from '../events/request-attributes.ts';
import { TOPICS } from '../events/topics.ts';
import { requestAttributes } from '../functions/analytics-publisher/samples.ts';
import { busDeps, type KafkaFunction, kafkaBatchHandler } from '../functions/lib/index.ts';
import { definition } from '../functions/usage-metering/index.ts';
import { UsageMeter } from '../functions/usage-metering/meter.ts';
import { benchArgs } from './lib/args.ts';

const N = Number(process.env.BENCH_EVENTS ?? 200_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const APPS = Number(process.env.BENCH_APPS ?? 50);
const START = Date.parse('2026-11-26T00:00:00Z');
// Spread over ~6 hours so windows close during the run.
const STEP_MS = Math.max(1, Math.floor((6 * 3_600_000) / N));

function events(): RequestAttributes[] {
  const base = requestAttributes();
  return Array.from({ length: N }, (_, i) => {
    // Three adapters, each numbering its own checks consecutively (as identity.ts does).
    const checkId = `adapter-${i % 3}~boot:${Math.floor(i / 3)}`;
    const throttled = i % 10 === 0;
    return {
      ...base,
      requestId: `r-${i}`,
      receivedAt: new Date(START + i * STEP_MS).toISOString(),
      checkId,
      eventId: `${throttled ? 'chk' : 'als'}:${checkId}`,
      source: throttled ? 'check' : 'access-log',
      application: { ...base.application!, id: `app-${i % APPS}` },
      decision: throttled ? { ...base.decision, kind: 'rate-limited', httpStatus: 429 } : base.decision,
      response: throttled ? null : base.response,
    } as RequestAttributes;
  });
}

const heapMb = () => {
  globalThis.gc?.();
  return (process.memoryUsage().heapUsed / 1048576).toFixed(1);
};
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);

async function main() {
  const evs = events();
  const now = new Date();

  // 1. core vs iteration baseline
  let t = performance.now();
  let sink = 0;
  for (const e of evs) sink += e.receivedAt.length + (e.application?.id.length ?? 0) + e.decision.kind.length;
  const baseMs = performance.now() - t;
  const meter = new UsageMeter({
    latenessMs: 300_000,
    retainClosedMs: 172_800_000,
    legacyDedupePerHour: 100_000,
  });
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
  console.log(
    `core:    ${rate(N, coreMs)} events/s (${N} events, ${published} windows published, stats ${JSON.stringify(meter.stats())}); baseline iteration ${rate(N, baseMs)} events/s (ignore ${sink % 2})`,
  );
  console.log(`         heap after core: ${heapMb()} MB`);

  // 2. handler vs no-op handler, same records
  const config = loadConfig({ env: {} });
  const bus = new MemoryBus(6);
  await bus.produce(
    TOPICS.requestAttributes.name,
    evs.map((e) => ({ key: e.requestId, value: JSON.stringify(e) })),
  );
  const records = [0, 1, 2, 3, 4, 5].flatMap((p) =>
    bus.records(TOPICS.requestAttributes.name).filter((r) => r.partition === p),
  );
  const deps = busDeps(bus, config, createLogger('bench'));
  const noop: KafkaFunction<RequestAttributes> = {
    name: 'noop',
    topics: [TOPICS.requestAttributes],
    idempotency: 'none',
    async process(rs) {
      return rs.map(() => ({ status: 'ok' as const }));
    },
  };
  const run = async (fn: KafkaFunction<RequestAttributes>) => {
    const h = kafkaBatchHandler(fn, deps);
    const start = performance.now();
    for (let i = 0; i < records.length; i += BATCH) await h.records!(records.slice(i, i + BATCH));
    return performance.now() - start;
  };
  const noopMs = await run(noop);
  const usageMs = await run(definition(deps));
  console.log(
    `handler: usage-metering ${rate(N, usageMs)} events/s; no-op function ${rate(N, noopMs)} events/s; ratio ${(usageMs / noopMs).toFixed(2)}x`,
  );
  console.log(
    `         usage windows on the topic: ${bus.records(TOPICS.usage.name).length}; heap: ${heapMb()} MB`,
  );
}

benchArgs({ usage: 'npm run bench:usage (knobs: BENCH_EVENTS, BENCH_BATCH, BENCH_APPS)', options: {} });
await main();
