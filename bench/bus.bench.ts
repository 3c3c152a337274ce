/**
 * Bus throughput, measured side by side in one run: embedded log produce (fsync on/off) and consume,
 * and the same on Kafka when KAFKA_BROKERS is set (infra/kafka/kafka.sh start). Batched produce
 * (the emitter's shape: 500 events per produce call), ~400-byte JSON events.
 *   node --import tsx bench/bus.bench.ts [events]
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMBEDDED_BUS_DEFAULTS } from '../bus/config.ts';
import { EmbeddedBus } from '../bus/embedded/index.ts';
import { KafkaBus } from '../bus/kafka/index.ts';
import type { Bus, OutRecord } from '../bus/types.ts';
import { loadConfig } from '../common/config/index.ts';
import { benchArgs } from './lib/args.ts';

const { positionals } = benchArgs({
  usage: 'node --import tsx bench/bus.bench.ts [events] (default 100000; KAFKA_BROKERS: Kafka too)',
  positionals: true,
  options: {},
});
const N = Number(positionals[0] ?? 100_000);
const BATCH = 500;

function events(n: number): OutRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const requestId = randomUUID();
    return {
      key: requestId,
      value: JSON.stringify({
        requestId,
        api: { id: 'pizza-v1', name: 'PizzaShack', version: '1.0.0', context: '/pizzashack/1.0.0' },
        resource: '/menu',
        method: 'GET',
        application: { id: `app-${i % 50}`, name: 'demo', owner: 'admin' },
        keyType: 'PRODUCTION',
        tier: 'Gold',
        decision: 'allow',
        clientIp: '10.0.0.1',
        userAgent: 'bench/1.0',
        ts: Date.now(),
      }),
      headers: { 'content-type': 'application/json' },
    };
  });
}

async function produceAll(bus: Bus, topic: string, records: OutRecord[]): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < records.length; i += BATCH) await bus.produce(topic, records.slice(i, i + BATCH));
  return records.length / ((performance.now() - t0) / 1000);
}

async function consumeAll(bus: Bus, topic: string, n: number): Promise<number> {
  let got = 0;
  const t0 = performance.now();
  let done!: () => void;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const sub = await bus.consume({
    groupId: `bench-${randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    maxBatchSize: 500,
    handler: async (b) => {
      got += b.records.length;
      if (got >= n) done();
    },
  });
  await finished;
  const rate = n / ((performance.now() - t0) / 1000);
  await sub.stop();
  return rate;
}

const results: Record<string, number> = {};
const records = events(N);
const spec = (name: string) => ({ name, partitions: 6, retentionMs: -1, cleanupPolicy: 'delete' as const });

for (const fsync of [true, false]) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-bus-'));
  const bus = new EmbeddedBus({ ...EMBEDDED_BUS_DEFAULTS, dir, fsync });
  await bus.ensureTopics([spec('bench')]);
  results[`embedded produce events/s (fsync=${fsync})`] = await produceAll(bus, 'bench', records);
  if (fsync) results['embedded consume events/s'] = await consumeAll(bus, 'bench', N);
  await bus.close();
  rmSync(dir, { recursive: true, force: true });
}

if (process.env.KAFKA_BROKERS) {
  const bus = new KafkaBus(loadConfig().bus.kafka);
  const topic = `bench.${randomUUID().slice(0, 8)}`;
  await bus.ensureTopics([spec(topic)]);
  results['kafka produce events/s (acks=all, idempotent, gzip)'] = await produceAll(bus, topic, records);
  results['kafka consume events/s'] = await consumeAll(bus, topic, N);
  await bus.close();
} else {
  console.log('KAFKA_BROKERS not set: Kafka not measured');
}

const rows = Object.entries(results).map(
  ([k, v]) => `${k.padEnd(55)} ${Math.round(v).toLocaleString('en-US')}`,
);
const ratio = (a: string, b: string) =>
  results[a] && results[b] ? `${a} / ${b} = ${(results[a] / results[b]).toFixed(2)}` : null;
const ratios = [
  ratio('embedded produce events/s (fsync=true)', 'kafka produce events/s (acks=all, idempotent, gzip)'),
  ratio('embedded consume events/s', 'kafka consume events/s'),
  ratio('embedded produce events/s (fsync=false)', 'embedded produce events/s (fsync=true)'),
].filter(Boolean);
console.log(`bus throughput, ${N} events, batches of ${BATCH}\n${rows.join('\n')}\n${ratios.join('\n')}`);
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/bus.json',
  JSON.stringify({ events: N, batch: BATCH, results, ratios }, null, 2),
);
