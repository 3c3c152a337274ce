/**
 * Per request as Envoy really sends it (issue 12): one Check and one access-log entry per request.
 * `node --import tsx bench/check-als.ts [--seconds 10] [--rounds 2] [--transports http2,grpc-js] [--cpu-prof]`.
 * The adapter (bench/servers.ts, access logs on: allowed requests are emitted from the access log,
 * embedded log, fsync on) is pinned to core 0; the load generator (this file with --client, a raw
 * node:http2 client) to core 1. The client keeps 64 Checks in flight (the realistic request of
 * bench/realistic-request.ts), takes the RequestContext each answer carries in dynamic_metadata, and
 * sends the matching HTTPAccessLogEntry (shaped as an Istio sidecar's, test/adapter/als/fixtures.ts)
 * on one StreamAccessLogs stream, batched as Envoy's gRPC access logger does (here: up to 16 entries
 * or 10 ms per message). Reported: requests/s, adapter CPU per request (all threads), and whether
 * ALS ingestion kept up: every entry became an event on the log, none dropped. A no-emission
 * contender (Check only, no bus) runs alongside for the ratio. Results in bench/results/check-als-*.md.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import http2 from 'node:http2';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envoyPackageDefinition } from '../adapter/proto.ts';
import { toStruct } from '../adapter/struct.ts';
import {
  REQUEST_CONTEXT_METADATA_KEY,
  REQUEST_CONTEXT_METADATA_NAMESPACE,
} from '../events/request-attributes.ts';
import { envoyEntry } from '../test/adapter/als/fixtures.ts';
import { benchArgs } from './lib/args.ts';
import { cpuTicks, memKb, stopProcess } from './proc.ts';
import { encodeCheckRequest, istioIngressCheckRequest } from './realistic-request.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values } = benchArgs({
  usage: 'node --import tsx bench/check-als.ts [options]',
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    transports: { type: 'string', default: 'http2,grpc-js' },
    client: { type: 'string' },
    'api-key': { type: 'string' },
    /** V8 CPU profiles of the adapters into bench/results/prof (summarize with bench/profile.ts). */
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const PROF = values['cpu-prof']
  ? ['--cpu-prof', '--cpu-prof-dir', join(dirname(fileURLToPath(import.meta.url)), 'results', 'prof')]
  : [];
const log = (m: string) =>
  process.stderr.write(`[check-als ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

type Codec = { serialize(v: unknown): Buffer; deserialize(b: Buffer): unknown };
const frame = (b: Buffer) => {
  const f = Buffer.allocUnsafe(5 + b.length);
  f[0] = 0;
  f.writeUInt32BE(b.length, 1);
  b.copy(f, 5);
  return f;
};

/** The load generator (runs pinned to core 1): prints {requests, entries, seconds}. */
async function client(port: number, apiKey: string, withAls: boolean): Promise<void> {
  const def = envoyPackageDefinition() as unknown as Record<string, Codec>;
  const checkRes = def['envoy.service.auth.v3.CheckResponse']!;
  const alsMsg = def['envoy.service.accesslog.v3.StreamAccessLogsMessage']!;
  const body = frame(encodeCheckRequest(istioIngressCheckRequest({ apiKey })));
  const session = http2.connect(`http://127.0.0.1:${port}`, { maxSessionMemory: 100 });
  const als = withAls
    ? session.request({
        ':method': 'POST',
        ':path': '/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs',
        'content-type': 'application/grpc',
        te: 'trailers',
      })
    : null;
  const alsDone = als ? new Promise<void>((r) => als.on('close', () => r())) : Promise.resolve();
  als?.on('data', () => {});
  let pending: Record<string, unknown>[] = [];
  let first = true;
  let entries = 0;
  const flush = () => {
    if (!als || pending.length === 0) return;
    const msg: Record<string, unknown> = { http_logs: { log_entry: pending } };
    if (first)
      msg.identifier = {
        node: { id: 'sidecar~10.1.4.9~petstore.shop~shop.svc.cluster.local' },
        log_name: 'mesh-apim',
      };
    first = false;
    entries += pending.length;
    pending = [];
    als.write(frame(alsMsg.serialize(msg)));
  };
  const timer = setInterval(flush, 10);
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let requests = 0;
  let denied = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = session.request({
        ':method': 'POST',
        ':path': '/envoy.service.auth.v3.Authorization/Check',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('error', reject);
      s.on('end', () => {
        const all = Buffer.concat(chunks);
        const res = checkRes.deserialize(all.subarray(5)) as {
          status?: { code?: number };
          dynamic_metadata?: { fields?: Record<string, { stringValue?: string; string_value?: string }> };
        };
        requests++;
        if ((res.status?.code ?? 0) !== 0) denied++;
        const f = res.dynamic_metadata?.fields?.[REQUEST_CONTEXT_METADATA_KEY];
        const ctx = f?.stringValue ?? f?.string_value;
        if (als && ctx) {
          const e = envoyEntry({ requestId: `r-${requests}` }) as {
            common_properties: { metadata: { filter_metadata: Record<string, unknown> } };
          };
          e.common_properties.metadata.filter_metadata[REQUEST_CONTEXT_METADATA_NAMESPACE] = toStruct({
            [REQUEST_CONTEXT_METADATA_KEY]: ctx,
          });
          pending.push(e);
          if (pending.length >= 16) flush();
        }
        resolve();
      });
      s.end(body);
    });
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  flush();
  als?.end();
  await alsDone;
  session.close();
  process.stdout.write(`${JSON.stringify({ requests, denied, entries, seconds })}\n`);
}

