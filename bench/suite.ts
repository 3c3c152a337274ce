/**
 * The side-by-side benchmark suite (`npm run bench [-- --quick] [--rounds N] [--cpu-prof] [--no-big] [--no-opa] [--no-standin] [--fsync-ab] [--kafka [--kafka-cpus 1|all]]`):
 * ghz drives envoy.service.auth.v3.Authorization/Check against (1) a no-op grpc-js Check server,
 * (2) mesh-apim's full path (API key, subscription, four throttle levels that never trip, event
 * emission), (3) OPA-Envoy itself when OPA_ENVOY_BIN names an opa-envoy-plugin binary the operator
 * has (the repo never builds or fetches it; policy bench/opa-envoy.rego, GOMAXPROCS=1) and (4) the OPA
 * stand-in (bench/opa-authz: OPA's Rego engine behind a Go ext_authz server, GOMAXPROCS=1; skipped
 * with --no-standin; --no-opa drops both OPA contenders). Servers are pinned to core 0, ghz to core 1
 * (taskset). Contenders alternate inside
 * every step and rounds repeat; medians and min–max spread are reported, ratios first. Results:
 * bench/results/suite-<time>.{json,md}. Tools are cached outside the repo (~/.cache/mesh-apim/bin):
 * ghz via `go install`, the OPA stand-in via `go build` of bench/opa-authz.
 * --kafka (or KAFKA_BROKERS set): one more contender, ours-kafka — the same full path emitting to a real
 * single-node Kafka that the suite starts itself (infra/kafka/kafka.sh, free port, run dir in a temp dir,
 * stopped at the end whatever happens; a broker named by KAFKA_BROKERS is not used, its other load would
 * be measured too). The broker's JVM runs on core 1 with ghz (--kafka-cpus all: unpinned).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ENVOY_PROTO_INCLUDE_DIRS, EXT_AUTHZ_PROTO } from '../adapter/proto.ts';
import type { KafkaBus } from '../bus/kafka/index.ts';
import { TOPICS } from '../events/topics.ts';
import { writeBigPolicies } from './fixtures.ts';
import { cpuTicks, memKb, stopProcess } from './proc.ts';
import { encodeCheckRequest, istioIngressCheckRequest, toGhzJson } from './realistic-request.ts';

export const GHZ_VERSION = 'v0.93.0';
const BIN = process.env.MESH_APIM_BENCH_BIN ?? join(homedir(), '.cache', 'mesh-apim', 'bin');
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..');
const CLK_TCK = 100;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'suite'),
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'no-big': { type: 'boolean', default: false },
    'no-opa': { type: 'boolean', default: false },
    'no-standin': { type: 'boolean', default: false },
    'fsync-ab': { type: 'boolean', default: false },
    'big-size': { type: 'string', default: '100000' },
    kafka: { type: 'boolean', default: false },
    'kafka-cpus': { type: 'string', default: '1' },
  },
});
const KAFKA = values.kafka || Boolean(process.env.KAFKA_BROKERS);
// taskset CPU list of the broker's JVM ('all': unpinned).
const KAFKA_CPUS = values['kafka-cpus'];
const QUICK = values.quick;
const ROUNDS = Number(values.rounds ?? (QUICK ? 1 : 3));
const MAX_SECONDS = QUICK ? 2 : 5;
const RATE_SECONDS = QUICK ? 3 : 6;
const CONCURRENCIES = [1, 8, 32, 128];
const RATE_FRACTIONS = [0.25, 0.5, 0.75];

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------- tools

function ensureGhz(): string {
  const ghz = join(BIN, 'ghz');
  if (existsSync(ghz)) return ghz;
  log(`installing ghz ${GHZ_VERSION} into ${BIN} (go install)`);
  mkdirSync(BIN, { recursive: true });
  execFileSync('go', ['install', `github.com/bojand/ghz/cmd/ghz@${GHZ_VERSION}`], {
    env: { ...process.env, GOBIN: BIN },
    stdio: 'inherit',
    timeout: 30 * 60_000,
  });
  return ghz;
}

function ensureOpa(): string | null {
  const bin = join(BIN, 'opa-authz');
  if (existsSync(bin)) return bin;
  log(`building the OPA stand-in (bench/opa-authz) into ${BIN} (go build; long on a loaded machine)`);
  try {
    execFileSync('go', ['build', '-o', bin, '.'], {
      cwd: join(HERE, 'opa-authz'),
      stdio: 'inherit',
      timeout: 40 * 60_000,
    });
    return bin;
  } catch (err) {
    log(`OPA stand-in build failed: ${(err as Error).message}`);
    return null;
  }
}

/**
 * OPA-Envoy is only accepted, never built: OPA_ENVOY_BIN names an opa-envoy-plugin binary the
 * operator already has. Unset: null (the stand-in is the OPA contender). Set but unusable: an error,
 * rather than silently measuring something else.
 */
