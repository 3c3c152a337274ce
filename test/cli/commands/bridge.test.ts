/** `mesh-apim bridge` admin endpoint: ready only while the event hub consumer is attached. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const bin = new URL('../../../bin/mesh-apim.js', import.meta.url).pathname;

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('mesh-apim bridge admin endpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-bridge-cli-'));
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  async function start(env: Record<string, string>) {
    child = spawn(process.execPath, [bin, 'bridge'], {
      env: {
        ...process.env,
        DATA_DIR: join(dir, 'data'),
        KAFKA_BROKERS: '',
        MESH_APIM_LOG_LEVEL: 'info',
        MESH_APIM_BRIDGE_ADMIN_ADDRESS: '127.0.0.1:0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    const port = await vi.waitFor(
      () => {
        const m = /"adminPort":(\d+)/.exec(stderr);
        if (child!.exitCode !== null) throw new Error(`exited ${child!.exitCode}:\n${stderr}`);
        if (!m) throw new Error(`no admin port yet:\n${stderr}`);
        return Number(m[1]);
      },
      { timeout: 15_000, interval: 20 },
    );
    return { base: `http://127.0.0.1:${port}`, exited };
  }

  it('event hub unreachable: alive but not ready (503, amqp false); SIGTERM exits 0', async () => {
    const { base, exited } = await start({
      MESH_APIM_BRIDGE_AMQP_URL: `amqp://guest:guest@127.0.0.1:${await closedPort()}`,
    });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ ready: false, amqp: false });
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(
      /mesh_apim_build_info\{[^}]*program="bridge"/,
    );
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('HTTP receiver only (no AMQP): ready once listening', async () => {
    const { base, exited } = await start({
      MESH_APIM_BRIDGE_AMQP_URL: '',
      MESH_APIM_BRIDGE_HTTP_ADDRESS: '127.0.0.1:0',
      MESH_APIM_BRIDGE_HTTP_USERNAME: 'notifier',
      MESH_APIM_BRIDGE_HTTP_PASSWORD: 'notifier-secret',
    });
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ ready: true, http: true });
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });
});
