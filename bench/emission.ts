/**
 * Emission benchmark, before/after in one run (not a test): `npm run bench:emission -- [--base <tree>]
 * [--rate 300] [--seconds 5] [--events 30000]`. <tree> is another checkout of this repository (e.g.
 * `git archive <commit> | tar -x -C /tmp/base` plus a node_modules link); without it only this tree runs.
 *  1. emitter -> embedded log (fsync on): events/s, and this thread's event-loop delay p99 meanwhile;
 *  2. checks at a fixed rate (open loop) against an adapter in its own process (bench/emission-server.ts:
 *     embedded log, every check emits), fsync on and off: client-side p50/p99 and the adapter's
 *     event-loop delay p50/p99/max (monitorEventLoopDelay, 1 ms resolution), events on the log.
 * One run on a shared machine: read the ratios, and the load (uptime) printed with them.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { CheckClient } from '../adapter/check-client.ts';
import { EMITTER_DEFAULTS } from '../adapter/emit/config.ts';
import { EMBEDDED_BUS_DEFAULTS } from '../bus/config.ts';
import { benchArgs } from './lib/args.ts';

const { values } = benchArgs({
  usage: 'npm run bench:emission -- [options]',
  options: {
    base: { type: 'string' },
    rate: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '5' },
    events: { type: 'string', default: '30000' },
    /** Also run this tree with emitter.journal=false (what the journal costs on the check path). */
    'journal-ab': { type: 'boolean', default: false },
    /** Also measure the emitter into a real Kafka (kafkajs) at these brokers, from this tree. */
    kafka: { type: 'string' },
    /** Skip the checks part (emitter figures only). */
    'emitter-only': { type: 'boolean', default: false },
  },
});
const here = resolve(new URL('..', import.meta.url).pathname);
const trees: { label: string; dir: string; env?: Record<string, string> }[] = [
  ...(values.base ? [{ label: 'before', dir: resolve(values.base) }] : []),
  { label: 'after', dir: here },
  ...(values['journal-ab']
    ? [{ label: 'after-journal-off', dir: here, env: { MESH_APIM_EMITTER_JOURNAL: 'false' } }]
    : []),
];
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const EVENTS = Number(values.events);
const silent = pino({ level: 'silent' });

/**
 * The emitter into a bus: events/s, and what it costs the event loop: loop-active time per event
 * (performance.eventLoopUtilization: emit, serialise, the synchronous part of produce, callbacks; a
 * worker thread's time is not in it) and the longest synchronous produce() call (a commit on the loop).
 */
async function emitterInto(tree: string, target: 'embedded' | 'kafka') {
  const { Emitter } = await import(join(tree, 'adapter/emit/emitter.ts'));
  // A --base tree from before the functions/<name>/ layout has its samples under functions/analytics/.
  const samples = ['functions/analytics-publisher/samples.ts', 'functions/analytics/samples.ts']
    .map((f) => join(tree, f))
    .find((f) => existsSync(f));
  const { requestAttributes } = await import(
    samples ?? join(tree, 'functions/analytics-publisher/samples.ts')
  );
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-bench-emitlog-'));
  // biome-ignore lint/suspicious/noExplicitAny: either tree's bus class, loaded at run time
  let bus: any;
  if (target === 'embedded') {
    const { EmbeddedBus } = await import(join(tree, 'bus/embedded/index.ts'));
    bus = new EmbeddedBus({ ...EMBEDDED_BUS_DEFAULTS, dir: join(dir, 'bus'), fsync: true, logger: silent });
  } else {
    const { KafkaBus } = await import(join(tree, 'bus/kafka/index.ts'));
    const { loadConfig } = await import(join(tree, 'common/config/index.ts'));
    bus = new KafkaBus(loadConfig({ env: { KAFKA_BROKERS: values.kafka! } }).bus.kafka, silent);
    await bus.ensureTopics([
      {
        name: 'mesh-apim.request-attributes.v1',
        partitions: 12,
        retentionMs: 3_600_000,
        cleanupPolicy: 'delete',
      },
    ]);
  }
  let accepted = 0;
  let maxSyncMs = 0;
  const produce = bus.produce.bind(bus);
  bus.produce = async (topic: string, records: unknown[]) => {
    const t = performance.now();
    const p = produce(topic, records);
    maxSyncMs = Math.max(maxSyncMs, performance.now() - t);
    await p;
    accepted += records.length;
  };
  const emitter = new Emitter({
    ...EMITTER_DEFAULTS,
    bus,
    dataDir: dir,
    registry: new Registry(),
    logger: silent,
    produceTimeoutMs: 30_000,
  });
  await emitter.start();
  await bus.produce('mesh-apim.request-attributes.v1', [{ key: 'warm', value: '{}' }]);
  accepted = 0;
  maxSyncMs = 0;
  const events = Array.from({ length: EVENTS }, (_, i) =>
    requestAttributes({ requestId: `r-${i}`, eventId: `e-${i}` }),
  );
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // In slices, as traffic arrives: the loop gets a turn between them.
  for (let i = 0; i < EVENTS; i += 200) {
    for (let j = i; j < Math.min(i + 200, EVENTS); j++) emitter.emit('requestAttributes', events[j]);
    await new Promise((r) => setImmediate(r));
  }
  while (accepted + emitter.spool.pending < EVENTS) await sleep(2);
  const secs = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  h.disable();
  await emitter.stop();
  await bus.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    eventsPerSec: Math.round(EVENTS / secs),
    loopActiveUsPerEvent: +((elu.active * 1000) / EVENTS).toFixed(1),
    // CPU of every thread (the writer worker included): what emission costs in total, immune to preemption.
    processCpuUsPerEvent: +((cpu.user + cpu.system) / EVENTS).toFixed(1),
    longestSyncProduceMs: +maxSyncMs.toFixed(2),
    loopDelayP99Ms: +(h.percentile(99) / 1e6).toFixed(2),
    loopDelayMaxMs: +(h.max / 1e6).toFixed(1),
  };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return +(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN).toFixed(2);
};

