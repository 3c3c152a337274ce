/**
 * Adapter processes sharing quotas over a real Kafka (test/scenarios/quota-cluster.int.test.ts and
 * bench/quota.ts): start/kill instances, paced check load spread over some of them, allowed counts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckClient } from '../../adapter/check-client.ts';
import { KafkaBus } from '../../bus/kafka/index.ts';
import { topicSpecs } from '../../bus/topics.ts';
import { loadConfig } from '../../common/config/index.ts';

const child = fileURLToPath(new URL('./adapter-process.ts', import.meta.url));

/** The subscriptions under test: 300 per 10 s (CI), 300 per minute (join), Bronze 1,000 per minute (bench). */
export const QUOTA_POLICIES = `
apis:
  - { id: petstore-v1, name: petstore, version: v1, context: /petstore, resources: [{ method: GET, path: /pets }] }
  - { id: join-v1, name: join, version: v1, context: /join, resources: [{ method: GET, path: /pets }] }
  - { id: bronze-v1, name: bronze, version: v1, context: /bronze, resources: [{ method: GET, path: /pets }] }
applications: [{ name: demo-app, tier: Unlimited }]
subscriptions:
  - { application: demo-app, api: petstore-v1, tier: Q300Per10s }
  - { application: demo-app, api: join-v1, tier: Q300PerMin }
  - { application: demo-app, api: bronze-v1, tier: Bronze }
policies:
  subscription:
    - { name: Q300Per10s, requestCount: 300, unitTime: 10, timeUnit: sec }
    - { name: Q300PerMin, requestCount: 300, unitTime: 1, timeUnit: min }
`;

export interface Instance {
  name: string;
  proc: ChildProcess;
  grpcPort: number;
  adminPort: number;
  apiKey: string;
  client: CheckClient;
}

export async function startInstance(
  dir: string,
  name: string,
  brokers: string,
  prefix: string,
  extra: Record<string, unknown> = {},
): Promise<Instance> {
  mkdirSync(join(dir, name), { recursive: true });
  const overrides = {
    dataDir: join(dir, name),
    logLevel: 'warn',
    instanceId: name,
    'adapter.grpcAddress': '127.0.0.1:0',
    'adapter.adminAddress': '127.0.0.1:0',
    'adapter.standaloneFile': join(dir, 'standalone.yaml'),
    'adapter.accessLogs': false,
    'bus.topicPrefix': prefix,
    ...extra,
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify(overrides)], {
    env: { ...process.env, KAFKA_BROKERS: brokers },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /^\{.*\}$/m.exec(buf);
      if (m) resolve(m[0]);
    });
    proc.once('exit', (code) => reject(new Error(`adapter process ${name} exited (${code})`)));
  });
  const info = JSON.parse(line) as { grpcPort: number; adminPort: number; apiKey: string };
  return { name, proc, ...info, client: new CheckClient(`127.0.0.1:${info.grpcPort}`) };
}

/** Every topic of the run's prefix, created before the adapters start (as `mesh-apim start` does). */
export async function createTopics(brokers: string, prefix: string): Promise<void> {
  const bus = new KafkaBus(loadConfig({ env: { KAFKA_BROKERS: brokers } }).bus.kafka);
  try {
    await bus.ensureTopics(topicSpecs(prefix));
  } finally {
    await bus.close();
  }
}

export function writePolicies(dir: string): void {
  writeFileSync(join(dir, 'standalone.yaml'), QUOTA_POLICIES);
}

export async function stopInstance(i: Instance, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  i.client.close();
  if (i.proc.exitCode !== null || i.proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => i.proc.once('exit', () => r()));
  i.proc.kill(signal);
  await exited;
}

export interface ThrottleSyncStatus {
  mode: string;
  instances: number;
  expectedInstances: number;
}

export async function readyz(i: Instance): Promise<{ throttleSync?: ThrottleSyncStatus }> {
  return (await fetch(`http://127.0.0.1:${i.adminPort}/readyz`).then((r) => r.json())) as {
    throttleSync?: ThrottleSyncStatus;
  };
}

export async function metric(i: Instance, name: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${i.adminPort}/metrics`).then((r) => r.text());
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

export async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Resolves at the next start of a `windowMs` window plus `marginMs` (clear of the boundary). */
export async function nextWindow(windowMs: number, marginMs = 150): Promise<number> {
  const now = Date.now();
  const start = Math.ceil(now / windowMs) * windowMs;
  await new Promise((r) => setTimeout(r, start + marginMs - now));
  return start;
}

export interface LoadResult {
  sent: number;
  allowed: number;
  throttled: number;
  other: number;
  /** Allowed per instance name. */
  allowedBy: Record<string, number>;
  /** Every allowed check: when the adapter received it (its window) and which instance. */
  allowedAt: { at: number; by: string }[];
  /** Other denials by status, failed calls by error. */
  reasons: Record<string, number>;
}

/**
 * Paced load: `ratePerSec` checks per second for `ms` on `path`, each to the next instance of
 * `targets()` (round robin: an even spread), sent without waiting for the previous answer.
 */
export async function paced(
  targets: () => Instance[],
  path: string,
  ratePerSec: number,
  ms: number,
  result: LoadResult = emptyResult(),
): Promise<LoadResult> {
  const t0 = Date.now();
  const tickMs = 10;
  let due = 0;
  let n = 0;
  const inFlight: Promise<void>[] = [];
  while (Date.now() - t0 < ms) {
    const elapsed = Date.now() - t0;
    const want = Math.floor((elapsed * ratePerSec) / 1000);
    for (; due < want; due++) {
      const list = targets();
      const i = list[n++ % list.length]!;
      result.sent += 1;
      inFlight.push(
        i.client
          .check({ path, headers: { apikey: i.apiKey }, requestId: `q-${i.name}-${n}` })
          .then((res) => {
            if (res.allowed) {
              result.allowed += 1;
              result.allowedBy[i.name] = (result.allowedBy[i.name] ?? 0) + 1;
              const ctx = res.requestContext as { receivedAt?: string } | null;
              result.allowedAt.push({
                at: ctx?.receivedAt ? Date.parse(ctx.receivedAt) : Number.NaN,
                by: i.name,
              });
            } else if (res.httpStatus === 429) {
              result.throttled += 1;
            } else {
              result.other += 1;
              result.reasons[String(res.httpStatus)] = (result.reasons[String(res.httpStatus)] ?? 0) + 1;
            }
          })
          .catch((err: unknown) => {
            result.other += 1;
            const why = `error:${err instanceof Error ? err.message.slice(0, 60) : String(err)}`;
            result.reasons[why] = (result.reasons[why] ?? 0) + 1;
          }),
      );
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(inFlight);
  return result;
}

export function emptyResult(): LoadResult {
  return { sent: 0, allowed: 0, throttled: 0, other: 0, allowedBy: {}, allowedAt: [], reasons: {} };
}

/**
 * Allowed checks the adapters received within [start, start + windowMs): the count the quota is
 * about, whatever the client-side delays (a loaded machine answers late, never in another window).
 */
export function allowedInWindow(
  r: LoadResult,
  start: number,
  windowMs: number,
): { allowed: number; by: Record<string, number> } {
  const by: Record<string, number> = {};
  let allowed = 0;
  for (const a of r.allowedAt) {
    if (!(a.at >= start && a.at < start + windowMs)) continue;
    allowed += 1;
    by[a.by] = (by[a.by] ?? 0) + 1;
  }
  return { allowed, by };
}
