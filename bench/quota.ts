/**
 * `npm run bench:quota` (needs Kafka: KAFKA_BROKERS): the issue's measurement of cluster-wide quotas.
 * Three adapter processes share a Bronze subscription (1,000 per minute) over the throttle topic;
 * one full minute at 3x the rate (50 checks/s) spread evenly, then one full minute at 3x all on one
 * instance. Prints the allowed count of each minute (counted by the adapters' receive time) beside
 * the bound: 1,000 x 1.02 + what one sync interval can add (rate x (interval + delivery allowance)).
 * Knobs: BENCH_SYNC_MS (250), BENCH_DELIVERY_MS (250).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  allowedInWindow,
  createTopics,
  type Instance,
  nextWindow,
  paced,
  readyz,
  startInstance,
  stopInstance,
  waitFor,
  writePolicies,
} from '../test/support/quota-cluster.ts';
import { benchArgs } from './lib/args.ts';

benchArgs({
  usage: 'npm run bench:quota (needs KAFKA_BROKERS; knobs: BENCH_SYNC_MS, BENCH_DELIVERY_MS)',
  options: {},
});
const brokers = process.env.KAFKA_BROKERS;
if (!brokers) {
  console.error('bench:quota needs Kafka: set KAFKA_BROKERS (infra/kafka/kafka.sh start)');
  process.exit(2);
}
// The adapter processes inherit it: their logs would drown the result lines.
process.env.MESH_APIM_LOG_LEVEL ??= 'warn';
const L = 1000;
const MINUTE = 60_000;
const RATE = 50; // 3 x 1,000 per minute
const syncMs = Number(process.env.BENCH_SYNC_MS ?? 250);
const deliveryMs = Number(process.env.BENCH_DELIVERY_MS ?? 250);
const oneInterval = Math.ceil((RATE * (syncMs + deliveryMs)) / 1000);
const bound = Math.floor(L * 1.02);

const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-bench-quota-'));
const prefix = `bench-quota-${Date.now()}.`;
const nodes: Instance[] = [];
try {
  writePolicies(dir);
  await createTopics(brokers, prefix);
  for (const name of ['b0', 'b1', 'b2']) {
    nodes.push(await startInstance(dir, name, brokers, prefix, { 'adapter.throttleSyncIntervalMs': syncMs }));
  }
  await waitFor('3 instances in sync', async () =>
    (await Promise.all(nodes.map(readyz))).every(
      (r) => r.throttleSync?.mode === 'synced' && r.throttleSync.instances === 3,
    ),
  );
  for (const [name, targets] of [
    ['even (3x spread over 3 instances)', () => nodes],
    ['skewed (3x all on one instance)', () => [nodes[0]!]],
  ] as const) {
    const start = await nextWindow(MINUTE);
    const r = await paced(targets, '/bronze/v1/pets', RATE, MINUTE - 300);
    const w = allowedInWindow(r, start, MINUTE);
    console.log(
      `${name}: allowed ${w.allowed} in the minute of ${r.sent} sent; bound ${bound} (1.02 L) + ${oneInterval} (one interval) = ${bound + oneInterval}; floor ${0.98 * L}; by ${JSON.stringify(w.by)}; failed ${r.other}; load ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );
  }
} finally {
  await Promise.all(nodes.map((n) => stopInstance(n).catch(() => {})));
  rmSync(dir, { recursive: true, force: true });
}
