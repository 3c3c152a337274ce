/**
 * What emission costs per check, isolated from the check itself (not a test):
 * `node --import tsx bench/emit-cost.ts [--checks 20000] [--rounds 3] [--kafka <brokers>] [--cpu-prof]`.
 * An adapter in this process (the bench policies, the realistic request of bench/realistic-request.ts,
 * access logs off: every check emits) evaluates the checks through the http2 transport's codec (so
 * the response, and its RequestContext JSON, is built as in production); then the records are handed
 * to the emission observer in slices of --per-turn (64) per loop turn (as checks arrive; 1 is the full path's case) and the run waits until
 * every event is on the log. CPU is read per thread from /proc/self/task: this thread (emit, journal,
 * the emitter loop, postMessage) and every other thread, split into the runtime's (V8's concurrent GC
 * and compiler, libuv: they exist before the adapter starts) and those started since (the writer
 * worker: SQLite). Ticks are 10 ms: 20,000 checks give 0.5 µs per check resolution.
 * Rounds alternate with a no-op observer pass over the same records, so the difference is emission.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import type { CheckRecord } from '../adapter/check-record.ts';
import { startAdapter } from '../adapter/main.ts';
import { issueApiKey } from '../adapter/standalone/issuer.ts';
import { CheckCodec } from '../adapter/transport/http2/check-codec.ts';
import { EMBEDDED_BUS_DEFAULTS } from '../bus/config.ts';
import { EmbeddedBus } from '../bus/embedded/index.ts';
import type { Bus } from '../bus/types.ts';
import { loadConfig } from '../common/config/index.ts';
import { rootLogger } from '../common/log.ts';
import { TOPICS } from '../events/topics.ts';
import { BENCH_POLICIES } from './fixtures.ts';
import { benchArgs } from './lib/args.ts';
import { encodeCheckRequest, istioIngressCheckRequest } from './realistic-request.ts';

const { values } = benchArgs({
  usage: 'node --import tsx bench/emit-cost.ts [options]',
  options: {
    checks: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    kafka: { type: 'string' },
    fsync: { type: 'string', default: 'on' },
    // Checks handed to the observer per loop turn. The http2 transport answers each check in its
    // own microtask checkpoint (one journal write per check), so 1 is what the full path does.
    'per-turn': { type: 'string', default: '64' },
    // Checks per second handed over (0 = as fast as the loop turns). The full path runs ~5,000/s on
    // one core: paced, batches are as small as there (linger-bound), and per-batch costs show.
    rate: { type: 'string', default: '0' },
  },
});
const N = Number(values.checks);
const ROUNDS = Number(values.rounds);
const PER_TURN = Number(values['per-turn']);
const RATE = Number(values.rate);
rootLogger.level = 'error';
const silent = pino({ level: 'silent' });

/**
 * Threads that exist before the adapter starts: V8's platform threads (concurrent GC, compiler),
 * libuv's pool, tsx's loader. The writer worker is started on the first produce, so it is among
 * the threads that appear later (Node names every thread "node": they are told apart by when).
 */
const RUNTIME_THREADS = new Set(readdirSync('/proc/self/task'));

/** CPU ticks (10 ms) of this process's threads: main, the runtime's threads, the ones started later. */
function threadTicks(): { main: number; other: number; runtime: number; later: number } {
  let main = 0;
  let other = 0;
  let runtime = 0;
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]);
      if (t === String(process.pid)) main += ticks;
      else {
        other += ticks;
        if (RUNTIME_THREADS.has(t)) runtime += ticks;
      }
    } catch {
      // thread gone
    }
  }
  return { main, other, runtime, later: other - runtime };
}

const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-emit-cost-'));
const file = join(dir, 'standalone.yaml');
writeFileSync(file, BENCH_POLICIES);
const config = loadConfig({
  env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MESH_APIM_EMITTER_'))),
  overrides: {
    dataDir: join(dir, 'data'),
    logLevel: 'error',
    'adapter.grpcAddress': '127.0.0.1:0',
    'adapter.adminAddress': '127.0.0.1:0',
    'adapter.standaloneFile': file,
    'adapter.accessLogs': false,
    instanceId: 'bench',
  },
});
let bus: Bus & { close(): Promise<void> };
let kind: string;
if (values.kafka) {
  const { KafkaBus } = await import('../bus/kafka/index.ts');
  bus = new KafkaBus(loadConfig({ env: { KAFKA_BROKERS: values.kafka } }).bus.kafka, silent);
  kind = `kafka ${values.kafka}`;
} else {
  bus = new EmbeddedBus({
    ...EMBEDDED_BUS_DEFAULTS,
    dir: join(dir, 'bus'),
    fsync: values.fsync !== 'off',
    logger: silent,
  });
  kind = `embedded log (fsync ${values.fsync})`;
}
const adapter = await startAdapter(config, { bus });
const snapshot = adapter.store.current()!;
const app = snapshot.applications.get('bench-app') ?? [...snapshot.applications.values()][0]!;
const apiKey = await issueApiKey(snapshot, adapter.signingKey!, { application: app.name });
const codec = new CheckCodec();
const responder = {
  respond: (d: Parameters<CheckCodec['encode']>[0], c: Parameters<CheckCodec['encode']>[1]) =>
    codec.encode(d, c),
  failed: () => codec.statusOnly(14, 'INTERNAL_ERROR'),
};
const proto = codec.decode(encodeCheckRequest(istioIngressCheckRequest({ apiKey })));
const emitObserver = adapter.emission!.onCheck;
const topic = `${config.bus.topicPrefix}${TOPICS.requestAttributes.name}`;

