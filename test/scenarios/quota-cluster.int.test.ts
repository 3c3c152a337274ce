/**
 * Cluster-wide quotas on a real Kafka (KAFKA_BROKERS; infra/kafka/kafka.sh): three adapter processes
 * (real gRPC servers) share a 300 per 10 s subscription over the throttle topic (smaller than the
 * issue's 1,000 so that 3x its rate is load a shared 2-core CI machine answers). Correctness bounds
 * on counts, not timings, counted by the adapters' own receive time: allowed in a window <= L x 1.02
 * + what one sync interval can add (rate x (interval + delivery allowance)), and >= 0.98 x L under
 * steady load at 3x the rate. bench/quota.ts runs the full-minute Bronze (1,000/min) case.
 * Faults: an instance SIGKILLed mid-window, one joining mid-window, the broker stopped (fallback).
 * Each run uses its own topic prefix.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowedInWindow,
  createTopics,
  emptyResult,
  type Instance,
  metric,
  nextWindow,
  paced,
  readyz,
  startInstance,
  stopInstance,
  waitFor,
  writePolicies,
} from '../support/quota-cluster.ts';

const brokers = process.env.KAFKA_BROKERS;
const kafkaScript = fileURLToPath(new URL('../../infra/kafka/kafka.sh', import.meta.url));
const run = promisify(execFile);

function kafkaSh(command: string) {
  const port = /:(\d+)$/.exec(brokers!.split(',')[0]!.trim())?.[1] ?? '19092';
  return run('bash', [kafkaScript, command], { env: { ...process.env, KAFKA_PORT: port }, timeout: 180_000 });
}

if (!brokers) console.warn('KAFKA_BROKERS is not set: the cluster-wide quota tests are SKIPPED');

const L = 300;
const WINDOW = 10_000;
const RATE = 90; // 3x 300 per 10 s
const INTERVAL_MS = 250;
/** Delivery allowance of a report (produce + fetch on a loaded CI machine). */
const DELIVERY_MS = 250;
const oneInterval = (rate: number) => Math.ceil((rate * (INTERVAL_MS + DELIVERY_MS)) / 1000);
const upper = (rate: number) => Math.floor(L * 1.02) + oneInterval(rate);
const SYNC = { 'adapter.throttleSyncIntervalMs': INTERVAL_MS, 'adapter.throttleSyncLeaseTimeoutMs': 3000 };
const fallbacks = async (ns: Instance[]) =>
  (await Promise.all(ns.map((n) => metric(n, 'mesh_apim_throttle_sync_fallback_decisions_total')))).join(',');
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