function opaEnvoyBin(): string | null {
  const raw = process.env.OPA_ENVOY_BIN;
  if (!raw) return null;
  const bin = raw.startsWith('~/') ? join(homedir(), raw.slice(2)) : raw;
  try {
    const st = statSync(bin);
    if (!st.isFile()) throw new Error('not a file');
    // access(X_OK) succeeds for root whatever the mode bits: look at them too.
    if (!(st.mode & 0o111)) throw new Error('no execute permission');
    accessSync(bin, constants.X_OK);
  } catch (err) {
    throw new Error(`OPA_ENVOY_BIN=${raw}: not an executable file (${(err as Error).message})`);
  }
  return bin;
}

// ---------------------------------------------------------------- servers

interface Server {
  name: string;
  proc: ChildProcess;
  pid: number;
  port: number;
  info: Record<string, unknown>;
}

function readLine(proc: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms`)), timeoutMs);
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = pattern.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before it was ready`));
    });
  });
}

async function startNode(
  name: string,
  args: string[],
  nodeFlags: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Server> {
  const proc = spawn(
    'taskset',
    ['-c', '0', process.execPath, ...nodeFlags, '--import', 'tsx', join(HERE, 'servers.ts'), ...args],
    {
      cwd: REPO,
      env,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const line = await readLine(proc, /^\{.*\}\n/m, 180_000);
  const info = JSON.parse(line) as Record<string, unknown>;
  return { name, proc, pid: proc.pid!, port: info.port as number, info };
}

async function startOpa(bin: string): Promise<Server> {
  const proc = spawn('taskset', ['-c', '0', bin, '-policy', join(HERE, 'opa-authz', 'policy.rego')], {
    env: { ...process.env, GOMAXPROCS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await readLine(proc, /listening 127\.0\.0\.1:(\d+)/, 60_000);
  return {
    name: 'opa-standin',
    proc,
    pid: proc.pid!,
    port: Number(/:(\d+)/.exec(line)![1]),
    info: {},
  };
}

/** A free loopback port (listen on 0, close); the caller retries if another process takes it first. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export const OPA_ENVOY_POLICY = join(HERE, 'opa-envoy.rego');
/** Package path of bench/opa-envoy.rego's rule (the plugin's `path`). */
const OPA_ENVOY_RULE = 'envoy/authz/allow';

/**
 * `opa-envoy-plugin run --server` with the ext_authz gRPC plugin on a free port, REST API and
 * diagnostics on free ports too, GOMAXPROCS=1, pinned to core 0. Ready when /health?plugins on the
 * diagnostic address says every plugin is OK and the gRPC port accepts connections.
 */
async function startOpaEnvoy(bin: string): Promise<Server> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [api, diag, grpcPort] = [await freePort(), await freePort(), await freePort()];
    const proc = spawn(
      'taskset',
      [
        '-c',
        '0',
        bin,
        'run',
        '--server',
        `--addr=127.0.0.1:${api}`,
        `--diagnostic-addr=127.0.0.1:${diag}`,
        `--set=plugins.envoy_ext_authz_grpc.addr=127.0.0.1:${grpcPort}`,
        `--set=plugins.envoy_ext_authz_grpc.path=${OPA_ENVOY_RULE}`,
        '--set=decision_logs.console=false',
        '--log-level=error',
        '--skip-version-check',
        OPA_ENVOY_POLICY,
      ],
      { env: { ...process.env, GOMAXPROCS: '1' }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    let exited: number | null | undefined;
    proc.once('exit', (code) => {
      exited = code;
    });
    const deadline = Date.now() + 60_000;
    while (exited === undefined && Date.now() < deadline) {
      const healthy = await fetch(`http://127.0.0.1:${diag}/health?plugins`)
        .then((r) => r.ok)
        .catch(() => false);
      if (healthy && (await canConnect(grpcPort)))
        return { name: 'opa-envoy', proc, pid: proc.pid!, port: grpcPort, info: { api, diag } };
      await new Promise((r) => setTimeout(r, 200));
    }
    if (exited === undefined) {
      proc.kill('SIGKILL');
      throw new Error(`opa-envoy-plugin not ready within 60 s (health on :${diag}, gRPC on :${grpcPort})`);
    }
    // Most likely a port another process took between freePort() and the bind: try new ports.
    lastErr = new Error(`opa-envoy-plugin exited (${exited}) before it was ready`);
    log(`${(lastErr as Error).message}; retrying on other ports`);
  }
  throw lastErr;
}

function binVersion(bin: string): string {
  try {
    const out = execFileSync(bin, ['version'], { encoding: 'utf8', timeout: 30_000 });
    return out
      .split('\n')
      .filter((l) => /^(Version|Go Version|Rego Version)\b/i.test(l))
      .join('; ');
  } catch (err) {
    return `version unknown (${(err as Error).message})`;
  }
}

/**
 * One valid and one denied CheckRequest against each deciding contender before any load: ghz counts
 * a denial as an OK call, so a policy that denied everything (wrong rule path, wrong header) would
 * otherwise be measured as if it worked.
 */
async function sanityCheck(s: Server, valid: unknown, denied: unknown): Promise<void> {
  const { authorizationService } = await import('../adapter/proto.ts');
  const Ctor = authorizationService();
  const client = new Ctor(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
  const call = (req: unknown) =>
    new Promise<number>((resolve, reject) =>
      (client as unknown as Record<string, (r: unknown, cb: grpc.requestCallback<unknown>) => void>).Check!(
        req,
        (err, res) =>
          err ? reject(err) : resolve((res as { status?: { code?: number } } | undefined)?.status?.code ?? 0),
      ),
    );
  try {
    const [ok, no] = [await call(valid), await call(denied)];
    if (ok !== 0 || no === 0)
      throw new Error(
        `${s.name} answered status ${ok} to the valid request and ${no} to the denied one (want 0 and non-zero)`,
      );
  } finally {
    client.close();
  }
}

const stop = (s: Server): Promise<void> => stopProcess(s.proc);

// ---------------------------------------------------------------- kafka (ours-kafka contender)

const KAFKA_SH = join(REPO, 'infra', 'kafka', 'kafka.sh');
const execFileP = promisify(execFile);

/** A port p with p and p+1 (the controller's) free, away from kafka.sh's default 19092. */
async function freePortPair(): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | null>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(null));
      srv.listen(port, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
  for (let i = 0; i < 20; i++) {
    const p = await tryListen(0);
    if (p && p < 65535 && p !== 19092 && (await tryListen(p + 1))) return p;
  }
  throw new Error('no free port pair for Kafka');
}

interface Kafka {
  brokers: string;
  env: NodeJS.ProcessEnv;
  pinning: string;
  stopped: boolean;
}

// Set while a broker of ours runs, so an exit or a signal still stops it (kafka.sh detaches it with setsid).
let runningKafka: Kafka | null = null;
function stopKafkaSync(): void {
  const k = runningKafka;
  if (!k || k.stopped) return;
  k.stopped = true;
  runningKafka = null;
  try {
    execFileSync('bash', [KAFKA_SH, 'stop'], { env: k.env, stdio: 'ignore', timeout: 60_000 });
  } catch {
    // kafka.sh stop escalates to SIGKILL itself; nothing more to do on the way out.
  }
}
process.once('exit', stopKafkaSync);
// The suite's temp dir (the broker's data among it), removed on a signal too.
let workDir: string | null = null;
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    stopKafkaSync();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  });

async function startKafka(runDir: string): Promise<Kafka> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    const port = await freePortPair();
    // A fresh run dir per attempt: a half-formatted one would carry the other attempt's ports.
    const dir = `${runDir}-${attempt}`;
    const env = {
      ...process.env,
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(port + 1),
      KAFKA_RUN_DIR: dir,
      KAFKA_START_TIMEOUT: '300',
    };
    const pinning =
      KAFKA_CPUS === 'all' ? 'unpinned (all cores)' : `pinned to core ${KAFKA_CPUS} (taskset; ghz's core)`;
    const k: Kafka = { brokers: `127.0.0.1:${port}`, env, pinning, stopped: false };
    runningKafka = k;
    log(`starting Kafka on ${k.brokers} (run dir ${dir}; JVM ${pinning})`);
    // The JVM inherits kafka.sh's CPU affinity.
    const [file, ...args] =
      KAFKA_CPUS === 'all'
        ? ['bash', KAFKA_SH, 'start']
        : ['taskset', '-c', KAFKA_CPUS, 'bash', KAFKA_SH, 'start'];
    try {
      await execFileP(file!, args, { env, timeout: 330_000 });
      return k;
    } catch (err) {
      lastErr = err;
      log(
        `Kafka start failed: ${(err as { stderr?: string }).stderr?.trim().split('\n').slice(-5).join(' | ') ?? err}`,
      );
      stopKafkaSync();
    }
  }
  throw lastErr;
}

async function stopKafka(k: Kafka): Promise<void> {
  if (k.stopped) return;
  k.stopped = true;
  if (runningKafka === k) runningKafka = null;
  await execFileP('bash', [KAFKA_SH, 'stop'], { env: k.env, timeout: 90_000 }).catch((err: unknown) =>
    log(`kafka.sh stop: ${(err as Error).message}`),
  );
}

/** Sum of every series of a Prometheus counter in a /metrics text. */
function metricSum(text: string, name: string): number {
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

// ---------------------------------------------------------------- load

interface Run {
  contender: string;
  workload: string;
  concurrency: number;
  rateTarget: number | null;
  round: number;
  count: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  cpuUsPerCheck: number;
}

function pct(sorted: number[], p: number): number {
  return sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! / 1e6
    : Number.NaN;
}

async function ghzRun(
  ghz: string,
  dataFile: string,
  s: Server,
  opts: { concurrency: number; seconds: number; rps?: number; total?: number },
): Promise<Omit<Run, 'contender' | 'workload' | 'round' | 'rateTarget'>> {
  const out = join(tmpdir(), `mesh-apim-ghz-${process.pid}.json`);
  const args = [
    '-c',
    '1',
    ghz,
    '--insecure',
    '--proto',
    EXT_AUTHZ_PROTO,
    '-i',
    ENVOY_PROTO_INCLUDE_DIRS.join(','),
    '--call',
    'envoy.service.auth.v3.Authorization.Check',
    '-D',
    dataFile,
    '-c',
    String(opts.concurrency),
    ...(opts.total ? ['-n', String(opts.total)] : ['-z', `${opts.seconds}s`, '-n', '0']),
    ...(opts.rps ? ['-r', String(Math.round(opts.rps))] : []),
    '--connections',
    String(Math.min(opts.concurrency, 4)),
    '-O',
    'json',
    '-o',
    out,
    `127.0.0.1:${s.port}`,
  ];
  const before = cpuTicks(s.pid);
  await new Promise<void>((resolve, reject) => {
    const p = spawn('taskset', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ghz exited ${code}`))));
  });
  const ticks = cpuTicks(s.pid) - before;
  const r = JSON.parse(readFileSync(out, 'utf8')) as {
    count: number;
    rps: number;
    details?: { latency: number; status: string; error?: string }[];
  };
  rmSync(out, { force: true });
  const details = r.details ?? [];
  const lat = details.map((d) => d.latency).sort((a, b) => a - b);
  return {
    concurrency: opts.concurrency,
    count: r.count,
    // ghz closes its connections when the duration ends: calls still in flight then fail with
    // "transport is closing" — the load generator's doing, not the server's; not counted as errors.
    errors: details.filter((d) => d.status !== 'OK' && !/transport is closing/.test(d.error ?? '')).length,
    rps: r.rps,
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
    p999: pct(lat, 0.999),
    cpuUsPerCheck: (ticks * (1e6 / CLK_TCK)) / Math.max(1, r.count),
  };
}

// ---------------------------------------------------------------- stats

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Agg {
  median: number;
  min: number;
  max: number;
  n: number;
}
function agg(xs: number[]): Agg {
  const f = xs.filter((x) => Number.isFinite(x));
  return { median: median(f), min: Math.min(...f), max: Math.max(...f), n: f.length };
}

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const fmtAgg = (a: Agg, d = 0) => `${fmt(a.median, d)} (${fmt(a.min, d)}–${fmt(a.max, d)})`;

// ---------------------------------------------------------------- big snapshot

async function bigSnapshot(n: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-big-'));
  const file = join(dir, 'big.yaml');
  writeBigPolicies(file, n);
  const runs: Record<string, { startMs: number; rssKb: number }[]> = { small: [], big: [] };
  try {
    for (let r = 0; r < (QUICK ? 1 : 2); r++) {
      for (const which of ['small', 'big'] as const) {
        const s = await startNode(which, ['adapter', ...(which === 'big' ? ['--policies', file] : [])]);
        global.gc?.();
        await new Promise((res) => setTimeout(res, 500));
        runs[which]!.push({ startMs: s.info.startMs as number, rssKb: memKb(s.pid).rssKb });
        await stop(s);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const m = (w: string, k: 'startMs' | 'rssKb') => median(runs[w]!.map((x) => x[k]));
  return {
    entries: n,
    small: { startMs: m('small', 'startMs'), rssMb: m('small', 'rssKb') / 1024 },
    big: { startMs: m('big', 'startMs'), rssMb: m('big', 'rssKb') / 1024 },
    ratio: {
      start: m('big', 'startMs') / m('small', 'startMs'),
      rss: m('big', 'rssKb') / m('small', 'rssKb'),
    },
    extraRssBytesPerEntry: ((m('big', 'rssKb') - m('small', 'rssKb')) * 1024) / n,
  };
}

// ---------------------------------------------------------------- main

export async function runSuite(): Promise<void> {
  const ghz = ensureGhz();
  const opaEnvoy = values['no-opa'] ? null : opaEnvoyBin();
  const opaBin = values['no-opa'] || values['no-standin'] ? null : ensureOpa();
  const work = mkdtempSync(join(tmpdir(), 'mesh-apim-suite-'));
  workDir = work;
  const servers: Server[] = [];
  const results: Run[] = [];
  const notes: string[] = [];
  let kafka: Kafka | null = null;
  let kafkaAdmin: KafkaBus | null = null;
  let kafkaReport: KafkaReport | null = null;
  try {
    const profDir = join(HERE, 'results', 'prof');
    if (values['cpu-prof']) mkdirSync(profDir, { recursive: true });
    // One signing key for every full-path contender, so one API key is valid on each.
    const keyFile = join(work, 'signing-key.pem');
    writeFileSync(
      keyFile,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    servers.push(await startNode('no-op', ['noop']));
    // mesh-apim = the full path on the default transport (http2); ours-grpc-js = the same on grpc-js.
    servers.push(
      await startNode(
        'mesh-apim',
        ['adapter', '--emit', '--transport', 'http2', '--key-file', keyFile],
        values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
      ),
    );
    servers.push(await startNode('no-op-http2', ['noop-http2']));
    servers.push(
      await startNode('ours-grpc-js', ['adapter', '--emit', '--transport', 'grpc-js', '--key-file', keyFile]),
    );
    if (values['fsync-ab']) {
      // The embedded log without fsync per commit, side by side with the default (see PROFILE.md).
      servers.push(
        await startNode('ours-nofsync', ['adapter', '--emit', '--no-fsync', '--key-file', keyFile]),
      );
    }
    if (KAFKA) {
      kafka = await startKafka(join(work, 'kafka'));
      const { rootLogger } = await import('../common/log.ts');
      rootLogger.level = 'warn';
      const { loadConfig } = await import('../common/config.ts');
      const { KafkaBus } = await import('../bus/kafka/index.ts');
      const { topicSpecs } = await import('../bus/topics.ts');
      kafkaAdmin = new KafkaBus(loadConfig({ env: { KAFKA_BROKERS: kafka.brokers } }).bus.kafka);
      // As `mesh-apim topics apply` would: every topic from infra/topics.yaml (the producer does not auto-create).
      await kafkaAdmin.ensureTopics(topicSpecs());
      servers.push(
        await startNode('ours-kafka', ['adapter', '--kafka', '--key-file', keyFile], [], {
          ...process.env,
          KAFKA_BROKERS: kafka.brokers,
        }),
      );
      notes.push(`Kafka broker for ours-kafka: ${kafka.brokers}, JVM ${kafka.pinning}.`);
    }
    if (opaEnvoy) {
      servers.push(await startOpaEnvoy(opaEnvoy));
      notes.push(
        `OPA-Envoy: ${opaEnvoy} (${binVersion(opaEnvoy)}), policy bench/opa-envoy.rego, path ${OPA_ENVOY_RULE}, GOMAXPROCS=1.`,
      );
    } else
      notes.push(
        values['no-opa']
          ? 'No OPA contender (--no-opa).'
          : 'OPA-Envoy not measured: set OPA_ENVOY_BIN to an opa-envoy-plugin binary you have.',
      );
    if (opaBin) servers.push(await startOpa(opaBin));
    else if (!values['no-opa'])
      notes.push(
        values['no-standin']
          ? 'OPA stand-in skipped (--no-standin).'
          : 'OPA stand-in not available (build failed).',
      );
    const ours = servers[1]!;
    for (const s of servers.filter((x) => x.info.emission))
      notes.push(`${s.name} event emission: ${String(s.info.emission)}`);
    const apiKey = ours.info.apiKey as string;
    const otherKey = ours.info.otherKey as string;
    // The realistic request (an Istio ingress gateway's CheckRequest, bench/realistic-request.ts); the
    // OPA contenders' rule reads x-api-key, one more header.
    const valid = istioIngressCheckRequest({
      apiKey,
      requestId: 'bench-1',
      extraHeaders: { 'x-api-key': 'bench-valid-key' },
    });
    const denied = istioIngressCheckRequest({
      apiKey: otherKey,
      requestId: 'bench-2',
      extraHeaders: { 'x-api-key': 'someone-else' },
    });
    notes.push(
      `Request: the realistic Istio ingress CheckRequest, ${encodeCheckRequest(valid).length} bytes encoded, API key ${apiKey.length} bytes.`,
    );
    const files = {
      valid: join(work, 'valid.json'),
      mixed: join(work, 'mixed.json'),
    };
    const deciding = servers.filter((x) => !x.name.startsWith('no-op'));
    for (const s of deciding) await sanityCheck(s, valid, denied);
    notes.push(
      `Checked before load: ${deciding.map((s) => s.name).join(', ')} allow the valid request and deny the other.`,
    );
    writeFileSync(files.valid, JSON.stringify([toGhzJson(valid)]));
    // 10 % denials: a subscribed app's key 9 times, an unsubscribed app's key (403) once.
    writeFileSync(
      files.mixed,
      JSON.stringify([...Array.from({ length: 9 }, () => toGhzJson(valid)), toGhzJson(denied)]),
    );

    log(`warm-up (${servers.map((s) => s.name).join(', ')})`);
    for (const s of servers) await ghzRun(ghz, files.mixed, s, { concurrency: 32, seconds: 0, total: 3000 });

    const record = (
      contender: string,
      workload: string,
      round: number,
      rateTarget: number | null,
      r: Awaited<ReturnType<typeof ghzRun>>,
    ) => {
      results.push({ contender, workload, round, rateTarget, ...r });
      log(
        `${contender.padEnd(12)} ${workload.padEnd(6)} c=${String(r.concurrency).padEnd(3)} ${rateTarget ? `rate=${rateTarget.toFixed(0)} ` : ''}rps=${r.rps.toFixed(0)} p50=${fmt(r.p50, 3)} p99=${fmt(r.p99, 3)} p99.9=${fmt(r.p999, 3)} ms cpu=${fmt(r.cpuUsPerCheck, 1)} us/check err=${r.errors}`,
      );
    };
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? servers : [...servers].reverse();
      for (const c of CONCURRENCIES) {
        for (const s of order)
          record(
            s.name,
            'valid',
            round,
            null,
            await ghzRun(ghz, files.valid, s, { concurrency: c, seconds: MAX_SECONDS }),
          );
      }
      for (const s of order)
        record(
          s.name,
          'mixed',
          round,
          null,
          await ghzRun(ghz, files.mixed, s, { concurrency: 32, seconds: MAX_SECONDS }),
        );
    }
    // Max throughput per contender: best concurrency, median over rounds.
    const maxOf = (name: string) =>
      Math.max(
        ...CONCURRENCIES.map((c) =>
          median(
            results
              .filter(
                (r) => r.contender === name && r.workload === 'valid' && r.concurrency === c && !r.rateTarget,
              )
              .map((r) => r.rps),
          ),
        ),
      );
    const slowest = Math.min(...servers.map((s) => maxOf(s.name)));
    log(
      `slowest contender max: ${slowest.toFixed(0)} req/s; fixed-rate runs at ${RATE_FRACTIONS.join('/')} of it`,
    );
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? servers : [...servers].reverse();
      for (const f of RATE_FRACTIONS) {
        for (const s of order)
          record(
            s.name,
            `rate${f * 100}`,
            round,
            slowest * f,
            await ghzRun(ghz, files.valid, s, { concurrency: 64, seconds: RATE_SECONDS, rps: slowest * f }),
          );
      }
    }
    const mem = Object.fromEntries(servers.map((s) => [s.name, memKb(s.pid)]));
    const metrics = ours.info.adminPort
      ? await fetch(`http://127.0.0.1:${String(ours.info.adminPort)}/metrics`).then((r) => r.text())
      : '';
    const checksByDecision = [
      ...metrics.matchAll(/^mesh_apim_checks_total\{decision="(\w[\w-]*)".*\} (\d+)/gm),
    ].map((m) => `${m[1]}=${m[2]}`);
    const oursKafka = servers.find((s) => s.name === 'ours-kafka');
    const kafkaMetrics = oursKafka
      ? await fetch(`http://127.0.0.1:${String(oursKafka.info.adminPort)}/metrics`).then((r) => r.text())
      : '';
    const emitted = /^mesh_apim_emit_events_emitted_total\{[^}]*\} (\d+)/m.exec(metrics)?.[1];
    notes.push(
      `mesh-apim checks by decision: ${checksByDecision.join(', ')}; events emitted: ${emitted ?? 'n/a'}`,
    );
    // Stopping flushes each emitter's buffer (or spools what the bus does not take in time).
    for (const s of servers) await stop(s);
    servers.length = 0;
    if (oursKafka && kafkaAdmin && kafka) {
      // Count in = count out: every check ours-kafka answered (warm-up included) is one event on the topic.
      const topic = TOPICS.requestAttributes.name;
      const onTopic = (await kafkaAdmin.endOffsets(topic)).reduce((n, p) => n + Number(p.offset), 0);
      kafkaReport = {
        brokers: kafka.brokers,
        pinning: kafka.pinning,
        topic,
        checksAnswered: metricSum(kafkaMetrics, 'mesh_apim_checks_total'),
        eventsOnTopic: onTopic,
        emittedBeforeStop: metricSum(kafkaMetrics, 'mesh_apim_emit_events_emitted_total'),
        spooled: metricSum(kafkaMetrics, 'mesh_apim_emit_events_spooled_total'),
        dropped: metricSum(kafkaMetrics, 'mesh_apim_emit_events_dropped_total'),
        producerErrors: metricSum(kafkaMetrics, 'mesh_apim_emit_producer_errors_total'),
      };
      log(kafkaCountLine(kafkaReport));
    }

    const big = values['no-big'] ? null : await bigSnapshot(Number(values['big-size']));
    writeReport({ results, mem, big, notes, slowest, kafka: kafkaReport });
  } finally {
    for (const s of servers) await stop(s);
    if (kafkaAdmin) await Promise.race([kafkaAdmin.close(), new Promise((r) => setTimeout(r, 10_000))]);
    if (kafka) {
      log('stopping Kafka');
      await stopKafka(kafka);
    }
    rmSync(work, { recursive: true, force: true });
    workDir = null;
  }
}

interface KafkaReport {
  brokers: string;
  pinning: string;
  topic: string;
  checksAnswered: number;
  eventsOnTopic: number;
  emittedBeforeStop: number;
  spooled: number;
  dropped: number;
  producerErrors: number;
}

function kafkaCountLine(k: KafkaReport): string {
  const ok = k.checksAnswered === k.eventsOnTopic;
  return `count in = count out (ours-kafka): ${k.checksAnswered} checks answered, ${k.eventsOnTopic} events on ${k.topic} (sum of end offsets) — ${ok ? 'OK' : `MISMATCH (${k.eventsOnTopic - k.checksAnswered})`}; emitted before stop ${k.emittedBeforeStop}, spooled ${k.spooled}, dropped ${k.dropped}, producer errors ${k.producerErrors}`;
}

function writeReport(r: {
  results: Run[];
  mem: Record<string, { rssKb: number; hwmKb: number }>;
  big: Record<string, unknown> | null;
  notes: string[];
  slowest: number;
  kafka: KafkaReport | null;
}): void {
  const contenders = [...new Set(r.results.map((x) => x.contender))];
  const sel = (c: string, w: string, conc?: number) =>
    r.results.filter(
      (x) => x.contender === c && x.workload === w && (conc === undefined || x.concurrency === conc),
    );
  const rows: { metric: string; per: Record<string, Agg>; higherBetter: boolean }[] = [];
  for (const c of CONCURRENCIES)
    rows.push({
      metric: `max req/s, c=${c}`,
      per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, 'valid', c).map((x) => x.rps))])),
      higherBetter: true,
    });
  rows.push({
    metric: 'max req/s, mixed 10% denials, c=32',
    per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, 'mixed').map((x) => x.rps))])),
    higherBetter: true,
  });
  for (const f of RATE_FRACTIONS) {
    for (const [k, label] of [
      ['p50', 'p50'],
      ['p99', 'p99'],
      ['p999', 'p99.9'],
    ] as const)
      rows.push({
        metric: `${label} ms @ ${f * 100}% (${(r.slowest * f).toFixed(0)} req/s)`,
        per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, `rate${f * 100}`).map((x) => x[k]))])),
        higherBetter: false,
      });
  }
  rows.push({
    metric: 'server CPU µs/check, c=32',
    per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, 'valid', 32).map((x) => x.cpuUsPerCheck))])),
    higherBetter: false,
  });
  rows.push({
    metric: 'server CPU µs/check @ 50% rate',
    per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, 'rate50').map((x) => x.cpuUsPerCheck))])),
    higherBetter: false,
  });
  const ratio = (row: (typeof rows)[number], other: string) =>
    row.per['mesh-apim']!.median / (row.per[other]?.median ?? Number.NaN);
  const hasKafka = contenders.includes('ours-kafka');
  const kafkaRatio = (row: (typeof rows)[number], other: string) =>
    (row.per['ours-kafka']?.median ?? Number.NaN) / (row.per[other]?.median ?? Number.NaN);
  // Ratio columns in the issue's order: the runtime's ceiling, the widely used peer (OPA-Envoy itself
  // when OPA_ENVOY_BIN is given), then the stand-in when it ran.
  const ratioCols: { label: string; value: (row: (typeof rows)[number]) => number }[] = [
    { label: 'ours ÷ no-op', value: (row) => ratio(row, 'no-op') },
    { label: 'ours ÷ no-op-http2', value: (row) => ratio(row, 'no-op-http2') },
    { label: 'ours (http2) ÷ ours-grpc-js', value: (row) => ratio(row, 'ours-grpc-js') },
    ...[
      ['opa-envoy', 'ours ÷ OPA-Envoy'],
      ['opa-standin', 'ours ÷ OPA stand-in'],
    ]
      .filter(([name]) => contenders.includes(name!))
      .map(([name, label]) => ({ label: label!, value: (row: (typeof rows)[number]) => ratio(row, name!) })),
    ...(contenders.includes('ours-nofsync')
      ? [
          {
            label: 'ours without fsync ÷ ours',
            value: (row: (typeof rows)[number]) =>
              row.per['ours-nofsync']!.median / row.per['mesh-apim']!.median,
          },
        ]
      : []),
  ];
  const md: string[] = [
    `# Check benchmark suite — ${new Date().toISOString()}`,
    '',
    `${QUICK ? 'Quick mode. ' : ''}${ROUNDS} round(s), contenders alternating; servers on core 0, ghz ${GHZ_VERSION} on core 1${r.kafka ? `, Kafka's JVM ${r.kafka.pinning}` : ''}. Values: median (min–max over rounds). Shared machine: read the ratios.`,
    '',
    ...(hasKafka
      ? [
          '## Full path emitting to a real Kafka (ours-kafka ÷ other; mesh-apim = ours-embedded, the embedded log)',
          '',
          '| metric | ours-kafka ÷ ours-embedded | ours-kafka ÷ no-op |',
          '| --- | --- | --- |',
          ...rows.map(
            (row) =>
              `| ${row.metric} | ${fmt(kafkaRatio(row, 'mesh-apim'))} | ${fmt(kafkaRatio(row, 'no-op'))} |`,
          ),
          '',
          r.kafka ? kafkaCountLine(r.kafka) : 'count in = count out: not measured (the run did not finish).',
          '',
        ]
      : []),
    '## Ratios (mesh-apim ÷ other; throughput: higher is better, latency/CPU: lower is better)',
    '',
    `| metric | ${ratioCols.map((c) => c.label).join(' | ')} |`,
    `| --- | ${ratioCols.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.metric} | ${ratioCols.map((c) => fmt(c.value(row))).join(' | ')} |`),
    '',
    ...(contenders.includes('opa-envoy')
      ? []
      : [
          'No OPA-Envoy column: set OPA_ENVOY_BIN to an opa-envoy-plugin binary you have; without it the OPA stand-in (bench/opa-authz) is the OPA contender.',
          '',
        ]),
    '## Absolute',
    '',
    `| metric | ${contenders.join(' | ')} |`,
    `| --- | ${contenders.map(() => '---').join(' | ')} |`,
    ...rows.map(
      (row) =>
        `| ${row.metric} | ${contenders.map((n) => fmtAgg(row.per[n]!, row.metric.includes('ms') ? 3 : row.metric.includes('CPU') ? 1 : 0)).join(' | ')} |`,
    ),
    `| RSS MiB at end (peak) | ${contenders.map((n) => `${fmt(r.mem[n]!.rssKb / 1024, 1)} (${fmt(r.mem[n]!.hwmKb / 1024, 1)})`).join(' | ')} |`,
    '',
  ];
  if (r.big) {
    const b = r.big as {
      entries: number;
      small: { startMs: number; rssMb: number };
      big: { startMs: number; rssMb: number };
      ratio: { start: number; rss: number };
      extraRssBytesPerEntry: number;
    };
    md.push(
      `## Snapshot with ${b.entries} applications + ${b.entries} subscriptions + ${b.entries} key mappings`,
      '',
      '| | start to ready (ms) | RSS after start (MiB) |',
      '| --- | --- | --- |',
      `| bench policies | ${fmt(b.small.startMs, 0)} | ${fmt(b.small.rssMb, 1)} |`,
      `| ${b.entries} each | ${fmt(b.big.startMs, 0)} | ${fmt(b.big.rssMb, 1)} |`,
      `| ratio | ${fmt(b.ratio.start)} | ${fmt(b.ratio.rss)} |`,
      '',
      `Extra RSS per (application + subscription + key mapping): ${fmt(b.extraRssBytesPerEntry, 0)} bytes.`,
      '',
    );
  }
  md.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  const dir = join(HERE, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(dir, `suite-${stamp}.md`), md.join('\n'));
  writeFileSync(
    join(dir, `suite-${stamp}.json`),
    `${JSON.stringify({ quick: QUICK, rounds: ROUNDS, ghz: GHZ_VERSION, slowestMaxRps: r.slowest, rows, runs: r.results, memory: r.mem, bigSnapshot: r.big, kafka: r.kafka, notes: r.notes }, null, 2)}\n`,
  );
  process.stdout.write(`${md.join('\n')}\nwritten: bench/results/suite-${stamp}.{md,json}\n`);
}
