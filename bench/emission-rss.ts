/**
 * RSS of the adapter under load with every check emitted to the embedded log (issue 12: ≤ 150 MB),
 * before/after in one run: `node --import tsx bench/emission-rss.ts [--base <tree>] [--rounds 2]
 * [--seconds 5] [--no-emit]`. Each adapter (bench/servers.ts) pinned to core 0, h2load on core 1
 * (4 connections x 16 streams, the realistic request), rounds alternating the order. RSS sampled
 * every 100 ms from /proc (peak, and 1 s after the load stopped), the emitter's buffer and spool
 * gauges and the events that reached the log read from the adapter's /metrics after each round.
 * <tree> is another checkout (`git archive <commit> | tar -x -C /tmp/base` + a node_modules link).
 */

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './lib/args.ts';
import { compiledServers } from './lib/compiled.ts';
import { h2loadCheck } from './lib/load.ts';
import { readLine } from './lib/servers.ts';
import { metricSum } from './lib/stats.ts';
import { cpuTicks, memKb, stopProcess } from './proc.ts';
import { encodeCheckRequest, istioIngressCheckRequest } from './realistic-request.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values } = benchArgs({
  usage: 'node --import tsx bench/emission-rss.ts [options]',
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '5' },
    'no-emit': { type: 'boolean', default: false },
    /** Run the adapters from the sources through tsx (default: compiled, bench/lib/compiled.ts; --probe implies it). */
    tsx: { type: 'boolean', default: false },
    /** process.memoryUsage() of each adapter on stderr every 500 ms (bench/emission-rss-probe.ts). */
    probe: { type: 'boolean', default: false },
    /** Extra node flags for the adapters, space-separated (e.g. "--max-semi-space-size=4"). */
    'node-flags': { type: 'string', default: '' },
    /** Node flags for the --base adapter instead (default: --node-flags): an A/B of two settings on one tree. */
    'base-node-flags': { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const log = (m: string) => process.stderr.write(`[emission-rss] ${m}\n`);

interface Adapter {
  label: string;
  proc: ChildProcess;
  pid: number;
  port: number;
  adminPort: number;
  apiKey: string;
}

async function start(label: string, root: string, keyFile: string, flags: string): Promise<Adapter> {
  const args = ['adapter', '--transport', 'http2', '--key-file', keyFile];
  if (!values['no-emit']) args.push('--emit');
  // Compiled as the image ships it (tsx's own memory would be counted otherwise); the probe is TS.
  const entry = values.tsx || values.probe ? null : await compiledServers(root);
  log(`${label}: ${entry ? `compiled (${entry})` : 'sources through tsx'}, node flags "${flags}"`);
  const proc = spawn(
    'taskset',
    [
      ...['-c', '0', process.execPath, ...flags.split(' ').filter(Boolean)],
      ...(entry ? [] : ['--import', 'tsx']),
      ...(values.probe ? ['--import', join(HERE, 'emission-rss-probe.ts')] : []),
      ...[entry ?? join(root, 'bench', 'servers.ts'), ...args],
    ],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: root },
  );
  const line = await readLine(proc, /^\{.*\}\n/m, 180_000);
  const info = JSON.parse(line) as {
    port: number;
    adminPort: number;
    apiKey: string;
    emission: string | null;
  };
  log(`${label}: emission ${info.emission ?? 'off'}`);
  return { label, proc, pid: proc.pid!, ...info };
}

async function metrics(a: Adapter): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${a.adminPort}/metrics`)).text();
  return {
    emitted: metricSum(text, 'mesh_apim_emit_events_emitted_total'),
    spooled: metricSum(text, 'mesh_apim_emit_events_spooled_total'),
    dropped: metricSum(text, 'mesh_apim_emit_events_dropped_total'),
    buffered: metricSum(text, 'mesh_apim_emit_buffer_events'),
    spoolBytes: metricSum(text, 'mesh_apim_emit_spool_bytes'),
  };
}

async function load(
  a: Adapter,
  body: string,
): Promise<{ rps: number; cpuUs: number; peakMb: number; afterMb: number }> {
  let peak = 0;
  const ticks = cpuTicks(a.pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memKb(a.pid).rssKb / 1024);
    } catch {}
  }, 100);
  const { ok } = await h2loadCheck(a.port, body, SECONDS, { name: a.label });
  // Every thread of the process (writer worker and V8's GC threads included), during the load.
  const cpuMs = (cpuTicks(a.pid) - ticks) * 10;
  await new Promise((r) => setTimeout(r, 1000));
  clearInterval(timer);
  return {
    rps: ok / SECONDS,
    cpuUs: ok ? (cpuMs * 1000) / ok : Number.NaN,
    peakMb: peak,
    afterMb: memKb(a.pid).rssKb / 1024,
  };
}

const work = mkdtempSync(join(tmpdir(), 'mesh-apim-emission-rss-'));
const adapters: Adapter[] = [];
try {
  const keyFile = join(work, 'key.pem');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  if (values.base)
    adapters.push(
      await start('before', resolve(values.base), keyFile, values['base-node-flags'] ?? values['node-flags']),
    );
  adapters.push(await start('after', join(HERE, '..'), keyFile, values['node-flags']));
  const idle = Object.fromEntries(adapters.map((a) => [a.label, memKb(a.pid).rssKb / 1024]));
  const bytes = encodeCheckRequest(istioIngressCheckRequest({ apiKey: adapters[0]!.apiKey }));
  const framed = Buffer.alloc(5 + bytes.length);
  framed.writeUInt32BE(bytes.length, 1);
  bytes.copy(framed, 5);
  const body = join(work, 'check.bin');
  writeFileSync(body, framed);
  log(
    `load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; idle RSS ${JSON.stringify(idle)}`,
  );
  const rows: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? adapters : [...adapters].reverse();
    for (const a of order) {
      const r = await load(a, body);
      const m = await metrics(a);
      const line = `round ${round} ${a.label.padEnd(6)} ${r.rps.toFixed(0)} checks/s, ${r.cpuUs.toFixed(1)} µs CPU/check, RSS peak ${r.peakMb.toFixed(0)} MB, 1 s after ${r.afterMb.toFixed(0)} MB, idle ${idle[a.label]!.toFixed(0)} MB | ${JSON.stringify(m)}`;
      log(line);
      rows.push(line);
    }
  }
  process.stdout.write(
    `${rows.join('\n')}\nload ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
  );
} finally {
  for (const a of adapters) await stopProcess(a.proc);
  rmSync(work, { recursive: true, force: true });
}