describe.skipIf(!brokers)('cluster-wide quotas (3 adapter processes, real Kafka)', () => {
  let dir: string;
  const prefix = `quota-${Date.now()}.`;
  const nodes: Instance[] = [];
  const live = () => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-apim-quota-'));
    writePolicies(dir);
    await createTopics(brokers!, prefix);
    for (const name of ['q0', 'q1', 'q2']) nodes.push(await startInstance(dir, name, brokers!, prefix, SYNC));
    await waitFor('3 instances in sync', async () =>
      (await Promise.all(nodes.map(readyz))).every(
        (r) => r.throttleSync?.mode === 'synced' && r.throttleSync.instances === 3,
      ),
    );
  });
  afterAll(async () => {
    await kafkaSh('start').catch(() => {});
    await Promise.all(nodes.map((n) => stopInstance(n).catch(() => {})));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Steady load for one whole window (from just after its start to just before its end). */
  async function window(targets: () => Instance[], path = '/petstore/v1/pets') {
    const start = await nextWindow(WINDOW);
    const r = await paced(targets, path, RATE, WINDOW - 300);
    return { ...r, ...allowedInWindow(r, start, WINDOW), start };
  }

  it('3x the rate spread evenly over 3 instances: 0.98 L <= allowed <= 1.02 L + one interval', async () => {
    const r = await window(() => nodes);
    console.log(
      `[quota] even: allowed ${r.allowed} of ${r.sent} sent (bound ${upper(RATE)}), by ${JSON.stringify(r.by)}, other ${JSON.stringify(r.reasons)}, fallback decisions ${await fallbacks(nodes)}; load ${load()}`,
    );
    expect(r.allowed).toBeGreaterThanOrEqual(0.98 * L);
    expect(r.allowed).toBeLessThanOrEqual(upper(RATE));
    // Every instance served part of it: each holds a lease.
    for (const n of nodes) expect(r.by[n.name] ?? 0).toBeGreaterThan(0);
  });

  it('3x the rate all on one instance: the lease follows the demand', async () => {
    const r = await window(() => [nodes[0]!]);
    console.log(
      `[quota] skewed: allowed ${r.allowed} of ${r.sent} sent (bound ${upper(RATE)}), other ${JSON.stringify(r.reasons)}; load ${load()}`,
    );
    expect(r.allowed).toBeGreaterThanOrEqual(0.98 * L);
    expect(r.allowed).toBeLessThanOrEqual(upper(RATE));
  });

  it('an instance SIGKILLed mid-window: its unused lease returns to the others within the window', async () => {
    const start = await nextWindow(WINDOW);
    const r = emptyResult();
    // The limit's rate for 3 s (a third used), so most of the budget sits in leases when q2 dies.
    await paced(() => nodes.slice(0, 3), '/petstore/v1/pets', L / 10, 3000, r);
    await stopInstance(nodes[2]!, 'SIGKILL');
    await paced(() => nodes.slice(0, 2), '/petstore/v1/pets', RATE, start + WINDOW - 300 - Date.now(), r);
    const w = allowedInWindow(r, start, WINDOW);
    console.log(
      `[quota] kill: allowed ${w.allowed} of ${r.sent} sent (bound ${upper(RATE)}), by ${JSON.stringify(w.by)}; load ${load()}`,
    );
    expect(w.allowed).toBeGreaterThanOrEqual(0.98 * L);
    expect(w.allowed).toBeLessThanOrEqual(upper(RATE));
    await waitFor('q2 seen dead', async () => (await readyz(nodes[0]!)).throttleSync?.instances === 2);
  });

  it('a new instance joining mid-window reads the window so far: no fresh budget', async () => {
    const J = 60_000;
    const start = await nextWindow(J);
    const r = emptyResult();
    // The limit's rate on q0 and q1 while q3 starts (it is ready mid-window), then 3x over all three.
    let joined: Instance | null = null;
    const starting = startInstance(dir, 'q3', brokers!, prefix, SYNC).then((n) => {
      joined = n;
      nodes.push(n);
    });
    while (!joined && Date.now() < start + J / 2)
      await paced(() => nodes.slice(0, 2), '/join/v1/pets', L / 60, 500, r);
    await starting;
    const joinedAt = Date.now() - start;
    const before = allowedInWindow(r, start, J).allowed;
    await paced(
      () => [nodes[0]!, nodes[1]!, joined!],
      '/join/v1/pets',
      L / 20,
      start + J - 300 - Date.now(),
      r,
    );
    const w = allowedInWindow(r, start, J);
    console.log(
      `[quota] join at ${joinedAt} ms: allowed ${w.allowed} of ${r.sent} sent (${before} before the join; bound ${upper(L / 20)}), by ${JSON.stringify(w.by)}; load ${load()}`,
    );
    expect(joinedAt).toBeLessThan(J - 10_000);
    expect(w.by.q3 ?? 0).toBeGreaterThan(0);
    expect(w.allowed).toBeGreaterThanOrEqual(0.98 * L);
    expect(w.allowed).toBeLessThanOrEqual(upper(L / 20));
  }, 240_000);

  it('broker stopped: each instance enforces limit / expected instances, in a metric and /readyz', async () => {
    const targets = live();
    await kafkaSh('stop');
    await waitFor(
      'fallback on every instance',
      async () =>
        (await Promise.all(targets.map(readyz))).every((r) => r.throttleSync?.mode === 'broker-unreachable'),
      30_000,
    );
    const status = (await readyz(targets[0]!)).throttleSync!;
    const r = await window(() => targets);
    const share = Math.ceil(L / status.expectedInstances);
    console.log(
      `[quota] broker down: allowed ${r.allowed} of ${r.sent} sent, by ${JSON.stringify(r.by)}, expected instances ${status.expectedInstances}, share ${share}; load ${load()}`,
    );
    expect(status.expectedInstances).toBe(3);
    for (const n of targets) {
      expect(r.by[n.name] ?? 0).toBeLessThanOrEqual(share);
      expect(r.by[n.name] ?? 0).toBeGreaterThan(0);
      expect(await metric(n, 'mesh_apim_throttle_sync_fallback')).toBe(1);
      expect(await metric(n, 'mesh_apim_throttle_sync_fallback_decisions_total')).toBeGreaterThan(0);
    }
  });
});