async function metric(adminPort: number, name: string, label?: string): Promise<number> {
  // A fresh connection each time (fetch's pooled keep-alive socket may be one the server just closed).
  const text = await new Promise<string>((resolve, reject) =>
    get({ host: '127.0.0.1', port: adminPort, path: '/metrics', agent: false }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => {
        b += d.toString();
      });
      res.on('end', () => resolve(b));
    }).on('error', reject),
  );
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm')))
    if (!label || (m[1] ?? '').includes(label)) n += Number(m[2]);
  return n;
}

interface Server {
  name: string;
  proc: ChildProcess;
  port: number;
  adminPort: number;
  apiKey: string;
  als: boolean;
}

async function startServer(name: string, args: string[], als: boolean): Promise<Server> {
  const proc = spawn(
    'taskset',
    ['-c', '0', process.execPath, ...PROF, '--import', 'tsx', join(HERE, 'servers.ts'), ...args],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: join(HERE, '..') },
  );
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /^\{.*\}\n/m.exec(buf);
      if (m) resolve(m[0]);
    });
    proc.once('exit', (c) => reject(new Error(`${name} exited ${c} before ready`)));
  });
  const info = JSON.parse(line) as { port: number; adminPort: number; apiKey: string };
  return { name, proc, ...info, als };
}