async function records(n: number): Promise<CheckRecord[]> {
  const out: CheckRecord[] = [];
  for (let i = 0; i < n; i++) {
    const { record } = await adapter.check.evaluateWith(proto, responder);
    if (record?.decision.kind !== 'allow' || !record) throw new Error('the realistic request is not allowed');
    out.push(record);
  }
  return out;
}

async function onLog(): Promise<number> {
  const ends = await bus.endOffsets(topic).catch(() => []);
  return ends.reduce((n, p) => n + Number(p.offset), 0);
}

async function pass(recs: CheckRecord[], observer: (r: CheckRecord) => void, wait: boolean) {
  const before = await onLog();
  const t0 = threadTicks();
  const w0 = performance.now();
  for (let i = 0; i < recs.length; i += PER_TURN) {
    for (let j = i; j < Math.min(i + PER_TURN, recs.length); j++) observer(recs[j]!);
    // Paced: wait (timers, not a spin) until this many checks are due.
    const due = RATE > 0 ? w0 + ((i + PER_TURN) * 1000) / RATE - performance.now() : 0;
    if (due >= 1) await new Promise((r) => setTimeout(r, due));
    else await new Promise((r) => setImmediate(r));
  }
  if (wait) while ((await onLog()) - before < recs.length) await new Promise((r) => setTimeout(r, 5));
  const t1 = threadTicks();
  return {
    mainUs: ((t1.main - t0.main) * 1e4) / recs.length,
    otherUs: ((t1.other - t0.other) * 1e4) / recs.length,
    runtimeUs: ((t1.runtime - t0.runtime) * 1e4) / recs.length,
    laterUs: ((t1.later - t0.later) * 1e4) / recs.length,
    ms: performance.now() - w0,
  };
}

const warm = await records(2000);
await pass(warm, emitObserver, true);
const results: {
  emit: Awaited<ReturnType<typeof pass>>;
  noop: Awaited<ReturnType<typeof pass>>;
}[] = [];
const load0 = loadavg();
for (let r = 0; r < ROUNDS; r++) {
  const recs = await records(N);
  const emit = await pass(recs, emitObserver, true);
  const noop = await pass(recs, () => {}, false);
  results.push({ emit, noop });
  process.stderr.write(
    `round ${r + 1}: emission main ${(emit.mainUs - noop.mainUs).toFixed(1)} µs/check, other threads ${(emit.otherUs - noop.otherUs).toFixed(1)} µs/check (V8 GC/compiler and libuv threads ${(emit.runtimeUs - noop.runtimeUs).toFixed(1)}, threads started since: the writer worker ${(emit.laterUs - noop.laterUs).toFixed(1)}) (${(N / (emit.ms / 1000)).toFixed(0)} events/s)\n`,
  );
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const main = med(results.map((x) => x.emit.mainUs - x.noop.mainUs));
const other = med(results.map((x) => x.emit.otherUs - x.noop.otherUs));
const runtime = med(results.map((x) => x.emit.runtimeUs - x.noop.runtimeUs));
const later = med(results.map((x) => x.emit.laterUs - x.noop.laterUs));
process.stdout.write(
  `${JSON.stringify({ bus: kind, checks: N, rounds: ROUNDS, perTurn: PER_TURN, rate: RATE, emissionMainUsPerCheck: +main.toFixed(1), emissionOtherThreadsUsPerCheck: +other.toFixed(1), emissionRuntimeThreadsUsPerCheck: +runtime.toFixed(1), emissionWriterThreadsUsPerCheck: +later.toFixed(1), emissionTotalUsPerCheck: +(main + other).toFixed(1), loadavg: [load0, loadavg()].map((l) => l.map((x) => +x.toFixed(2))) })}\n`,
);
await adapter.stop();
await bus.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
