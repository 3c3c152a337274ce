/**
 * Emission benchmark (not a test): `npm run bench:emit [-- --events 200000 --checks 20000]`.
 *  1. events/s the Emitter sustains into the memory bus, and into the embedded log when this
 *     branch has it (bus/embedded), from emit() to the bus accepting them;
 *  2. spool write rate (bus down) and drain rate (bus back), into the memory bus;
 *  3. ext_authz check throughput with emission on (every check emits: accessLogs=false) vs off:
 *     two adapters up side by side, measured in alternating rounds; the ratio is the number to read.
 * One run each on a shared machine: compare ratios, not absolute numbers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { CheckClient } from '../adapter/check-client.ts';
import { EMITTER_DEFAULTS } from '../adapter/emit/config.ts';
import { Emitter } from '../adapter/emit/emitter.ts';
import { requestAttributesFromCheck } from '../adapter/emit/events.ts';
import { checkEmission } from '../adapter/emit/observer.ts';
import { emissionPolicy } from '../adapter/emit/policy.ts';
import { startAdapter } from '../adapter/main.ts';
import { issueApiKey } from '../adapter/standalone/issuer.ts';
import { MemoryBus } from '../bus/memory.ts';
import type { Bus } from '../bus/types.ts';
import { loadConfig } from '../common/config/index.ts';
import { ALLOWED_CONTEXT } from './fixtures.ts';
import { benchArgs } from './lib/args.ts';

const { values } = benchArgs({
  usage: 'npm run bench:emit -- [options]',
  options: {
    events: { type: 'string', default: '200000' },
    checks: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '64' },
  },
});
const EVENTS = Number(values.events);
const CHECKS = Number(values.checks);
const CONCURRENCY = Number(values.concurrency);
const silent = pino({ level: 'silent' });
const TOPIC = 'mesh-apim.request-attributes.v1';

const ctx = ALLOWED_CONTEXT;
const now = new Date();
const event = (i: number) => requestAttributesFromCheck({ ...ctx, requestId: `req-${i}` }, now);

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'mesh-apim-bench-'));
}

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await sleep(1);
}

/** Counts what the bus accepted without scanning it (the memory bus's records() is O(n)). */
function counting(bus: Bus): { bus: Bus; count: () => number } {
  let n = 0;
  const produce = bus.produce.bind(bus);
  bus.produce = async (topic, records) => {
    await produce(topic, records);
    n += records.length;
  };
  return { bus, count: () => n };
}

async function emitterThroughput(target: Bus, label: string) {
  const { bus, count } = counting(target);
  const dir = tmp();
  const emitter = new Emitter({
    ...EMITTER_DEFAULTS,
    bus,
    dataDir: dir,
    registry: new Registry(),
    logger: silent,
    produceTimeoutMs: 10_000,
  });
  await emitter.start();
  const events = Array.from({ length: EVENTS }, (_, i) => event(i));
  const t0 = performance.now();
  // Emit in slices so the loop gets turns, as under real traffic.
  let emitNs = 0;
  for (let i = 0; i < EVENTS; i += 1000) {
    const s = performance.now();
    for (let j = i; j < Math.min(i + 1000, EVENTS); j++) emitter.emit('requestAttributes', events[j]!);
    emitNs += (performance.now() - s) * 1e6;
    await new Promise((r) => setImmediate(r));
  }
  while (count() < EVENTS) await sleep(2);
  const secs = (performance.now() - t0) / 1000;
  const spooled = (await emitter.metrics.spooled.get()).values[0]?.value ?? 0;
  await emitter.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    label,
    events: EVENTS,
    seconds: +secs.toFixed(2),
    eventsPerSec: Math.round(EVENTS / secs),
    emitCallNs: Math.round(emitNs / EVENTS),
    spooledOnTheWay: spooled,
  };
}

async function spoolRates() {
  const dir = tmp();
  const bus = new MemoryBus();
  bus.failProduce = new Error('down');
  const emitter = new Emitter({
    ...EMITTER_DEFAULTS,
    bus,
    dataDir: dir,
    registry: new Registry(),
    logger: silent,
    retryMinMs: 60_000,
    retryMaxMs: 60_000,
  });
  await emitter.start();
  const t0 = performance.now();
  for (let i = 0; i < EVENTS; i += 1000) {
    for (let j = i; j < Math.min(i + 1000, EVENTS); j++) emitter.emit('requestAttributes', event(j));
    await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => emitter.spool.pending === EVENTS);
  const writeSecs = (performance.now() - t0) / 1000;
  const bytes = emitter.spool.bytes;
  await emitter.stop();
  // Drain: a new emitter over the spool (as after a restart), bus up.
  const bus2 = new MemoryBus();
  const drainer = new Emitter({
    ...EMITTER_DEFAULTS,
    bus: bus2,
    dataDir: dir,
    registry: new Registry(),
    logger: silent,
  });
  const t1 = performance.now();
  await drainer.start();
  await waitFor(() => drainer.spool.isEmpty() && bus2.records(TOPIC).length === EVENTS);
  const drainSecs = (performance.now() - t1) / 1000;
  const delivered = bus2.records(TOPIC).length;
  await drainer.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    events: EVENTS,
    spoolMiB: +(bytes / 1048576).toFixed(1),
    writeEventsPerSec: Math.round(EVENTS / writeSecs),
    drainEventsPerSec: Math.round(EVENTS / drainSecs),
    delivered,
  };
}

