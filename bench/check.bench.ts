/**
 * `npm run bench`: Check throughput and latency of the full adapter path (translate, credential
 * verification, subscription, four throttle levels, response mapping, metrics) against a no-op
 * grpc-js Check server, side by side in one run on this machine, for three credentials: a WSO2 API
 * key (verified-key cache), an OAuth2 JWT access token (JWKS cached, verified-token cache) and an
 * opaque token (introspection cache hit; the key manager is a local HTTP server that answers once). Both servers run in one
 * child process so the load generator (real grpc-js clients, this process) does not share their
 * event loop. Bounded by request count and time. Knobs: BENCH_REQUESTS, BENCH_CONCURRENCY,
 * BENCH_CLIENTS, BENCH_ROUNDS, BENCH_MAX_SECONDS. The targets are measured in alternating rounds so that
 * load from other processes on a shared machine hits both alike.
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { CheckClient } from '../adapter/check-client.ts';
import { BENCH_POLICIES } from './fixtures.ts';
import { benchArgs } from './lib/args.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP = Math.min(2000, Math.ceil(REQUESTS / 10));

interface Ports {
  adapter: number;
  noop: number;
  apiKey: string;
  jwt: string;
  opaque: string;
}

const BENCH_ISSUER = 'https://bench.idp.local/oauth2/token';
const OPAQUE_TOKEN = 'bench-opaque-access-token-0001';

/** Local JWKS + RFC 7662 endpoints for the OAuth2 workloads (hit only on cache misses). */
async function startKeyManager(jwk: Record<string, unknown>): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url === '/jwks') res.end(JSON.stringify({ keys: [jwk] }));
      else
        res.end(
          JSON.stringify({
            active: true,
            client_id: 'bench-ck',
            scope: 'default',
            exp: Math.floor(Date.now() / 1000) + 3600,
          }),
        );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => server.close(),
  };
}

async function serve(): Promise<void> {
  const { loadConfig } = await import('../common/config/index.ts');
  const { rootLogger } = await import('../common/log.ts');
  rootLogger.level = 'warn';
  const { startAdapter } = await import('../adapter/main.ts');
  const { issueApiKey } = await import('../adapter/standalone/issuer.ts');
  const { authorizationService } = await import('../adapter/proto.ts');
  const { exportJWK, generateKeyPair, SignJWT } = await import('jose');
  const keys = await generateKeyPair('RS256', { extractable: true });
  const km = await startKeyManager({ ...(await exportJWK(keys.publicKey)), kid: 'bench', alg: 'RS256' });
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
      'oauth.issuers': [{ issuer: BENCH_ISSUER, jwksUrl: `${km.url}/jwks` }],
      'oauth.introspectionUrl': `${km.url}/introspect`,
      'oauth.introspectionClientId': 'bench',
      'oauth.introspectionClientSecret': 'bench',
    },
  });
  const adapter = await startAdapter(config);
  const apiKey = await issueApiKey(adapter.store.current()!, adapter.signingKey!, {
    application: 'bench-app',
  });
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({ azp: 'bench-ck', sub: 'bench-user', scope: 'default', jti: 'bench-jti' })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'bench' })
    .setIssuer(BENCH_ISSUER)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(keys.privateKey);

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
    km.close();
    await adapter.stop();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('message', (m) => {
    if (m === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());
  process.send!({
    adapter: adapter.grpcPort,
    noop: noopPort,
    apiKey,
    jwt,
    opaque: OPAQUE_TOKEN,
  } satisfies Ports);
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

async function load(port: number, headers: Record<string, string>, total: number): Promise<Sample> {
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
    headers: { ...headers, 'user-agent': 'bench' },
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
    const targets: { name: string; port: number; headers: Record<string, string> }[] = [
      { name: 'no-op Check server', port: ports.noop, headers: { apikey: ports.apiKey } },
      { name: 'API key', port: ports.adapter, headers: { apikey: ports.apiKey } },
      { name: 'OAuth2 JWT', port: ports.adapter, headers: { authorization: `Bearer ${ports.jwt}` } },
      { name: 'opaque token', port: ports.adapter, headers: { authorization: `Bearer ${ports.opaque}` } },
    ];
    // Warm every target (JIT, key/token caches, JWKS, introspection), then alternate rounds.
    for (const t of targets) await load(t.port, t.headers, WARMUP);
    const samples: Sample[][] = targets.map(() => []);
    const perRound = Math.ceil(REQUESTS / ROUNDS);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, t] of targets.entries()) samples[i]!.push(await load(t.port, t.headers, perRound));
    }
    const [noop, full, jwt, opaque] = targets.map((t, i) => summarize(t.name, samples[i]!)) as [
      Result,
      Result,
      Result,
      Result,
    ];
    const fmt = (r: Result) =>
      `${r.name.padEnd(20)} ${String(r.requests).padStart(7)} req ${String(r.errors).padStart(5)} err ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  max ${r.max.toFixed(1)} ms`;
    process.stdout.write(`${[noop, full, jwt, opaque].map(fmt).join('\n')}\n`);
    const ratio = (a: Result, b: Result) => ({
      throughput: a.rps / b.rps,
      p50: a.p50 / b.p50,
      p99: a.p99 / b.p99,
    });
    const ratios = {
      apiKeyVsNoop: ratio(full, noop),
      jwtVsNoop: ratio(jwt, noop),
      opaqueVsNoop: ratio(opaque, noop),
      jwtVsApiKey: ratio(jwt, full),
      opaqueVsApiKey: ratio(opaque, full),
    };
    const line = (label: string, r: ReturnType<typeof ratio>) =>
      `ratio ${label.padEnd(22)} throughput ${r.throughput.toFixed(2)}x, p50 latency ${r.p50.toFixed(2)}x, p99 latency ${r.p99.toFixed(2)}x\n`;
    process.stdout.write(
      line('API key/no-op:', ratios.apiKeyVsNoop) +
        line('OAuth2 JWT/no-op:', ratios.jwtVsNoop) +
        line('opaque token/no-op:', ratios.opaqueVsNoop) +
        line('OAuth2 JWT/API key:', ratios.jwtVsApiKey) +
        line('opaque token/API key:', ratios.opaqueVsApiKey),
    );
    if (full.errors + jwt.errors + opaque.errors > 0)
      process.stdout.write('WARNING: the full path answered some checks with a denial or error\n');
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `check-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
      `${JSON.stringify({ requests: REQUESTS, rounds: ROUNDS, concurrency: CONCURRENCY, clients: CLIENTS, noop, full, jwt, opaque, ratios }, null, 2)}\n`,
    );
  } finally {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
  }
}

const { positionals } = benchArgs({
  usage:
    'npm run bench -- simple (knobs: BENCH_REQUESTS, BENCH_CONCURRENCY, BENCH_CLIENTS, BENCH_ROUNDS, BENCH_MAX_SECONDS)',
  positionals: true,
  options: {},
});
// `serve`: the servers' child process (main forks it).
if (positionals[0] === 'serve') await serve();
else await main();
