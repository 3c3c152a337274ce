/**
 * Load of the suite: one ghz run (pinned to core 1) against a contender, the server's CPU time per
 * check from /proc, latency percentiles from ghz's per-call details.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ENVOY_PROTO_INCLUDE_DIRS, EXT_AUTHZ_PROTO } from '../../adapter/proto.ts';
import { cpuTicks } from '../proc.ts';
import type { Server } from './servers.ts';
import { pct } from './stats.ts';

const CLK_TCK = 100;

export interface Run {
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

export async function ghzRun(
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

/**
 * h2load on core 1 against a contender's Check endpoint: 4 connections x 16 streams, the framed
 * request in `body` for `seconds` (at `rps` checks/s in total when given, else as fast as it goes).
 * Returns the successful requests and h2load's output; throws on failed/errored requests.
 */
export async function h2loadCheck(
  port: number,
  body: string,
  seconds: number,
  { rps = 0, name = `port ${port}` }: { rps?: number; name?: string } = {},
): Promise<{ ok: number; stdout: string }> {
  const { stdout } = await promisify(execFile)(
    'taskset',
    [
      ...['-c', '1', 'h2load', '-D', String(seconds), '-c', '4', '-m', '16'],
      ...(rps > 0 ? [`--rps=${Math.max(1, Math.round(rps / 4))}`] : []),
      ...['-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers'],
      `http://127.0.0.1:${port}/envoy.service.auth.v3.Authorization/Check`,
    ],
    { maxBuffer: 1 << 24, timeout: (seconds + 60) * 1000 },
  );
  // Duration mode: streams still open at the end count as started, not failed; failures must be 0.
  const failed = /(\d+) failed, (\d+) errored/.exec(stdout)?.slice(1).join(',');
  if (failed !== '0,0') throw new Error(`${name}: h2load failed,errored = ${failed}`);
  return { ok: Number(/(\d+) succeeded/.exec(stdout)?.[1] ?? 0), stdout };
}
