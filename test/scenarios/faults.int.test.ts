/**
 * Fault injection (needs the real Kafka of infra/kafka/kafka.sh, KAFKA_BROKERS; .ci/run starts it):
 *  - Kafka stopped under steady check load, then restarted: checks keep being answered (the
 *    throughput during the outage is printed as a ratio of before), and every event produced
 *    during the outage reaches the topic after recovery (count in = count out).
 *  - The adapter SIGKILLed while its events sit in the on-disk spool: a restart delivers them all.
 * Each run writes to its own topic prefix, so concurrent runs on one broker do not mix. Both suites run
 * on both transports (adapter.transport): nothing already tested may regress on either (issue 12).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckClient } from '../../adapter/check-client.ts';
import { KafkaBus } from '../../bus/kafka/index.ts';
import { loadConfig } from '../../common/config/index.ts';
import { TOPICS } from '../../events/topics.ts';

const brokers = process.env.KAFKA_BROKERS;
const kafkaScript = fileURLToPath(new URL('../../infra/kafka/kafka.sh', import.meta.url));
const child = fileURLToPath(new URL('../support/adapter-process.ts', import.meta.url));
const run = promisify(execFile);

function kafkaSh(command: string) {
  const port = /:(\d+)$/.exec(brokers!.split(',')[0]!.trim())?.[1] ?? '19092';
  return run('bash', [kafkaScript, command], { env: { ...process.env, KAFKA_PORT: port }, timeout: 180_000 });
}

if (!brokers) console.warn('KAFKA_BROKERS is not set: the fault-injection tests are SKIPPED');

// Quotas that never trip: every check is an allow and one event.
const POLICIES = `
apis:
  - { id: petstore-v1, name: petstore, version: v1, context: /petstore, resources: [{ method: GET, path: /pets }] }
applications: [{ name: demo-app, tier: Unlimited }]
subscriptions: [{ application: demo-app, api: petstore-v1, tier: Unlimited }]
`;

interface Proc {
  proc: ChildProcess;
  grpcPort: number;
  adminPort: number;
  apiKey: string;
}

async function startChild(dir: string, dataSubdir: string, prefix: string, transport: string): Promise<Proc> {
  const overrides = {
    'adapter.transport': transport,
    dataDir: join(dir, dataSubdir),
    logLevel: 'warn',
    instanceId: 'fault',
    'adapter.grpcAddress': '127.0.0.1:0',
    'adapter.adminAddress': '127.0.0.1:0',
    'adapter.standaloneFile': join(dir, 'standalone.yaml'),
    'adapter.accessLogs': false,
    'bus.topicPrefix': prefix,
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify(overrides)], {
    env: { ...process.env, KAFKA_BROKERS: brokers! },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /^\{.*\}$/m.exec(buf);
      if (m) resolve(m[0]);
    });
    proc.once('exit', (code) => reject(new Error(`adapter process exited (${code})`)));
  });
  return { proc, ...(JSON.parse(line) as Omit<Proc, 'proc'>) };
}

function stopChild(p: Proc, signal: NodeJS.Signals): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => p.proc.once('exit', () => r()));
  p.proc.kill(signal);
  return exited;
}

async function metric(p: Proc, name: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${p.adminPort}/metrics`).then((r) => r.text());
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

/** Sends checks with ids `${prefix}${n}` from `concurrency` loops until `until()`; returns answered ids (all must be allows). */
async function load(p: Proc, prefix: string, counter: { n: number }, until: () => boolean, concurrency = 8) {
  const client = new CheckClient(`127.0.0.1:${p.grpcPort}`);
  const ids: string[] = [];
  let wrong = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!until()) {
        const id = `${prefix}${counter.n++}`;
        const res = await client.check({
          path: '/petstore/v1/pets',
          headers: { apikey: p.apiKey },
          requestId: id,
        });
        if (res.allowed) ids.push(id);
        else wrong++;
      }
    }),
  );
  client.close();
  return { ids, wrong, seconds: (performance.now() - t0) / 1000 };
}

/** Request ids of the events on the run's request-attributes topic. */
/** Topics are created from their definitions before producers start (no broker auto-creation). */
async function createTopic(bus: KafkaBus, name: string): Promise<void> {
  await bus.ensureTopics([{ name, partitions: 3, retentionMs: 3_600_000, cleanupPolicy: 'delete' }]);
}

async function idsOnTopic(bus: KafkaBus, topic: string): Promise<string[]> {
  const out: string[] = [];
  for (const { partition, offset } of await bus.endOffsets(topic)) {
    let at = 0n;
    const end = BigInt(offset);
    while (at < end) {
      const records = await bus.read(topic, partition, at.toString(), 5000);
      if (records.length === 0) break;
      for (const r of records) out.push((JSON.parse(r.value!.toString()) as { requestId: string }).requestId);
      at = BigInt(records[records.length - 1]!.offset) + 1n;
    }
  }
  return out;
}

