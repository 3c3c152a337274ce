/**
 * The embedded default end to end, as a newcomer runs it: `mesh-apim start` as a real process (adapter,
 * embedded log, in-process functions, ELK file sink), an API key from `mesh-apim apikey`, Envoy-shaped
 * checks over gRPC, and the analytics lines in the data directory. SIGTERM must stop it cleanly.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CheckClient } from '../support/check-client.ts';

const bin = new URL('../../bin/mesh-apim.js', import.meta.url).pathname;
const repoRoot = new URL('../../', import.meta.url).pathname;

describe('mesh-apim start (embedded default) end to end', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-apim-start-e2e-'));
  const env = {
    ...process.env,
    MESH_APIM_DATA_DIR: dataDir,
    // Port 0: the adapter logs the ports it got (read below); the machine is shared.
    MESH_APIM_ADAPTER_GRPC_ADDRESS: '127.0.0.1:0',
    MESH_APIM_ADAPTER_ADMIN_ADDRESS: '127.0.0.1:0',
    // No Envoy access log here: allowed requests are emitted from the check itself.
    MESH_APIM_ADAPTER_ACCESS_LOGS: 'false',
    KAFKA_BROKERS: '',
    MESH_APIM_LOG_LEVEL: 'info',
  };
  let child: ChildProcess;
  let exited: Promise<number | null>;
  let stderr = '';
  let client: CheckClient | undefined;

  beforeAll(async () => {
    child = spawn(process.execPath, [bin, 'start'], {
      env,
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const port = await vi.waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}:\n${stderr}`);
        const m = /"grpcPort":(\d+).*"msg":"adapter started"/.exec(stderr);
        if (!m) throw new Error('adapter not started yet');
        return Number(m[1]);
      },
      { timeout: 20_000, interval: 50 },
    );
    // The functions start after the adapter; events emitted before are consumed once they do.
    client = new CheckClient(`127.0.0.1:${port}`);
  });

  afterAll(async () => {
    client?.close();
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('checks are allowed/denied and reach the analytics file; SIGTERM exits 0', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [bin, 'apikey', '--application', 'demo-app'],
      { env: { ...env, MESH_APIM_LOG_LEVEL: 'error' }, cwd: repoRoot },
    );
    const key = stdout.trim();
    const allowed = await client!.check({
      path: '/petstore/v1/pets',
      headers: { apikey: key },
      requestId: 'e2e-allowed',
    });
    expect(allowed.allowed).toBe(true);
    const denied = await client!.check({
      path: '/petstore/v1/pets',
      headers: { apikey: 'not-a-key' },
      requestId: 'e2e-denied',
    });
    expect(denied).toMatchObject({ allowed: false, httpStatus: 401 });

    const file = join(dataDir, 'analytics', 'apim_metrics.log');
    const lines = await vi.waitFor(
      () => {
        const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
        const found = text.split('\n').filter((l) => /e2e-(allowed|denied)/.test(l));
        if (found.length < 2) throw new Error(`analytics lines so far: ${found.length}`);
        return found;
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(lines).toHaveLength(2);
    const line = (id: string) => lines.find((l) => l.includes(`"correlationId":"${id}"`)) ?? '';
    expect(line('e2e-allowed')).toMatch(/apimMetrics: apim:response, properties :/);
    expect(line('e2e-allowed')).toContain('"applicationName":"demo-app"');
    expect(line('e2e-denied')).toMatch(/apimMetrics: apim:faulty, properties :/);
    expect(line('e2e-denied')).toContain('"proxyResponseCode":401');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/"msg":"functions stopped"/);
  });
});
