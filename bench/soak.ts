/**
 * `npm run bench:soak` (also `npm run bench soak`): memory retained under hostile credential input.
 * Each workload runs in its own child (node --expose-gc) against a real adapter (standalone control
 * plane, the full Check path without the gRPC socket): heap and RSS after a forced GC before and after
 * the checks, reported per 100k checks beside the goal. Workloads:
 *   whitespace  100k variants of one valid API key (ASCII whitespace inside its signature, which the
 *               base64url decoder skips: one credential, 100k strings)
 *   forged      100k keys with the valid header and payload and a random signature
 *   one-key     120k checks with one valid key
 * SOAK_SCALE (default 1) scales the check counts (e.g. 0.2 for a quick look); figures stay per 100k.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_POLICIES } from './fixtures.ts';
import { benchArgs } from './lib/args.ts';

type Workload = 'whitespace' | 'forged' | 'one-key';

const WORKLOADS: { name: Workload; checks: number; goalMb: number; expect: 'allow' | 'deny' }[] = [
  { name: 'whitespace', checks: 100_000, goalMb: 40, expect: 'allow' },
  { name: 'forged', checks: 100_000, goalMb: 50, expect: 'deny' },
  { name: 'one-key', checks: 120_000, goalMb: 100, expect: 'allow' },
];
const SCALE = Number(process.env.SOAK_SCALE ?? 1);
const BATCH = 64;

interface ChildResult {
  workload: Workload;
  checks: number;
  allowed: number;
  denied: number;
  heapBefore: number;
  heapAfter: number;
  rssBefore: number;
  rssAfter: number;
  seconds: number;
}

/** Whitespace variant i of a base64url segment: two ASCII whitespace characters at two positions. */
function whitespaceVariant(sig: string, i: number): string {
  const n = sig.length;
  const pairs = (n * (n - 1)) / 2;
  const swap = i >= pairs;
  let k = i % pairs;
  let a = 0;
  while (k >= n - 1 - a) {
    k -= n - 1 - a;
    a++;
  }
  const b = a + 1 + k;
  const [first, second] = swap ? ['\t', ' '] : [' ', '\t'];
  return sig.slice(0, a) + first + sig.slice(a, b) + second + sig.slice(b);
}

function settle(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

async function child(workload: Workload, checks: number): Promise<void> {
  const { loadConfig } = await import('../common/config/index.ts');
  const { rootLogger } = await import('../common/log.ts');
  rootLogger.level = 'error';
  const { startAdapter } = await import('../adapter/main.ts');
  const { issueApiKey } = await import('../adapter/standalone/issuer.ts');
  const { CheckClient } = await import('../adapter/check-client.ts');
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-soak-'));
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
  const key = await issueApiKey(adapter.store.current()!, adapter.signingKey!, { application: 'bench-app' });
  const cut = key.lastIndexOf('.') + 1;
  const signed = key.slice(0, cut);
  const sig = key.slice(cut);
  const sigBytes = Buffer.from(sig, 'base64url').length;
  const tokenFor = (i: number): string => {
    switch (workload) {
      case 'whitespace':
        return signed + whitespaceVariant(sig, i);
      case 'forged':
        return signed + randomBytes(sigBytes).toString('base64url');
      case 'one-key':
        return key;
    }
  };
  const requestFor = (i: number) =>
    CheckClient.request({
      path: '/petstore/v1/pets/42',
      headers: { apikey: tokenFor(i) },
      clientIp: '10.1.2.3',
      requestId: `soak-${i}`,
    }) as never;

  // Warm-up (module code, JIT, the first verification) before the baseline.
  for (let i = 0; i < 200; i++) await adapter.check.check(requestFor(0));
  const before = settle();
  let allowed = 0;
  let denied = 0;
  const t0 = performance.now();
  for (let i = 0; i < checks; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(checks, i + BATCH); j++) batch.push(adapter.check.check(requestFor(j)));
    for (const res of await Promise.all(batch)) {
      if ((res.status as { code: number }).code === 0) allowed++;
      else denied++;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = settle();
  await adapter.stop();
  rmSync(dir, { recursive: true, force: true });
  const result: ChildResult = {
    workload,
    checks,
    allowed,
    denied,
    heapBefore: before.heap,
    heapAfter: after.heap,
    rssBefore: before.rss,
    rssAfter: after.rss,
    seconds,
  };
  process.stdout.write(`SOAK ${JSON.stringify(result)}\n`);
  process.exit(0);
}

const mb = (b: number) => b / 1024 / 1024;

function parent(only: string[]): void {
  const self = fileURLToPath(import.meta.url);
  const rows: string[] = [];
  let failed = 0;
  for (const w of WORKLOADS) {
    if (only.length && !only.includes(w.name)) continue;
    const checks = Math.max(BATCH, Math.round(w.checks * SCALE));
    const r = spawnSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', self, '--child', w.name, String(checks)],
      { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
    );
    const line = r.stdout.split('\n').find((l) => l.startsWith('SOAK '));
    if (!line) {
      console.error(`soak ${w.name}: child failed (exit ${r.status})\n${r.stderr}`);
      failed++;
      continue;
    }
    const res = JSON.parse(line.slice(5)) as ChildResult;
    const per = 100_000 / res.checks;
    const heap = mb(res.heapAfter - res.heapBefore) * per;
    const rss = mb(res.rssAfter - res.rssBefore) * per;
    const worst = Math.max(heap, rss);
    const expected = w.expect === 'allow' ? res.allowed === res.checks : res.denied === res.checks;
    const ok = worst < w.goalMb && expected;
    if (!ok) failed++;
    rows.push(
      [
        w.name.padEnd(10),
        String(res.checks).padStart(7),
        `${res.allowed}/${res.denied}`.padStart(13),
        `${mb(res.heapBefore).toFixed(1)} -> ${mb(res.heapAfter).toFixed(1)}`.padStart(16),
        `${heap.toFixed(1)}`.padStart(8),
        `${mb(res.rssBefore).toFixed(1)} -> ${mb(res.rssAfter).toFixed(1)}`.padStart(16),
        `${rss.toFixed(1)}`.padStart(8),
        `< ${w.goalMb}`.padStart(6),
        `${res.seconds.toFixed(1)}s`.padStart(7),
        ok ? 'ok' : expected ? 'OVER GOAL' : `WRONG DECISIONS (want all ${w.expect})`,
      ].join('  '),
    );
  }
  console.log(
    'workload     checks  allow/deny     heap MB (GC)    Δ/100k     RSS MB (GC)     Δ/100k    goal     time',
  );
  for (const r of rows) console.log(r);
  process.exitCode = failed ? 1 : 0;
}

const { values, positionals } = benchArgs({
  usage: `npm run bench:soak [-- ${WORKLOADS.map((w) => w.name).join('|')} ...] (SOAK_SCALE scales the checks)`,
  positionals: true,
  options: { child: { type: 'string' } },
  describe: { child: 'internal: run one workload (`--child <workload> <checks>`)' },
});
if (values.child) await child(values.child as Workload, Number(positionals[0]));
else parent(positionals);