async function waitForIds(
  bus: KafkaBus,
  topic: string,
  want: Set<string>,
  timeoutMs: number,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = await idsOnTopic(bus, topic).catch(() => seen);
    const have = new Set(seen);
    if ([...want].every((id) => have.has(id))) return seen;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return seen;
}

describe.skipIf(!brokers).each(['http2', 'grpc-js'])(
  'fault injection (real Kafka, %s transport)',
  (transport) => {
    let dir: string;
    let reader: KafkaBus;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'mesh-apim-faults-'));
      writeFileSync(join(dir, 'standalone.yaml'), POLICIES);
      reader = new KafkaBus(loadConfig({ env: { KAFKA_BROKERS: brokers! } }).bus.kafka);
    });
    afterAll(async () => {
      await kafkaSh('start').catch(() => {});
      // A client that lived through broker restarts may take long to disconnect: bounded.
      await Promise.race([reader?.close(), new Promise((r) => setTimeout(r, 10_000))]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('Kafka down under check load: checks keep being answered, every event lands after recovery', async () => {
      const prefix = `fault-outage-${transport}-${Date.now()}.`;
      const topic = `${prefix}${TOPICS.requestAttributes.name}`;
      await createTopic(reader, topic);
      const p = await startChild(dir, `outage-${transport}`, prefix, transport);
      const counter = { n: 0 };
      try {
        const phase = async (ms: number) => {
          const end = Date.now() + ms;
          return load(p, prefix, counter, () => Date.now() >= end);
        };
        const before = await phase(4000);
        await kafkaSh('stop');
        const outage = await phase(6000);
        // Recovery: the broker comes back while checks keep flowing.
        let started = false;
        const restart = kafkaSh('start').then(() => {
          started = true;
        });
        const during = await load(p, prefix, counter, () => started);
        await restart;
        const after = await phase(2000);
        const all = [...before.ids, ...outage.ids, ...during.ids, ...after.ids];
        const ratio = outage.ids.length / outage.seconds / (before.ids.length / before.seconds);
        console.log(
          `[faults] checks/s before ${(before.ids.length / before.seconds).toFixed(0)}, during the Kafka outage ${(outage.ids.length / outage.seconds).toFixed(0)} (ratio ${ratio.toFixed(2)}); ${all.length} checks answered in all`,
        );
        expect(before.wrong + outage.wrong + during.wrong + after.wrong).toBe(0);
        expect(outage.ids.length).toBeGreaterThan(0);
        const seen = await waitForIds(reader, topic, new Set(all), 120_000);
        const seenSet = new Set(seen);
        const missing = all.filter((id) => !seenSet.has(id));
        console.log(
          `[faults] events in ${all.length}, on the topic ${new Set(seen).size} distinct (${seen.length - new Set(seen).size} duplicates), spooled ${await metric(p, 'mesh_apim_emit_events_spooled_total')}, dropped ${await metric(p, 'mesh_apim_emit_events_dropped_total')}`,
        );
        expect(missing).toEqual([]);
        expect(await metric(p, 'mesh_apim_emit_events_dropped_total')).toBe(0);
      } finally {
        await stopChild(p, 'SIGTERM');
      }
    }, 400_000);

    it('adapter SIGKILLed while events are spooled: all are delivered after restart', async () => {
      const prefix = `fault-kill-${transport}-${Date.now()}.`;
      const topic = `${prefix}${TOPICS.requestAttributes.name}`;
      await createTopic(reader, topic);
      await kafkaSh('stop');
      const first = await startChild(dir, `kill-${transport}`, prefix, transport);
      const counter = { n: 0 };
      let sent: string[] = [];
      try {
        let done = 0;
        const r = await load(first, prefix, counter, () => done++ >= 300, 4);
        sent = r.ids;
        expect(r.wrong).toBe(0);
        // Wait until every event sits in the spool on disk (the broker is down), then kill -9.
        const deadline = Date.now() + 60_000;
        while (
          (await metric(first, 'mesh_apim_emit_events_spooled_total')) < sent.length &&
          Date.now() < deadline
        )
          await new Promise((res) => setTimeout(res, 500));
        expect(await metric(first, 'mesh_apim_emit_events_spooled_total')).toBeGreaterThanOrEqual(
          sent.length,
        );
      } finally {
        await stopChild(first, 'SIGKILL');
      }
      await kafkaSh('start');
      const second = await startChild(dir, `kill-${transport}`, prefix, transport);
      try {
        const seen = await waitForIds(reader, topic, new Set(sent), 120_000);
        const seenSet = new Set(seen);
        const missing = sent.filter((id) => !seenSet.has(id));
        console.log(
          `[faults] spooled before SIGKILL ${sent.length}, on the topic after restart ${new Set(seen).size} distinct`,
        );
        expect(missing).toEqual([]);
      } finally {
        await stopChild(second, 'SIGTERM');
      }
    }, 400_000);
  },
);
