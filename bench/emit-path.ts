/**
 * What emission costs in the full check path, A/B (not a test):
 * `node --import tsx bench/emit-path.ts [--base DIR] [--rounds 3] [--seconds 5] [--rate N] [--env K=V,..] [--cpu-prof]`.
 * Contenders: the http2 full path (bench/servers.ts adapter) with every check emitted to the
 * embedded log, and without emission; with --base (another checkout with node_modules) the same two
 * from there. Each server is pinned to core 0, h2load (4 connections x 16 streams, the realistic
 * request) to core 1; rounds alternate the order. CPU per check is split by thread from
 * /proc/<pid>/task: the main thread, the writer (with emission: the busiest other thread, the
 * embedded log's writer worker; Node names every thread "node", and the worker starts before the
 * ready line, so it is told apart by its load), and the rest (V8's GC and compiler, libuv). Events/s is the emitter's emitted counter from the server's /metrics. The emission's
 * own cost is "emit − no-emit" of one tree; "this ÷ base" compares two commits in one run.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './lib/args.ts';
import { compiledServers } from './lib/compiled.ts';
import { h2loadCheck } from './lib/load.ts';
import { readLine } from './lib/servers.ts';
import { memKb, stopProcess } from './proc.ts';
import { encodeCheckRequest, istioIngressCheckRequest } from './realistic-request.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values } = benchArgs({
  usage: 'node --import tsx bench/emit-path.ts [options]',
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    'cpu-prof': { type: 'boolean', default: false },
    // KEY=VALUE[,KEY=VALUE]: environment for this tree's contenders only (an A/B of a setting, e.g.
    // MESH_APIM_EMITTER_LINGER_MS=50, against --base . with the defaults).
    env: { type: 'string' },
    // Checks/s in all (h2load --rps over its 4 connections); 0 = as many as the server answers. Below
    // saturation the per-batch costs (commit, worker wake-ups) are not hidden by a busy loop.
    rate: { type: 'string', default: '0' },
  },
});
const RATE = Number(values.rate);
const THIS_ENV = Object.fromEntries(
  (values.env ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const log = (m: string) => process.stderr.write(`[emit-path] ${m}\n`);

interface Contender {
  name: string;
  pid: number;
  proc: ReturnType<typeof spawn>;
  port: number;
  adminPort: number;
  apiKey: string;
  /** Thread ids present when the server was ready (before any produce started the writer). */
}

