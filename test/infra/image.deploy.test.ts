/**
 * The container image's file set, as `npm run image:assemble` built it from the Dockerfile and
 * .dockerignore (dist/image: rootfs/ + image.json): its ENTRYPOINT + CMD start the adapter to ready
 * and SIGTERM stops it; --help loads every command it ships; the HEALTHCHECK script passes.
 * Only what needs the base image is not reproduced: tini (PID 1) and the uid.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CheckClient } from '../../adapter/check-client.ts';
import { TOPICS, topicName } from '../../events/topics.ts';
import type { ImageConfig } from '../../infra/image/assemble.ts';

const out = path.resolve(import.meta.dirname, '../../dist/image');
const rootfs = path.join(out, 'rootfs');

function image(): ImageConfig {
  const file = path.join(out, 'image.json');
  if (!existsSync(file)) throw new Error(`${file} missing: run \`npm run image:assemble\` first`);
  return JSON.parse(readFileSync(file, 'utf8')) as ImageConfig;
}

describe('container image file set', () => {
  const cfg = image();
  const cwd = path.join(rootfs, cfg.workdir);
  // The image's ENV, its absolute paths moved under rootfs; nothing of the host's environment but PATH.
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: mkdtempSync(path.join(tmpdir(), 'mesh-apim-image-home-')),
    ...Object.fromEntries(
      Object.entries(cfg.env).map(([k, v]) => [k, v.startsWith('/') ? path.join(rootfs, v) : v]),
    ),
    ...extra,
  });
  // ENTRYPOINT + CMD without tini (from apt in the base image): `node dist/app/mesh-apim.js start`.
  const argv = [...cfg.entrypoint, ...cfg.cmd];
  const nodeAt = argv.indexOf('node');
  const command = argv.slice(nodeAt + 1);
  let child: ChildProcess | undefined;
  let stderr = '';

  beforeAll(() => {
    expect(nodeAt, `ENTRYPOINT runs node: ${argv.join(' ')}`).toBeGreaterThanOrEqual(0);
  });
  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('has the production dependencies only', () => {
    expect(existsSync(path.join(cwd, 'node_modules/@grpc/grpc-js'))).toBe(true);
    expect(existsSync(path.join(cwd, 'node_modules/vitest'))).toBe(false);
  });

  it('runs the compiled program (infra/image/bundle.ts), and ships no TypeScript sources', () => {
    expect(command[0]).toBe('dist/app/mesh-apim.js');
    for (const f of ['mesh-apim.js', 'embedded-log-writer.js'])
      expect(existsSync(path.join(cwd, 'dist/app', f)), f).toBe(true);
    const sources: string[] = [];
    const walk = (rel: string) => {
      for (const e of readdirSync(path.join(cwd, rel), { withFileTypes: true })) {
        const r = path.posix.join(rel, e.name);
        if (e.isDirectory() && r !== 'node_modules') walk(r);
        else if (/\.[cm]?ts$/.test(e.name)) sources.push(r);
      }
    };
    walk('');
    expect(sources).toEqual([]);
  });

  it('runs node with the small young generation (docs/deployment.md "Memory"), and node accepts the flag', () => {
    expect(cfg.env.NODE_OPTIONS).toContain('--max-semi-space-size=4');
    const r = spawnSync(process.execPath, ['-e', 'process.exit(0)'], { cwd, env: env(), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('--help loads every command the image ships', () => {
    const r = spawnSync(process.execPath, [command[0]!, '--help'], { cwd, env: env(), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const name of ['start', 'controller', 'bridge', 'check'])
      expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
  }, 60_000);

  it('CMD starts the adapter to ready; the HEALTHCHECK passes; SIGTERM stops it with exit 0', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-image-data-'));
    // Port 0 (shared machine): the adapter logs the ports it got.
    const runEnv = env({
      MESH_APIM_DATA_DIR: dataDir,
      MESH_APIM_ADAPTER_GRPC_ADDRESS: '127.0.0.1:0',
      MESH_APIM_ADAPTER_ADMIN_ADDRESS: '127.0.0.1:0',
      MESH_APIM_LOG_LEVEL: 'info',
    });
    child = spawn(process.execPath, command, { cwd, env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    child.stdout?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const adminPort = await vi.waitFor(
      () => {
        if (child!.exitCode !== null) throw new Error(`exited ${child!.exitCode}:\n${stderr}`);
        const m = /"adminPort":(\d+).*"msg":"adapter started"/.exec(stderr);
        if (!m) throw new Error(`adapter not started yet:\n${stderr}`);
        return Number(m[1]);
      },
      { timeout: 30_000, interval: 100 },
    );
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    expect(ready.status).toBe(200);
    const hc = spawnSync(process.execPath, cfg.healthcheck.slice(cfg.healthcheck.indexOf('node') + 1), {
      cwd,
      env: { ...runEnv, MESH_APIM_ADAPTER_ADMIN_ADDRESS: `127.0.0.1:${adminPort}` },
    });
    expect(hc.status).toBe(0);
    // In the image the functions run as Lambdas: `start` must not have loaded them.
    expect(stderr).not.toMatch(/"component":"functions/);
    // A check is answered and its event reaches the embedded log through the compiled writer worker.
    const grpcPort = Number(/"port":(\d+).*"msg":"gRPC server listening"/.exec(stderr)?.[1]);
    const client = new CheckClient(`127.0.0.1:${grpcPort}`);
    try {
      const denied = await client.check({ path: '/petstore/v1/pets', method: 'GET', headers: {} });
      expect(denied.httpStatus).toBe(401);
    } finally {
      client.close();
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/embedded log writer (failed|exited)/);
    const db = new Database(path.join(dataDir, 'bus', 'log.db'), { readonly: true });
    try {
      const { n } = db
        .prepare<[string], { n: number }>(
          'SELECT COUNT(*) AS n FROM records r JOIN topics t ON t.id = r.topic_id WHERE t.name = ?',
        )
        .get(topicName(TOPICS.requestAttributes))!;
      expect(n).toBe(1);
    } finally {
      db.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);
});
