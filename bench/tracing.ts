/**
 * `npm run bench:tracing [-- --rounds N --checks N --base <git ref>]` (not a test): the cost of the
 * tracing + shadow hook in CheckService, in process, side by side in one run. Contenders, each a
 * CheckService over the same snapshot, credential chain and realistic request (bench/realistic-request.ts:
 * API key, four throttle levels, traceparent + b3 headers):
 *   base — adapter/server.ts as it was at <base> (default: merge-base with main), i.e. without the hook
 *   off  — today's CheckService as startAdapter builds it with tracing off and enforcement = enforce
 *   on   — tracing on: the SDK's BasicTracerProvider + BatchSpanProcessor, always_on sampler, spans
 *          continued from traceparent, exported to a discarding exporter (no network, no encoding)
 * Rounds alternate the order; per contender the median µs/check and CPU µs/check; ratios to base.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { API_KEY_DEFAULTS } from '../adapter/credentials/apikey.ts';
import { CredentialChain, defaultVerifiers } from '../adapter/credentials/chain.ts';
import { systemClock } from '../adapter/domain.ts';
import { createAdapterMetrics } from '../adapter/metrics.ts';
import { ThrottleState } from '../adapter/policy/throttle.ts';
import { CheckService } from '../adapter/server.ts';
import { ShadowEnforcement } from '../adapter/shadow.ts';
import { ensureSigningKey, issueApiKey } from '../adapter/standalone/issuer.ts';
import { StandaloneSource } from '../adapter/standalone/source.ts';
import { createCheckTracer } from '../adapter/tracing.ts';
import { TRANSLATE_DEFAULTS } from '../adapter/translate.ts';
import { createLogger } from '../common/log.ts';
import { BENCH_POLICIES } from './fixtures.ts';
import { benchArgs } from './lib/args.ts';
import { istioIngressCheckRequest } from './realistic-request.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = benchArgs({
  usage: 'npm run bench:tracing -- [options]',
  options: {
    rounds: { type: 'string', default: '7' },
    checks: { type: 'string', default: '20000' },
    base: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const CHECKS = Number(values.checks);

interface Evaluator {
  evaluate(proto: Record<string, unknown>): Promise<unknown>;
}

/** The base ref's server.ts, its relative imports pointed at today's adapter/ (only server.ts differs). */
async function baseCheckService(ref: string): Promise<new (o: unknown) => Evaluator> {
  const src = execFileSync('git', ['show', `${ref}:adapter/server.ts`], { cwd: ROOT, encoding: 'utf8' });
  const adapterUrl = pathToFileURL(join(ROOT, 'adapter/')).href;
  const rewritten = src.replace(/from '(\.\.?\/[^']+)'/g, (_m, p) => `from '${new URL(p, adapterUrl).href}'`);
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-bench-tracing-'));
  const file = join(dir, 'server-base.ts');
  writeFileSync(file, rewritten);
  try {
    const mod = (await import(pathToFileURL(file).href)) as { CheckService: new (o: unknown) => Evaluator };
    return mod.CheckService;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DISCARD = {
  export: (_spans: unknown[], done: (r: { code: number }) => void) => done({ code: 0 }),
  shutdown: async () => {},
  forceFlush: async () => {},
};

async function main(): Promise<void> {
  const base =
    values.base ??
    execFileSync('git', ['merge-base', 'HEAD', 'main'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-bench-tracing-data-'));
  const file = join(dir, 'standalone.yaml');
  writeFileSync(file, BENCH_POLICIES);
  const key = ensureSigningKey(dir);
  const snapshot = await new StandaloneSource({
    file,
    fragmentsDir: join(dir, 'd'),
    extraKeys: [key.trusted],
  }).load();
  const apiKey = await issueApiKey(snapshot, key, { application: 'bench-app', validitySeconds: 86_400 });
  const proto = istioIngressCheckRequest({ apiKey });
  const silent = createLogger('bench');
  const common = () => {
    const metrics = createAdapterMetrics();
    return {
      snapshot: () => snapshot,
      chain: new CredentialChain(defaultVerifiers({ apiKey: API_KEY_DEFAULTS })),
      state: { throttle: new ThrottleState(100_000) },
      clock: systemClock,
      failureMode: 'closed' as const,
      metrics,
      instanceId: 'bench',
      xffTrustedHops: TRANSLATE_DEFAULTS.trustedHops,
      clientCertificate: TRANSLATE_DEFAULTS,
      logger: silent,
      registry: metrics.registry,
    };
  };
  const Base = await baseCheckService(base);
  const offOpts = common();
  const onOpts = common();
  const tracer = await createCheckTracer(true, { exporter: DISCARD, env: {} });
  const contenders: Record<string, Evaluator> = {
    base: new Base(common()),
    off: new CheckService({
      ...offOpts,
      shadow: new ShadowEnforcement({ mode: 'enforce', registry: offOpts.registry, logger: silent }),
      tracer: null,
    }),
    on: new CheckService({
      ...onOpts,
      shadow: new ShadowEnforcement({ mode: 'enforce', registry: onOpts.registry, logger: silent }),
      tracer,
    }),
  };
  // Sanity: every contender allows the request (the bench measures the allow path).
  for (const [name, c] of Object.entries(contenders)) {
    const r = (await c.evaluate(proto)) as { response: { status: { code: number } } };
    if (r.response.status.code !== 0) throw new Error(`${name}: the bench request is not allowed`);
  }
  const names = Object.keys(contenders);
  const wall: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const runOne = async (c: Evaluator, n: number) => {
    for (let i = 0; i < n; i++) await c.evaluate(proto);
  };
  for (const n of names) await runOne(contenders[n]!, Math.min(CHECKS, 5000)); // warm-up (JIT, caches)
  const load0 = loadavg();
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const n of order) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await runOne(contenders[n]!, CHECKS);
      const t1 = performance.now();
      const c1 = process.cpuUsage(c0);
      wall[n]!.push(((t1 - t0) * 1000) / CHECKS);
      cpu[n]!.push((c1.user + c1.system) / CHECKS);
    }
  }
  const load1 = loadavg();
  await tracer?.shutdown();
  rmSync(dir, { recursive: true, force: true });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const b = { wall: median(wall.base!), cpu: median(cpu.base!) };
  const lines = [
    `# tracing hook cost (in process, CheckService.evaluate, realistic request, ${ROUNDS} rounds x ${CHECKS} checks)`,
    `base = ${base.slice(0, 12)} adapter/server.ts; node ${process.version}; ${cpus().length} cpus; loadavg ${load0.map((x) => x.toFixed(2)).join(' ')} -> ${load1.map((x) => x.toFixed(2)).join(' ')}`,
    '',
    '| contender | µs/check (median) | CPU µs/check (median) | wall ratio to base | CPU ratio to base | rounds (µs/check) |',
    '|---|---|---|---|---|---|',
    ...names.map((n) => {
      const w = median(wall[n]!);
      const c = median(cpu[n]!);
      return `| ${n} | ${w.toFixed(2)} | ${c.toFixed(2)} | ${(w / b.wall).toFixed(3)} | ${(c / b.cpu).toFixed(3)} | ${wall[n]!.map((x) => x.toFixed(1)).join(' ')} |`;
    }),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
