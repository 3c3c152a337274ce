/**
 * Start-to-ready and memory of the adapter with a big standalone file, old parser vs new, side by
 * side: `npm run bench:standalone [-- --entries 100000 --rounds 3]`.
 * Generates <entries> applications + subscriptions + key mappings in a temp dir, then per round
 * starts bench/servers.ts adapter on it with the `yaml`-only parser (baseline, swapped in by
 * bench/standalone-yaml-baseline-hook.ts) and with the current one (js-yaml first), order
 * alternating. Reports medians (min–max) and new/old ratios of start-to-ready, RSS when ready and
 * peak RSS (VmHWM).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBigPolicies } from './fixtures.ts';
import { benchArgs } from './lib/args.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values } = benchArgs({
  usage: 'npm run bench:standalone -- [options]',
  options: { entries: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '3' } },
});
const N = Number(values.entries);
const ROUNDS = Number(values.rounds);

interface Run {
  startMs: number;
  rssMb: number;
  hwmMb: number;
}

function memMb(pid: number): { rssMb: number; hwmMb: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? Number.NaN) / 1024;
  return { rssMb: get('VmRSS'), hwmMb: get('VmHWM') };
}

async function startOnce(file: string, baseline: boolean): Promise<Run> {
  const hook = baseline ? ['--import', join(HERE, 'standalone-yaml-baseline-hook.ts')] : [];
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', ...hook, join(HERE, 'servers.ts'), 'adapter', '--policies', file],
    { cwd: join(HERE, '..'), stdio: ['pipe', 'pipe', 'inherit'] },
  );
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('adapter not ready after 300 s')), 300_000);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^\{.*\}$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[0]);
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`adapter exited (${code}) before it was ready`));
      });
    });
    const info = JSON.parse(line) as { startMs: number };
    return { startMs: info.startMs, ...memMb(proc.pid!) };
  } finally {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const agg = (xs: number[], d: number) =>
  `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;

const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-standalone-load-'));
try {
  const file = join(dir, 'standalone.yaml');
  writeBigPolicies(file, N);
  const runs: Record<'old' | 'new', Run[]> = { old: [], new: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? (['old', 'new'] as const) : (['new', 'old'] as const);
    for (const which of order) {
      const run = await startOnce(file, which === 'old');
      runs[which].push(run);
      process.stderr.write(`round ${r + 1} ${which}: ${JSON.stringify(run)}\n`);
    }
  }
  const col = (w: 'old' | 'new', k: keyof Run) => runs[w].map((x) => x[k]);
  const ratio = (k: keyof Run) => median(col('new', k)) / median(col('old', k));
  const rows = [
    `standalone file: ${N} applications + ${N} subscriptions + ${N} key mappings (${(readFileSync(file).length / 2 ** 20).toFixed(1)} MiB), ${ROUNDS} rounds, alternating; median (min–max)`,
    '',
    '| parser | start-to-ready ms | RSS when ready MiB | peak RSS MiB |',
    '| --- | --- | --- | --- |',
    `| old: yaml | ${agg(col('old', 'startMs'), 0)} | ${agg(col('old', 'rssMb'), 0)} | ${agg(col('old', 'hwmMb'), 0)} |`,
    `| new: js-yaml (yaml on error) | ${agg(col('new', 'startMs'), 0)} | ${agg(col('new', 'rssMb'), 0)} | ${agg(col('new', 'hwmMb'), 0)} |`,
    `| new / old | ${ratio('startMs').toFixed(3)} | ${ratio('rssMb').toFixed(3)} | ${ratio('hwmMb').toFixed(3)} |`,
  ];
  process.stdout.write(`${rows.join('\n')}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