/** CPU ticks (10 ms) per thread id. */
function ticks(c: Contender): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of readdirSync(`/proc/${c.pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${c.pid}/task/${t}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const n = Number(f[11]) + Number(f[12]);
      out.set(t, n);
    } catch {
      // thread gone
    }
  }
  return out;
}

async function emitted(c: Contender): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${c.adminPort}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^mesh_apim_emit_events_emitted_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

const compiled = new Map<string, string | null>();

async function start(
  name: string,
  root: string,
  emit: boolean,
  keyFile: string,
  prof: string | null,
  env: NodeJS.ProcessEnv,
) {
  const flags = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const args = ['adapter', '--transport', 'http2', '--key-file', keyFile, ...(emit ? ['--emit'] : [])];
  // Compiled as the image ships it (bench/lib/compiled.ts); a tree from before the bundle through tsx.
  if (!compiled.has(root)) compiled.set(root, await compiledServers(root));
  const entry = compiled.get(root);
  const proc = spawn(
    'taskset',
    [
      ...['-c', '0', process.execPath, ...flags],
      ...(entry ? [entry] : ['--import', 'tsx', join(root, 'bench', 'servers.ts')]),
      ...args,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: root, env: { ...process.env, ...env } },
  );
  const line = await readLine(proc, /^\{.*\}\n/m, 180_000);
  const info = JSON.parse(line) as { port: number; adminPort: number; apiKey: string };
  return { name, pid: proc.pid!, proc, ...info } satisfies Contender;
}

async function h2load(c: Contender, body: string, seconds: number): Promise<number> {
  return (await h2loadCheck(c.port, body, seconds, { rps: RATE, name: c.name })).ok;
}

const work = mkdtempSync(join(tmpdir(), 'mesh-apim-emit-path-'));
const contenders: Contender[] = [];
const load0 = loadavg();
try {
  const keyFile = join(work, 'signing-key.pem');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const prof = values['cpu-prof'] ? join(HERE, 'results', 'prof') : null;
  if (prof) mkdirSync(prof, { recursive: true });
  const trees: [string, string, NodeJS.ProcessEnv][] = [['', join(HERE, '..'), THIS_ENV]];
  if (values.base) trees.push(['base ', values.base, {}]);
  for (const [label, root, env] of trees) {
    contenders.push(await start(`${label}emit`, root, true, keyFile, prof, env));
    contenders.push(await start(`${label}no-emit`, root, false, keyFile, prof, env));
  }
  const request = istioIngressCheckRequest({ apiKey: contenders[0]!.apiKey });
  const bytes = encodeCheckRequest(request);
  const body = join(work, 'check.bin');
  const framed = Buffer.alloc(5 + bytes.length);
  framed.writeUInt32BE(bytes.length, 1);
  bytes.copy(framed, 5);
  writeFileSync(body, framed);
  for (const c of contenders) await h2load(c, body, 2); // warm-up (JIT, caches, the writer started)
  const rows = new Map<
    string,
    {
      cpu: number[];
      main: number[];
      writer: number[];
      rest: number[];
      rps: number[];
      eps: number[];
      rss: number;
    }
  >();
  for (let r = 1; r <= ROUNDS; r++) {
    for (const c of r % 2 ? contenders : [...contenders].reverse()) {
      const e0 = c.name.endsWith('no-emit') ? 0 : await emitted(c);
      const t0 = ticks(c);
      const ok = await h2load(c, body, SECONDS);
      const t1 = ticks(c);
      // Events of this round still lingering in the emitter are counted in the next one: a small, even error.
      const e1 = c.name.endsWith('no-emit') ? 0 : await emitted(c);
      const us = (a: number, b: number) => ((b - a) * 1e4) / Math.max(1, ok);
      const row = rows.get(c.name) ?? { cpu: [], main: [], writer: [], rest: [], rps: [], eps: [], rss: 0 };
      const pid = String(c.pid);
      const others = [...t1]
        .filter(([t]) => t !== pid)
        .map(([t, n]) => us(t0.get(t) ?? 0, n))
        .sort((x, y) => y - x);
      const main = us(t0.get(pid) ?? 0, t1.get(pid) ?? 0);
      const writer = c.name.endsWith('no-emit') ? 0 : (others[0] ?? 0);
      const rest = others.reduce((a, b) => a + b, 0) - writer;
      row.main.push(main);
      row.writer.push(writer);
      row.rest.push(rest);
      row.cpu.push(main + writer + rest);
      row.rps.push(ok / SECONDS);
      row.eps.push((e1 - e0) / SECONDS);
      row.rss = Math.max(row.rss, memKb(c.pid).rssKb / 1024);
      rows.set(c.name, row);
      log(
        `round ${r} ${c.name.padEnd(12)} ${(ok / SECONDS).toFixed(0)} checks/s, ${row.cpu.at(-1)!.toFixed(1)} µs CPU/check (main ${main.toFixed(1)}, writer ${writer.toFixed(1)}, other threads ${rest.toFixed(1)})`,
      );
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const load1 = loadavg();
  const f = (n: number, d = 1) => n.toFixed(d);
  const lines = [
    `# Emission in the full path (${new Date().toISOString()})`,
    '',
    `${ROUNDS} rounds x ${SECONDS} s, alternating${RATE > 0 ? `, ${RATE} checks/s offered` : ', as fast as answered'}; load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}.`,
    '',
    '| contender | checks/s | events/s | CPU µs/check | main | writer | other threads | RSS MB |',
    '|---|---|---|---|---|---|---|---|',
    ...[...rows].map(
      ([n, x]) =>
        `| ${n} | ${f(med(x.rps), 0)} | ${f(med(x.eps), 0)} | ${f(med(x.cpu))} | ${f(med(x.main))} | ${f(med(x.writer))} | ${f(med(x.rest))} | ${f(x.rss, 0)} |`,
    ),
    '',
  ];
  for (const label of values.base ? ['', 'base '] : ['']) {
    const e = rows.get(`${label}emit`)!;
    const n = rows.get(`${label}no-emit`)!;
    lines.push(
      `${label || 'this '}emission cost: ${f(med(e.cpu) - med(n.cpu))} µs CPU/check (main ${f(med(e.main) - med(n.main))})`,
    );
  }
  if (values.base) {
    const a = rows.get('emit')!;
    const b = rows.get('base emit')!;
    lines.push(
      '',
      `this ÷ base, with emission: CPU/check ${f(med(a.cpu) / med(b.cpu), 3)}, checks/s ${f(med(a.rps) / med(b.rps), 3)}, events/s ${f(med(a.eps) / med(b.eps), 3)}, RSS ${f(a.rss / b.rss, 3)}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  for (const c of contenders) await stopProcess(c.proc);
  rmSync(work, { recursive: true, force: true });
}
