/** `mesh-apim controller` as a real process against the fake API server: starts, emits, stops on SIGTERM. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeKubeApi } from '../../support/fakes/fake-kube-api.ts';

const bin = new URL('../../../bin/mesh-apim.js', import.meta.url).pathname;

describe('mesh-apim controller', () => {
  let kube: FakeKubeApi;
  let dir: string;
  beforeEach(async () => {
    kube = new FakeKubeApi();
    await kube.start();
    dir = mkdtempSync(join(tmpdir(), 'mesh-apim-controller-cli-'));
  });
  afterEach(async () => {
    await kube.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('watches the kubeconfig cluster, emits to the embedded bus and exits 0 on SIGTERM', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kube.kubeconfig());
    kube.apply({
      metadata: { name: 'petstore', namespace: 'shop', annotations: { 'mesh-apim.io/expose': 'true' } },
      spec: { ports: [{ name: 'http', port: 8080 }] },
    });
    const child = spawn(
      process.execPath,
      [bin, 'controller', '--kubeconfig', kubeconfig, '--cluster', 'cli'],
      {
        env: { ...process.env, DATA_DIR: join(dir, 'data'), KAFKA_BROKERS: '', MESH_APIM_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const end = Date.now() + 15_000;
    while (!/"msg":"service-deployed"/.test(stderr) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    expect(stderr).toMatch(/"msg":"service-deployed"/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/"msg":"controller stopped"/);
  });

  it('serves /healthz, /readyz (after the first list) and /metrics on controller.adminAddress', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kube.kubeconfig());
    const child = spawn(process.execPath, [bin, 'controller', '--kubeconfig', kubeconfig], {
      env: {
        ...process.env,
        DATA_DIR: join(dir, 'data'),
        KAFKA_BROKERS: '',
        MESH_APIM_LOG_LEVEL: 'info',
        MESH_APIM_CONTROLLER_ADMIN_ADDRESS: '127.0.0.1:0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await vi.waitFor(
      () => {
        const m = /"adminPort":(\d+)/.exec(stderr);
        if (!m) throw new Error(`no admin port yet:\n${stderr}`);
        return Number(m[1]);
      },
      { timeout: 15_000, interval: 20 },
    );
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await vi.waitFor(async () => expect((await fetch(`${base}/readyz`)).status).toBe(200), {
      timeout: 15_000,
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/mesh_apim_build_info\{[^}]*program="controller"/);
    expect(metrics).toMatch(/nodejs_eventloop_lag_p99_seconds/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('a kubeconfig that cannot be read is a clear configuration error', async () => {
    const child = spawn(process.execPath, [bin, 'controller', '--kubeconfig', join(dir, 'missing')], {
      env: { ...process.env, DATA_DIR: join(dir, 'data'), KAFKA_BROKERS: '', MESH_APIM_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(stderr).toMatch(/CONFIG_INVALID: controller.kubeconfig .*missing/);
  });
});
