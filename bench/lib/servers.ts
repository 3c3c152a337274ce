/**
 * The contender processes of the suite: bench/servers.ts children (no-op and full-path adapters)
 * pinned to core 0 and ready on their JSON line, the OPA stand-in, OPA-Envoy on free ports, and the
 * check that each deciding contender allows the valid request and denies the other before any load.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { stopProcess } from '../proc.ts';
import { log } from './log.ts';
import { BENCH_DIR, REPO_DIR } from './tools.ts';

export interface Server {
  name: string;
  proc: ChildProcess;
  pid: number;
  port: number;
  info: Record<string, unknown>;
}

/** The first match of `pattern` on the child's stdout (its ready line); rejects if it exits first. */
export function readLine(proc: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
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

export async function startNode(
  name: string,
  args: string[],
  nodeFlags: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Server> {
  const proc = spawn(
    'taskset',
    ['-c', '0', process.execPath, ...nodeFlags, '--import', 'tsx', join(BENCH_DIR, 'servers.ts'), ...args],
    {
      cwd: REPO_DIR,
      env,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const line = await readLine(proc, /^\{.*\}\n/m, 180_000);
  const info = JSON.parse(line) as Record<string, unknown>;
  return { name, proc, pid: proc.pid!, port: info.port as number, info };
}

export async function startOpa(bin: string): Promise<Server> {
  const proc = spawn('taskset', ['-c', '0', bin, '-policy', join(BENCH_DIR, 'opa-authz', 'policy.rego')], {
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
export function freePort(): Promise<number> {
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

export const OPA_ENVOY_POLICY = join(BENCH_DIR, 'opa-envoy.rego');
/** Package path of bench/opa-envoy.rego's rule (the plugin's `path`). */
export const OPA_ENVOY_RULE = 'envoy/authz/allow';

/**
 * `opa-envoy-plugin run --server` with the ext_authz gRPC plugin on a free port, REST API and
 * diagnostics on free ports too, GOMAXPROCS=1, pinned to core 0. Ready when /health?plugins on the
 * diagnostic address says every plugin is OK and the gRPC port accepts connections.
 */
export async function startOpaEnvoy(bin: string): Promise<Server> {
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

/**
 * One valid and one denied CheckRequest against each deciding contender before any load: ghz counts
 * a denial as an OK call, so a policy that denied everything (wrong rule path, wrong header) would
 * otherwise be measured as if it worked.
 */
export async function sanityCheck(s: Server, valid: unknown, denied: unknown): Promise<void> {
  const { authorizationService } = await import('../../adapter/proto.ts');
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

export const stop = (s: Server): Promise<void> => stopProcess(s.proc);
