/** `mesh-apim apikey` as a user runs it: a child process with its own data directory. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureSigningKey } from '../../../adapter/standalone/issuer.ts';

const run = promisify(execFile);
const bin = new URL('../../../bin/mesh-apim.js', import.meta.url).pathname;
const repoRoot = new URL('../../../', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'mesh-apim-cli-'));
const env = { ...process.env, MESH_APIM_DATA_DIR: dataDir, MESH_APIM_LOG_LEVEL: 'error' };

async function apikey(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, 'apikey', ...args], { env, cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('mesh-apim apikey', () => {
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('prints only a WSO2-format API key, signed by the key it created in the data directory', async () => {
    const res = await apikey('--application', 'bronze-app', '--validity', '120', '--key-type', 'SANDBOX');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = res.stdout.trim();
    const key = ensureSigningKey(dataDir);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', kid: key.kid });
    const { payload } = await jwtVerify(token, await importSPKI(key.publicPem, 'RS256'));
    expect(payload).toMatchObject({
      keytype: 'SANDBOX',
      token_type: 'apiKey',
      application: { name: 'bronze-app', tier: '50PerMin' },
      subscribedAPIs: [
        { name: 'petstore', context: '/petstore/v1', version: 'v1', subscriptionTier: 'Bronze' },
      ],
      tierInfo: { Bronze: { stopOnQuotaReach: true } },
    });
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(typeof payload.jti).toBe('string');
  });

  it('reuses the same signing key on later runs', async () => {
    const a = await apikey('--application', 'demo-app');
    const b = await apikey('--application', 'demo-app');
    expect(decodeProtectedHeader(a.stdout.trim()).kid).toBe(decodeProtectedHeader(b.stdout.trim()).kid);
  });

  it('unknown application: clear error on stderr, nothing on stdout, non-zero exit', async () => {
    const res = await apikey('--application', 'ghost-app');
    expect(res.code).not.toBe(0);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('unknown application "ghost-app"');
  });

  it.each([
    [[]],
    [['--application', 'demo-app', '--key-type', 'DEV']],
    [['--application', 'demo-app', '--validity', '-5']],
  ])('bad arguments %j exit non-zero', async (args) => {
    const res = await apikey(...args);
    expect(res.code).not.toBe(0);
    expect(res.stdout).toBe('');
  });
});
