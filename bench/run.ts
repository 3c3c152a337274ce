/**
 * `npm run bench [-- <mode> ...]` (not a test):
 *   (default) | suite [--quick] [--rounds N] [--cpu-prof] [--no-big] [--no-opa] [--no-standin] [--fsync-ab] [--kafka [--kafka-cpus 1|all]]  side-by-side suite (bench/suite.ts)
 *   transport [--rounds N] [--seconds S] [--cpu-prof]  the two gRPC transports with the realistic request, h2load + ghz (bench/transport.ts)
 *   simple                                      full path (API key, OAuth2 JWT, opaque token) vs no-op with grpc-js clients (bench/check.bench.ts)
 *   fuzz [--runs N] [--seed S]                  long run of the fuzz properties (test/support/fuzz-run.ts)
 *   parts [args]                                every bench/*.bench.ts in turn (bus benches; each prints its own ratios)
 *   soak [whitespace|forged|one-key]            memory retained per 100k checks under hostile credentials (bench/soak.ts)
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const mode = process.argv[2] && !process.argv[2].startsWith('-') ? process.argv[2] : 'suite';

if (mode === 'suite') {
  const { runSuite } = await import('./suite.ts');
  await runSuite();
} else if (mode === 'transport') {
  const { runTransportBench } = await import('./transport.ts');
  await runTransportBench();
} else if (mode === 'simple') {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./check.bench.ts', import.meta.url))],
    {
      stdio: 'inherit',
    },
  );
  process.exitCode = r.status ?? 1;
} else if (mode === 'soak') {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./soak.ts', import.meta.url)), ...process.argv.slice(3)],
    { stdio: 'inherit' },
  );
  process.exitCode = r.status ?? 1;
} else if (mode === 'parts') {
  const dir = new URL('./', import.meta.url);
  let failed = 0;
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort()) {
    console.log(`\n== ${file}`);
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', new URL(file, dir).pathname, ...process.argv.slice(3)],
      {
        stdio: 'inherit',
      },
    );
    if (r.status !== 0) failed++;
  }
  process.exitCode = failed ? 1 : 0;
} else if (mode === 'fuzz') {
  const { values } = parseArgs({
    args: process.argv.slice(3),
    options: { runs: { type: 'string', default: '200000' }, seed: { type: 'string' } },
  });
  const { rootLogger } = await import('../common/log.ts');
  rootLogger.level = 'warn';
  const { runFuzz, startFuzzHarness } = await import('../test/support/fuzz-run.ts');
  const runs = Number(values.runs);
  const hx = await startFuzzHarness();
  const t0 = performance.now();
  try {
    const counts = await runFuzz(hx, {
      decideRuns: Math.round(runs * 0.5),
      serviceRuns: Math.round(runs * 0.35),
      grpcRuns: Math.round(runs * 0.15),
      ...(values.seed ? { seed: Number(values.seed) } : {}),
    });
    const total = counts.decide + counts.service + counts.grpc;
    process.stdout.write(
      `fuzz: ${total} cases passed in ${((performance.now() - t0) / 1000).toFixed(1)} s — decide() ${counts.decide}, CheckService ${counts.service}, gRPC over loopback ${counts.grpc}; ${counts.allowed} allowed (each explained by the policy oracle), ${counts.denied} denied\n`,
    );
  } finally {
    await hx.close();
  }
} else {
  process.stderr.write(`unknown bench mode "${mode}" (suite | transport | simple | fuzz | parts)\n`);
  process.exitCode = 2;
}