async function checkLoad(tree: string, fsync: boolean, env: Record<string, string> = {}) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(here, 'bench/emission-server.ts'), tree, fsync ? 'on' : 'off'],
    {
      cwd: tree,
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, MESH_APIM_LOG_LEVEL: 'silent', ...env },
    },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string);
  const { grpcPort, apiKey } = await next();
  const client = new CheckClient(`127.0.0.1:${grpcPort}`);
  const run = async (seconds: number) => {
    const lat: number[] = [];
    let errors = 0;
    const inflight: Promise<void>[] = [];
    const tickMs = 5;
    const perTick = (RATE * tickMs) / 1000;
    let owed = 0;
    const end = performance.now() + seconds * 1000;
    let i = 0;
    while (performance.now() < end) {
      owed += perTick;
      for (; owed >= 1; owed--) {
        const t = performance.now();
        inflight.push(
          client
            .check({ path: '/petstore/v1/pets', headers: { apikey: apiKey }, requestId: `b-${i++}` })
            .then(
              (r) => {
                if (!r.allowed) errors++;
                lat.push(performance.now() - t);
              },
              () => void errors++,
            ),
        );
      }
      await sleep(tickMs);
    }
    await Promise.all(inflight);
    return { lat, errors };
  };
  await run(1); // warm-up
  child.stdin!.write('reset\n');
  const { lat, errors } = await run(SECONDS);
  child.stdin!.write('report\n');
  const loop = await next();
  child.stdin!.write('stop\n');
  client.close();
  await once(child, 'exit');
  return {
    fsync: fsync ? 'on' : 'off',
    checks: lat.length,
    errors,
    p50Ms: pct(lat, 50),
    p99Ms: pct(lat, 99),
    loopDelayP99Ms: +loop.p99Ms.toFixed(2),
    loopDelayMaxMs: +loop.maxMs.toFixed(1),
    eventsOnLog: loop.events,
  };
}

const out: Record<string, unknown> = {
  loadavgAtStart: loadavg().map((x) => +x.toFixed(2)),
  rate: RATE,
  seconds: SECONDS,
};
const emitter: Record<string, unknown> = {};
for (const t of trees) if (!t.env) emitter[t.label] = await emitterInto(t.dir, 'embedded');
if (values.kafka) {
  for (const t of trees) if (!t.env) out[`emitterIntoKafka_${t.label}`] = await emitterInto(t.dir, 'kafka');
}
out.emitterIntoEmbeddedLog = emitter;
const checks: Record<string, unknown[]> = {};
// On and off back to back per tree (the machine's load drifts: adjacent runs compare best).
for (const t of values['emitter-only'] ? [] : trees) {
  for (const fsync of [true, false]) {
    checks[t.label] ??= [];
    checks[t.label]!.push(await checkLoad(t.dir, fsync, t.env));
  }
}
out.checksAtFixedRate = checks;
if (values.base && !values['emitter-only']) {
  const e = emitter as Record<string, { eventsPerSec: number; loopDelayP99Ms: number }>;
  const c = checks as Record<string, { p50Ms: number; p99Ms: number; loopDelayP99Ms: number }[]>;
  out.ratios = {
    emitterEventsPerSecAfterOverBefore: +(e.after!.eventsPerSec / e.before!.eventsPerSec).toFixed(2),
    checkP50FsyncOnOverOff: {
      before: +(c.before![0]!.p50Ms / c.before![1]!.p50Ms).toFixed(2),
      after: +(c.after![0]!.p50Ms / c.after![1]!.p50Ms).toFixed(2),
    },
    checkP99FsyncOn: { before: c.before![0]!.p99Ms, after: c.after![0]!.p99Ms },
    loopDelayP99FsyncOnMs: { before: c.before![0]!.loopDelayP99Ms, after: c.after![0]!.loopDelayP99Ms },
  };
}
out.loadavgAtEnd = loadavg().map((x) => +x.toFixed(2));
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