function runClient(
  s: Server,
  seconds: number,
): { requests: number; denied: number; entries: number; seconds: number } {
  const out = execFileSync(
    'taskset',
    [
      '-c',
      '1',
      process.execPath,
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--client',
      `${s.port}:${s.als ? 'als' : 'check'}`,
      '--api-key',
      s.apiKey,
      '--seconds',
      String(seconds),
    ],
    { cwd: join(HERE, '..'), timeout: (seconds + 120) * 1000, maxBuffer: 1 << 20 },
  ).toString();
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'mesh-apim-check-als-'));
  const servers: Server[] = [];
  const load0 = loadavg();
  try {
    const keyFile = join(work, 'signing-key.pem');
    writeFileSync(
      keyFile,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    );
    for (const t of values.transports!.split(',')) {
      servers.push(
        await startServer(
          `Check+ALS ${t}`,
          ['adapter', '--emit', '--access-logs', '--transport', t, '--key-file', keyFile],
          true,
        ),
      );
      servers.push(
        await startServer(
          `Check only ${t} (no emission)`,
          ['adapter', '--transport', t, '--key-file', keyFile],
          false,
        ),
      );
    }
    for (const s of servers) runClient(s, 2); // warm-up
    const rows: Record<
      string,
      { rps: number[]; cpu: number[]; rss: number; ok: boolean[]; lagMs: number[] }
    > = {};
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const s of round % 2 ? servers : [...servers].reverse()) {
        const emitted0 = s.als
          ? await metric(s.adminPort, 'mesh_apim_als_entries_total', 'outcome="emitted"')
          : 0;
        const onLog0 = s.als ? await metric(s.adminPort, 'mesh_apim_emit_events_emitted_total') : 0;
        const t0 = cpuTicks(s.proc.pid!);
        const r = runClient(s, SECONDS);
        // ALS keeps up: every entry sent is an event on the log, shortly after the load stops.
        const w0 = performance.now();
        let emitted = 0;
        let onLog = 0;
        while (s.als && performance.now() - w0 < 10_000) {
          emitted =
            (await metric(s.adminPort, 'mesh_apim_als_entries_total', 'outcome="emitted"')) - emitted0;
          onLog = (await metric(s.adminPort, 'mesh_apim_emit_events_emitted_total')) - onLog0;
          if (onLog >= r.entries) break;
          await new Promise((res) => setTimeout(res, 50));
        }
        const cpu = ((cpuTicks(s.proc.pid!) - t0) * 1e4) / r.requests;
        const dropped = s.als ? await metric(s.adminPort, 'mesh_apim_emit_events_dropped_total') : 0;
        const ok =
          !s.als ||
          (emitted === r.entries &&
            onLog >= r.entries &&
            dropped === 0 &&
            r.entries === r.requests - r.denied);
        rows[s.name] ??= { rps: [], cpu: [], rss: 0, ok: [], lagMs: [] };
        const row = rows[s.name]!;
        row.rps.push(r.requests / r.seconds);
        row.cpu.push(cpu);
        row.ok.push(ok);
        row.lagMs.push(s.als ? performance.now() - w0 : 0);
        row.rss = Math.max(row.rss, memKb(s.proc.pid!).rssKb / 1024);
        log(
          `round ${round} ${s.name}: ${(r.requests / r.seconds).toFixed(0)} req/s, ${cpu.toFixed(1)} µs CPU/request${s.als ? `, entries sent ${r.entries}, emitted ${emitted}, on the log ${onLog}, dropped ${dropped}` : ''}`,
        );
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const load1 = loadavg();
    const lines = [
      `# Check + ALS per request (${new Date().toISOString()})`,
      '',
      `Adapter on core 0, load generator (node:http2, 64 Checks in flight, one ALS stream, ≤16 entries or 10 ms per message) on core 1; ${values.rounds} rounds x ${SECONDS} s; embedded log, fsync on. Load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}.`,
      '',
      '| contender | requests/s (median) | CPU µs/request (all threads) | ALS kept up, nothing dropped | RSS after load MB |',
      '|---|---|---|---|---|',
      ...Object.entries(rows).map(
        ([n, r]) =>
          `| ${n} | ${med(r.rps).toFixed(0)} | ${med(r.cpu).toFixed(1)} | ${n.startsWith('Check+ALS') ? (r.ok.every(Boolean) ? 'yes' : 'NO') : 'n/a'} | ${r.rss.toFixed(0)} |`,
      ),
      '',
      'Target (issue 12): ≤ 90 µs CPU per request (one Check + one ALS entry), ALS ingestion keeps up with nothing dropped.',
    ];
    const md = lines.join('\n');
    process.stdout.write(`${md}\n`);
    const dir = join(HERE, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `check-als-${new Date().toISOString().replace(/[:.]/g, '-')}.md`), `${md}\n`);
  } finally {
    for (const s of servers) await stopProcess(s.proc);
    rmSync(work, { recursive: true, force: true });
  }
}

if (values.client) {
  const [port, mode] = values.client.split(':');
  await client(Number(port), values['api-key']!, mode === 'als');
  process.exit(0);
} else await main();
