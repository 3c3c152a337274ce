/**
 * `npm run bench [-- <mode> ...]` (not a test):
 *   (default) | suite [--quick] [--rounds N] [--cpu-prof] [--no-big] [--no-opa] [--no-standin] [--fsync-ab] [--kafka [--kafka-cpus 1|all]]  side-by-side suite (bench/suite.ts)
 *   transport [--rounds N] [--seconds S] [--cpu-prof] [--base DIR]  the two gRPC transports with the realistic request, h2load + ghz (bench/transport.ts)
 *   simple                                      full path (API key, OAuth2 JWT, opaque token) vs no-op with grpc-js clients (bench/check.bench.ts)
 *   fuzz [--runs N] [--seed S]                  long run of the fuzz properties (test/support/fuzz-run.ts)
 *   parts [args]                                every bench/*.bench.ts in turn (bus benches; each prints its own ratios)
 *   soak [whitespace|forged|one-key]            memory retained per 100k checks under hostile credentials (bench/soak.ts)
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './lib/args.ts';

const MODES = ['suite', 'transport', 'simple', 'fuzz', 'parts', 'soak'];
const argv = process.argv.slice(2);
// The mode leads; each mode parses the rest with bench/lib/args.ts (`npm run bench -- <mode> --help`).
const mode = argv[0] && !argv[0].startsWith('-') ? argv[0] : 'suite';

if (argv[0] === '--help' || argv[0] === '-h') {
  process.stdout.write(
    `usage: npm run bench [-- <mode> [options]]\nmodes: ${MODES.join(' | ')} (default suite); \`npm run bench -- <mode> --help\` lists a mode's options\n`,
  );
} else if (mode === 'suite') {
  const { runSuite } = await import('./suite.ts');
  await runSuite(argv);
} else if (mode === 'transport') {
  const { runTransportBench } = await import('./transport.ts');
  await runTransportBench(argv);
} else if (mode === 'simple') {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./check.bench.ts', import.meta.url)), ...argv.slice(1)],
    {
      stdio: 'inherit',
    },
  );
  process.exitCode = r.status ?? 1;
} else if (mode === 'soak') {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./soak.ts', import.meta.url)), ...argv.slice(1)],
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
      ['--import', 'tsx', new URL(file, dir).pathname, ...argv.slice(1)],
      {
        stdio: 'inherit',
      },
    );
    if (r.status !== 0) failed++;
  }
  process.exitCode = failed ? 1 : 0;
} else if (mode === 'fuzz') {
  const { values } = benchArgs(
    {
      usage: 'npm run bench -- fuzz [options]',
      mode: 'fuzz',
      options: { runs: { type: 'string', default: '200000' }, seed: { type: 'string' } },
      describe: { runs: 'cases in all (decide 50 %, CheckService 35 %, gRPC 15 %)', seed: 'fast-check seed' },
    },
    argv,
  );
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
  process.stderr.write(`unknown bench mode "${mode}" (${MODES.join(' | ')})\n`);
  process.exitCode = 2;
}