// Unlimited tiers: every check is allowed and emits, so both runs do the same decision work.
const BENCH_STANDALONE = `apis:
  - { id: petstore-v1, name: petstore, version: v1, context: /petstore, provider: admin, lifecycle: PUBLISHED, policy: Unlimited,
      resources: [{ method: GET, path: /pets }] }
applications:
  - { name: demo-app, owner: demo, tier: Unlimited }
subscriptions:
  - { application: demo-app, api: petstore-v1, tier: Unlimited, state: UNBLOCKED }
`;

async function checkTarget(withEmission: boolean) {
  const dir = tmp();
  const standaloneFile = join(dir, 'standalone.yaml');
  writeFileSync(standaloneFile, BENCH_STANDALONE);
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir: dir,
      'adapter.grpcAddress': '127.0.0.1:0',
      'adapter.adminAddress': '127.0.0.1:0',
      'adapter.accessLogs': false,
      'adapter.standaloneFile': standaloneFile,
      instanceId: 'bench',
    },
  });
  const bus = new MemoryBus();
  const adapter = await startAdapter(config, withEmission ? { bus } : {});
  const key = await issueApiKey(adapter.store.current()!, adapter.signingKey!, { application: 'demo-app' });
  const client = new CheckClient(`127.0.0.1:${adapter.grpcPort}`);
  let seconds = 0;
  let checks = 0;
  const run = async (n: number) => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          const i = next++;
          const r = await client.check({
            path: '/petstore/v1/pets',
            headers: { apikey: key },
            requestId: `b-${i}`,
          });
          if (!r.allowed) throw new Error(`check denied: ${JSON.stringify(r.body)}`);
        }
      }),
    );
    return (performance.now() - t0) / 1000;
  };
  return {
    warmUp: () => run(Math.min(2000, CHECKS)),
    async round(n: number) {
      seconds += await run(n);
      checks += n;
    },
    async result() {
      client.close();
      await adapter.stop(); // flushes the emitter: every check's event is on the bus
      rmSync(dir, { recursive: true, force: true });
      return {
        emission: withEmission,
        checks,
        checksPerSec: Math.round(checks / seconds),
        eventsOnBus: bus.records(TOPIC).length,
      };
    },
  };
}

/** Emission off vs on (every check emits), both adapters up, measured in alternating rounds. */
async function checkThroughput() {
  const off = await checkTarget(false);
  const on = await checkTarget(true);
  await off.warmUp();
  await on.warmUp();
  const rounds = 5;
  for (let r = 0; r < rounds; r++) {
    await off.round(Math.ceil(CHECKS / rounds));
    await on.round(Math.ceil(CHECKS / rounds));
  }
  const a = await off.result();
  const b = await on.result();
  return { off: a, on: b, ratioOnOverOff: +(b.checksPerSec / a.checksPerSec).toFixed(3) };
}

async function embeddedBus(): Promise<{ bus: Bus; dir: string } | null> {
  const path = '../bus/embedded/index.ts';
  try {
    const mod = (await import(path)) as { EmbeddedBus: new (o: { dir: string; logger?: unknown }) => Bus };
    const dir = tmp();
    return { bus: new mod.EmbeddedBus({ dir, logger: silent }), dir };
  } catch {
    return null;
  }
}

/** What emission adds to each check on its thread: the observer (build the event + emit()). */
async function observerCost() {
  const dir = tmp();
  const n = Math.min(EVENTS, 100_000);
  const emitter = new Emitter({
    ...EMITTER_DEFAULTS,
    bus: new MemoryBus(),
    dataDir: dir,
    registry: new Registry(),
    logger: silent,
    bufferMax: n + 1,
  });
  const observer = checkEmission(emitter, emissionPolicy(false));
  const records = Array.from({ length: n }, (_, i) => ({
    context: { ...ctx, requestId: `req-${i}` },
    timings: { startedAt: Date.now(), credentialMs: 0, decideMs: 0, totalMs: 0.1 },
  }));
  type Rec = Parameters<typeof observer>[0];
  for (const r of records.slice(0, n / 2)) observer(r as unknown as Rec); // warm-up (JIT)
  (emitter as unknown as { buffer: unknown[] }).buffer = [];
  const t0 = performance.now();
  for (const r of records) observer(r as unknown as Rec);
  const ns = ((performance.now() - t0) * 1e6) / n;
  rmSync(dir, { recursive: true, force: true });
  return { checks: n, observerNsPerCheck: Math.round(ns) };
}

const results: Record<string, unknown> = {};
results.observer = await observerCost();
results.emitterIntoMemoryBus = await emitterThroughput(new MemoryBus(), 'memory');
const embedded = await embeddedBus();
if (embedded) {
  const { bus, dir } = embedded;
  results.emitterIntoEmbeddedLog = await emitterThroughput(bus, 'embedded');
  await bus.close();
  rmSync(dir, { recursive: true, force: true });
} else {
  results.emitterIntoEmbeddedLog = 'bus/embedded not on this branch';
}
results.spool = await spoolRates();
results.check = await checkThroughput();
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
