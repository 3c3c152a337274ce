/**
 * Bench contenders as separate processes (so each can be pinned to its own core with taskset):
 * `node --import tsx bench/servers.ts noop|noop-http2|adapter [--transport http2|grpc-js] [--key-file PEM] [--policies FILE] [--emit] [--access-logs] [--no-fsync] [--kafka]`.
 * --key-file: the standalone signing key to use (so several adapter contenders accept one API key). Prints one JSON line
 * ({ port, adminPort?, apiKey?, startMs, emission? }) on stdout when ready; exits on SIGTERM or when stdin closes.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { Bus } from '../bus/types.ts';
import { BENCH_POLICIES } from './fixtures.ts';
import { benchArgs } from './lib/args.ts';

const t0 = performance.now();
const { positionals, values } = benchArgs({
  usage: 'node --import tsx bench/servers.ts noop|noop-http2|adapter [options]',
  positionals: true,
  options: {
    policies: { type: 'string' },
    emit: { type: 'boolean', default: false },
    'no-fsync': { type: 'boolean', default: false },
    // Access logs on (as Envoy is set up): allowed requests are emitted from the ALS entry, not the check.
    'access-logs': { type: 'boolean', default: false },
    // Emit to the real Kafka at KAFKA_BROKERS (the suite starts one) instead of the embedded log.
    kafka: { type: 'boolean', default: false },
    transport: { type: 'string', default: 'http2' },
    'key-file': { type: 'string' },
  },
});

const cleanups: (() => Promise<void> | void)[] = [];
async function shutdown(): Promise<void> {
  for (const c of cleanups.reverse()) await c();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.stdin.on('end', () => void shutdown());
process.stdin.resume();

async function embeddedBus(dir: string): Promise<{ bus: Bus; kind: string }> {
  // The real embedded log with its production defaults (a stand-in here once made every "embedded
  // log" figure a measure of an in-memory bus that kept every event).
  const { EmbeddedBus } = await import('../bus/embedded/index.ts');
  const { EMBEDDED_BUS_DEFAULTS } = await import('../bus/config.ts');
  const fsync = !values['no-fsync'];
  const bus = new EmbeddedBus({ ...EMBEDDED_BUS_DEFAULTS, dir, fsync });
  // After the adapter's stop (cleanups run in reverse): the emitter flushes into it first.
  cleanups.push(() => bus.close());
  return { bus, kind: `embedded-log (fsync ${fsync ? 'on' : 'off'})` };
}

async function kafkaBus(): Promise<{ bus: Bus; kind: string }> {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) throw new Error('--kafka needs KAFKA_BROKERS');
  const { loadConfig } = await import('../common/config/index.ts');
  const { KafkaBus } = await import('../bus/kafka/index.ts');
  const bus = new KafkaBus(loadConfig({ env: { KAFKA_BROKERS: brokers } }).bus.kafka);
  // Registered before the adapter's stop, so it runs after it (cleanups run in reverse): the emitter flushes first.
  cleanups.push(() => bus.close());
  return { bus, kind: `kafka ${brokers} (kafkajs, acks=all)` };
}

async function adapter(): Promise<void> {
  const { loadConfig } = await import('../common/config/index.ts');
  const { rootLogger } = await import('../common/log.ts');
  rootLogger.level = 'error';
  const { startAdapter } = await import('../adapter/main.ts');
  const { issueApiKey } = await import('../adapter/standalone/issuer.ts');
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-bench-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  let file = values.policies;
  if (!file) {
    file = join(dir, 'standalone.yaml');
    writeFileSync(file, BENCH_POLICIES);
  }
  const config = loadConfig({
    // MESH_APIM_* settings from the bench's environment reach the adapter (e.g. MESH_APIM_EMITTER_LINGER_MS).
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MESH_APIM_'))),
    overrides: {
      dataDir: join(dir, 'data'),
      logLevel: 'error',
      'adapter.grpcAddress': '127.0.0.1:0',
      'adapter.adminAddress': '127.0.0.1:0',
      'adapter.standaloneFile': file,
      'adapter.accessLogs': values['access-logs'],
      'adapter.transport': values.transport,
      instanceId: 'bench',
    },
  });
  if (values['key-file']) {
    const { SIGNING_KEY_FILE } = await import('../adapter/standalone/issuer.ts');
    mkdirSync(config.dataDir, { recursive: true });
    copyFileSync(values['key-file'], join(config.dataDir, SIGNING_KEY_FILE));
  }
  const emission = values.kafka ? await kafkaBus() : values.emit ? await embeddedBus(join(dir, 'log')) : null;
  const handle = await startAdapter(config, emission ? { bus: emission.bus } : {});
  const startMs = performance.now() - t0;
  cleanups.push(() => handle.stop());
  const snapshot = handle.store.current()!;
  const apps = [...snapshot.applications.values()];
  const app = snapshot.applications.get('bench-app') ?? apps[0]!;
  const apiKey = await issueApiKey(snapshot, handle.signingKey!, { application: app.name });
  const otherKey = snapshot.applications.get('other-app')
    ? await issueApiKey(snapshot, handle.signingKey!, { application: 'other-app' })
    : null;
  process.stdout.write(
    `${JSON.stringify({ port: handle.grpcPort, adminPort: handle.adminPort, apiKey, otherKey, startMs, emission: emission?.kind ?? null })}\n`,
  );
}

async function noop(): Promise<void> {
  const { authorizationService } = await import('../adapter/proto.ts');
  const server = new grpc.Server();
  server.addService(authorizationService().service, {
    Check: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { status: { code: 0 } }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  cleanups.push(() => server.forceShutdown());
  process.stdout.write(`${JSON.stringify({ port, startMs: performance.now() - t0 })}\n`);
}

/**
 * The no-op on node:http2 the issue measured: gRPC framing by hand, protobufjs decode of the whole
 * request (proto-loader's deserializer), one response encoded once. The floor of any node:http2 transport.
 */
async function noopHttp2(): Promise<void> {
  const http2 = await import('node:http2');
  const { envoyPackageDefinition } = await import('../adapter/proto.ts');
  const def = envoyPackageDefinition() as unknown as Record<
    string,
    { serialize(v: unknown): Buffer; deserialize(b: Buffer): unknown }
  >;
  const req = def['envoy.service.auth.v3.CheckRequest']!;
  const body = def['envoy.service.auth.v3.CheckResponse']!.serialize({ status: { code: 0 } });
  const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]);
  const headers = { ':status': 200, 'content-type': 'application/grpc' };
  const trailers = { 'grpc-status': '0' };
  const server = http2.createServer();
  server.on('stream', (stream) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('end', () => {
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      try {
        req.deserialize(all.subarray(5));
      } catch {
        // A stream the client reset mid-request (h2load at the end of a timed run) ends truncated.
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      if (stream.destroyed || stream.closed) return;
      stream.respond(headers, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers(trailers));
      stream.end(framed);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => void server.close());
  const port = (server.address() as { port: number }).port;
  process.stdout.write(`${JSON.stringify({ port, startMs: performance.now() - t0 })}\n`);
}

if (positionals[0] === 'adapter') await adapter();
else if (positionals[0] === 'noop') await noop();
else if (positionals[0] === 'noop-http2') await noopHttp2();
else {
  process.stderr.write(
    'usage: servers.ts noop|noop-http2|adapter [--transport http2|grpc-js] [--key-file PEM] [--policies FILE] [--emit] [--no-fsync] [--kafka]\n',
  );
  process.exit(2);
}
