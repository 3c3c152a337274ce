/**
 * One adapter for bench/emission.ts, in its own process so its event loop is its own: `node --import
 * tsx bench/emission-server.ts <tree> <fsync on|off>` runs the tree's startAdapter (tree: a checkout
 * of this repository, e.g. the commit before a change) over the embedded log in a temp dir, access
 * logs off (every check emits). Prints {grpcPort, apiKey}; then on stdin "reset" clears its event-loop
 * delay histogram and "report" prints {p50Ms, p99Ms, maxMs} and the events on the log.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { EMBEDDED_BUS_DEFAULTS } from '../bus/config.ts';
import { BENCH_STANDALONE } from './emission-fixtures.ts';
import { benchArgs } from './lib/args.ts';

const [treeArg, fsyncArg] = benchArgs({
  usage: 'node --import tsx bench/emission-server.ts <tree> <on|off>',
  positionals: true,
  options: {},
}).positionals;
const tree = resolve(treeArg ?? '.');
const fsync = fsyncArg !== 'off';
const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-bench-emission-'));
const standaloneFile = join(dir, 'standalone.yaml');
writeFileSync(standaloneFile, BENCH_STANDALONE);
const { loadConfig } = await import(join(tree, 'common/config/index.ts'));
const { startAdapter } = await import(join(tree, 'adapter/main.ts'));
const { issueApiKey } = await import(join(tree, 'adapter/standalone/issuer.ts'));
const { EmbeddedBus } = await import(join(tree, 'bus/embedded/index.ts'));
const { pino } = await import('pino');
const config = loadConfig({
  // Only the emitter's settings from the environment (bench variants); nothing else leaks in.
  env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MESH_APIM_EMITTER_'))),
  overrides: {
    dataDir: dir,
    'adapter.grpcAddress': '127.0.0.1:0',
    'adapter.adminAddress': '127.0.0.1:0',
    'adapter.accessLogs': false,
    'adapter.standaloneFile': standaloneFile,
    instanceId: 'bench',
  },
});
const bus = new EmbeddedBus({
  ...EMBEDDED_BUS_DEFAULTS,
  dir: join(dir, 'bus'),
  fsync,
  logger: pino({ level: 'silent' }),
});
const adapter = await startAdapter(config, { bus });
const apiKey = await issueApiKey(adapter.store.current()!, adapter.signingKey!, { application: 'demo-app' });
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
process.stdout.write(`${JSON.stringify({ grpcPort: adapter.grpcPort, apiKey })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'reset') h.reset();
  if (line === 'report') {
    const ends = await bus.endOffsets('mesh-apim.request-attributes.v1');
    const events = ends.reduce((n: number, p: { offset: string }) => n + Number(p.offset), 0);
    process.stdout.write(
      `${JSON.stringify({ p50Ms: h.percentile(50) / 1e6, p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6, events })}\n`,
    );
  }
  if (line === 'stop') break;
}
await adapter.stop();
await bus.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
