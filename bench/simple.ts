/**
 * `npm run bench -- simple`: Check throughput and latency of the full adapter path (translate, API key
 * verification (cached), subscription, four throttle levels, response mapping, metrics) against a
 * no-op grpc-js Check server, side by side in one run on this machine. Both servers run in one
 * child process so the load generator (real grpc-js clients, this process) does not share their
 * event loop. Bounded by request count and time. Knobs: BENCH_REQUESTS, BENCH_CONCURRENCY,
 * BENCH_CLIENTS, BENCH_ROUNDS, BENCH_MAX_SECONDS. The targets are measured in alternating rounds so that
 * load from other processes on a shared machine hits both alike.
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { CheckClient } from '../adapter/check-client.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP = Math.min(2000, Math.ceil(REQUESTS / 10));

// Quotas high enough never to trip, so every level is counted but every request is allowed.
const BENCH_POLICIES = `
apis:
  - id: petstore-v1
    name: petstore
    version: v1
    context: /petstore
    policy: BenchApi
    resources:
      - { method: GET, path: /pets }
      - { method: GET, path: '/pets/{id}', policy: BenchApi }
applications:
  - { name: bench-app, tier: BenchApp }
subscriptions:
  - { application: bench-app, api: petstore-v1, tier: BenchSub }
policies:
  subscription:
    - { name: BenchSub, requestCount: 1000000000, burst: { limit: 1000000000, unit: sec } }
  application:
    - { name: BenchApp, requestCount: 1000000000 }
  api:
    - { name: BenchApi, requestCount: 1000000000 }
`;

interface Ports {
  adapter: number;
  noop: number;
  apiKey: string;
}

async function serve(): Promise<void> {
  const { loadConfig } = await import('../common/config.ts');
  const { rootLogger } = await import('../common/log.ts');
  rootLogger.level = 'warn';
  const { startAdapter } = await import('./../adapter/main.ts');
  const { issueApiKey } = await import('../adapter/standalone/issuer.ts');
  const { authorizationService } = await import('../adapter/proto.ts');
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-bench-'));
  const file = join(dir, 'standalone.yaml');
  writeFileSync(file, BENCH_POLICIES);
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir: join(dir, 'data'),
      logLevel: 'error',
      'adapter.grpcAddress': '127.0.0.1:0',
      'adapter.adminAddress': '127.0.0.1:0',
      'adapter.standaloneFile': file,
    },
  });
  const adapter = await startAdapter(config);
  const apiKey = await issueApiKey(adapter.store.current()!, adapter.signingKey!, {
    application: 'bench-app',
  });

  const noop = new grpc.Server();
  noop.addService(authorizationService().service, {
    Check: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { status: { code: 0 } }),
  });
  const noopPort = await new Promise<number>((resolve, reject) =>
    noop.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const stop = async () => {
    noop.forceShutdown();
    await adapter.stop();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('message', (m) => {
    if (m === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());
  process.send!({ adapter: adapter.grpcPort, noop: noopPort, apiKey } satisfies Ports);
}

interface Sample {
  latencies: Float64Array;
  errors: number;
  seconds: number;
}

interface Result {
  name: string;
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function load(port: number, apiKey: string, total: number): Promise<Sample> {
  const clients = Array.from({ length: CLIENTS }, () => new CheckClient(`127.0.0.1:${port}`));
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((res, rej) =>
          c.client.waitForReady(Date.now() + 5000, (e) => (e ? rej(e) : res())),
        ),
    ),
  );
  const request = CheckClient.request({
    path: '/petstore/v1/pets/42?limit=10',
    headers: { apikey: apiKey, 'user-agent': 'bench' },
    clientIp: '10.1.2.3',
  });
  const latencies = new Float64Array(total);
  let issued = 0;
  let done = 0;
  let errors = 0;
  const deadline = performance.now() + MAX_SECONDS * 1000;
  const t0 = performance.now();
  const worker = async (i: number) => {
    const client = clients[i % clients.length]!;
    while (issued < total && performance.now() < deadline) {
      issued++;
      const s = performance.now();
      try {
        const res = await client.raw(request);
        if ((res.status as { code: number }).code !== 0) errors++;
      } catch {
        errors++;
      }
      latencies[done++] = performance.now() - s;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => worker(i)));
  const seconds = (performance.now() - t0) / 1000;
  for (const c of clients) c.close();
  return { latencies: latencies.slice(0, done), errors, seconds };
}

function summarize(name: string, samples: Sample[]): Result {
  const all = new Float64Array(samples.reduce((n, s) => n + s.latencies.length, 0));
  let at = 0;
  for (const s of samples) {
    all.set(s.latencies, at);
    at += s.latencies.length;
  }
  const sorted = all.sort();
  const seconds = samples.reduce((n, s) => n + s.seconds, 0);
  return {
    name,
    requests: sorted.length,
    errors: samples.reduce((n, s) => n + s.errors, 0),
    seconds,
    rps: sorted.length / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['serve'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ports = await new Promise<Ports>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Ports));
    child.once('exit', (code) => reject(new Error(`bench server exited early (${code})`)));
  });
  try {
    process.stdout.write(
      `Check bench: ${REQUESTS} requests per target in ${ROUNDS} alternating rounds (after ${WARMUP} warm-up), ${CONCURRENCY} in flight over ${CLIENTS} grpc-js clients, max ${MAX_SECONDS}s per round\n`,
    );
    // Warm both (JIT, key cache), then measure in alternating rounds.
    await load(ports.noop, ports.apiKey, WARMUP);
    await load(ports.adapter, ports.apiKey, WARMUP);
    const noopSamples: Sample[] = [];
    const fullSamples: Sample[] = [];
    const perRound = Math.ceil(REQUESTS / ROUNDS);
    for (let r = 0; r < ROUNDS; r++) {
      noopSamples.push(await load(ports.noop, ports.apiKey, perRound));
      fullSamples.push(await load(ports.adapter, ports.apiKey, perRound));
    }
    const noop = summarize('no-op Check server', noopSamples);
    const full = summarize('full adapter path', fullSamples);
    const fmt = (r: Result) =>
      `${r.name.padEnd(20)} ${String(r.requests).padStart(7)} req ${String(r.errors).padStart(5)} err ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  max ${r.max.toFixed(1)} ms`;
    process.stdout.write(`${fmt(noop)}\n${fmt(full)}\n`);
    const ratios = {
      throughput: full.rps / noop.rps,
      p50: full.p50 / noop.p50,
      p99: full.p99 / noop.p99,
    };
    process.stdout.write(
      `ratio full/no-op: throughput ${ratios.throughput.toFixed(2)}x, p50 latency ${ratios.p50.toFixed(2)}x, p99 latency ${ratios.p99.toFixed(2)}x\n`,
    );
    if (full.errors > 0)
      process.stdout.write('WARNING: the full path answered some checks with a denial or error\n');
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `check-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
      `${JSON.stringify({ requests: REQUESTS, rounds: ROUNDS, concurrency: CONCURRENCY, clients: CLIENTS, noop, full, ratios }, null, 2)}\n`,
    );
  } finally {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
  }
}

if (process.argv[2] === 'serve') await serve();
else await main();
