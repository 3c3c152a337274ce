/**
 * Bench contenders as separate processes (so each can be pinned to its own core with taskset):
 * `node --import tsx bench/servers.ts noop|adapter [--policies FILE] [--emit] [--no-fsync] [--kafka]`. Prints one JSON line
 * ({ port, adminPort?, apiKey?, startMs, emission? }) on stdout when ready; exits on SIGTERM or when stdin closes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { Bus } from '../bus/types.ts';
import { BENCH_POLICIES } from './fixtures.ts';

const t0 = performance.now();
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    policies: { type: 'string' },
    emit: { type: 'boolean', default: false },
    'no-fsync': { type: 'boolean', default: false },
    // Emit to the real Kafka at KAFKA_BROKERS (the suite starts one) instead of the embedded log.
    kafka: { type: 'boolean', default: false },
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
  // The embedded log lives in bus/embedded once the event-stream branch is merged; until then the
  // memory bus stands in (the emitter's batching and the observer cost are the same).
  const path = '../bus/embedded/index.ts';
  try {
    const mod = (await import(path)) as { EmbeddedBus: new (o: { dir: string; fsync?: boolean }) => Bus };
    const fsync = !values['no-fsync'];
    return { bus: new mod.EmbeddedBus({ dir, fsync }), kind: `embedded-log (fsync ${fsync ? 'on' : 'off'})` };
  } catch {
    const { MemoryBus } = await import('../bus/memory.ts');
    return { bus: new MemoryBus(), kind: 'memory-bus (embedded log not merged)' };
  }
}

async function kafkaBus(): Promise<{ bus: Bus; kind: string }> {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) throw new Error('--kafka needs KAFKA_BROKERS');
  const { loadConfig } = await import('../common/config.ts');
  const { KafkaBus } = await import('../bus/kafka/index.ts');
  const bus = new KafkaBus(loadConfig({ env: { KAFKA_BROKERS: brokers } }).bus.kafka);
  // Registered before the adapter's stop, so it runs after it (cleanups run in reverse): the emitter flushes first.
  cleanups.push(() => bus.close());
  return { bus, kind: `kafka ${brokers} (kafkajs, acks=all)` };
}

async function adapter(): Promise<void> {
  const { loadConfig } = await import('../common/config.ts');
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
    env: {},
    overrides: {
      dataDir: join(dir, 'data'),
      logLevel: 'error',
      'adapter.grpcAddress': '127.0.0.1:0',
      'adapter.adminAddress': '127.0.0.1:0',
      'adapter.standaloneFile': file,
      'adapter.accessLogs': false,
      instanceId: 'bench',
    },
  });
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

if (positionals[0] === 'adapter') await adapter();
else if (positionals[0] === 'noop') await noop();
else {
  process.stderr.write('usage: servers.ts noop|adapter [--policies FILE] [--emit] [--no-fsync] [--kafka]\n');
  process.exit(2);
}
