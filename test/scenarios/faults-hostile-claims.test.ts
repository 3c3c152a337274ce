/**
 * Fault suite for attacker-written restriction claims (issue 19 item 8), against an adapter in its
 * own process (test/support/adapter-process.ts, embedded bus): a permittedIP that aborted the
 * process inside the CIDR matcher, and a referer pattern that stalled the event loop for seconds,
 * now cost one denied check each while /healthz and other checks keep being answered.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckClient } from '../../adapter/check-client.ts';
import { ensureSigningKey } from '../../adapter/standalone/issuer.ts';
import { signRs256, wso2Claims } from '../support/keys.ts';

const child = fileURLToPath(new URL('../support/adapter-process.ts', import.meta.url));
const POLICIES = `
apis:
  - { id: petstore-v1, name: petstore, version: v1, context: /petstore, resources: [{ method: GET, path: /pets }] }
applications: [{ name: demo-app, tier: Unlimited }]
subscriptions: [{ application: demo-app, api: petstore-v1, tier: Unlimited }]
`;

describe('hostile restriction claims against a running adapter process', () => {
  let dir: string;
  let proc: ChildProcess;
  let client: CheckClient;
  let admin: string;
  let apiKey: string;
  const sign = (overrides: Record<string, unknown>) => {
    const key = ensureSigningKey(join(dir, 'data'));
    return signRs256(key.privateKey, key.kid, wso2Claims(Date.now(), overrides));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-apim-hostile-'));
    writeFileSync(join(dir, 'standalone.yaml'), POLICIES);
    const overrides = {
      dataDir: join(dir, 'data'),
      logLevel: 'warn',
      instanceId: 'hostile',
      'adapter.grpcAddress': '127.0.0.1:0',
      'adapter.adminAddress': '127.0.0.1:0',
      'adapter.standaloneFile': join(dir, 'standalone.yaml'),
      'adapter.accessLogs': false,
    };
    proc = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify(overrides)], {
      env: { ...process.env, KAFKA_BROKERS: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      proc.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /^\{.*\}$/m.exec(buf);
        if (m) resolve(m[0]);
      });
      proc.once('exit', (code) => reject(new Error(`adapter process exited (${code})`)));
    });
    const info = JSON.parse(line) as { grpcPort: number; adminPort: number; apiKey: string };
    client = new CheckClient(`127.0.0.1:${info.grpcPort}`);
    admin = `http://127.0.0.1:${info.adminPort}`;
    apiKey = info.apiKey;
  }, 60_000);
  afterAll(async () => {
    client?.close();
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('permittedIP "/-0" (v4 and v6) and "/": 401 900901 each, and the process lives on', async () => {
    for (const permittedIP of ['10.9.9.1/-0', '2001:db8::1/-0', '10.9.9.1/', '10.9.9.1/ ']) {
      const res = await client.check({
        path: '/petstore/v1/pets',
        headers: { apikey: await sign({ permittedIP }) },
        clientIp: '10.9.9.1',
      });
      expect({ permittedIP, status: res.httpStatus, code: res.body?.code }).toEqual({
        permittedIP,
        status: 401,
        code: '900901',
      });
    }
    expect(proc.exitCode).toBeNull();
    expect(proc.signalCode).toBeNull();
    expect((await client.check({ path: '/petstore/v1/pets', headers: { apikey: apiKey } })).allowed).toBe(
      true,
    );
  });

  it('a backtracking-shaped referer pattern under load never stalls /healthz or other checks', async () => {
    const hostile = await sign({ permittedReferer: `${'a*'.repeat(40)}c` });
    const referer = `https://${'a'.repeat(4000)}`;
    const t0 = performance.now();
    const flood = Array.from({ length: 200 }, () =>
      client.check({ path: '/petstore/v1/pets', headers: { apikey: hostile, referer } }),
    );
    const health = await fetch(`${admin}/healthz`);
    const healthMs = performance.now() - t0;
    const good = await client.check({ path: '/petstore/v1/pets', headers: { apikey: apiKey } });
    const results = await Promise.all(flood);
    console.info(`/healthz answered ${healthMs.toFixed(0)} ms into a 200-check hostile-referer flood`);
    expect(health.status).toBe(200);
    expect(good.allowed).toBe(true);
    expect(new Set(results.map((r) => `${r.httpStatus} ${r.body?.code}`))).toEqual(new Set(['403 900908']));
  });
});
