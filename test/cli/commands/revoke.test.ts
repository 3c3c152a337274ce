/** `mesh-apim revoke` as a user runs it: a child process publishing to the embedded bus in its own data directory. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { tokenDigest } from '../../../events/token-revoked.ts';
import { otherRsaKey, signRs256, wso2Claims } from '../../support/keys.ts';

const run = promisify(execFile);
const bin = new URL('../../../bin/mesh-apim.js', import.meta.url).pathname;
const repoRoot = new URL('../../../', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'mesh-apim-revoke-'));
const env = {
  ...process.env,
  MESH_APIM_DATA_DIR: dataDir,
  MESH_APIM_LOG_LEVEL: 'debug',
  KAFKA_BROKERS: '',
};

async function revoke(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, 'revoke', ...args], { env, cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Every byte the command left in the data directory (the embedded event log and its indexes). */
function everythingWritten(dir: string): Buffer {
  const parts: Buffer[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) parts.push(readFileSync(join(entry.parentPath, entry.name)));
  }
  return Buffer.concat(parts);
}

describe('mesh-apim revoke --token', () => {
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('publishes the SHA-256 of an opaque token: the raw token is in no output, log or stored byte', async () => {
    const raw = 'opaque-cli-live-token-6bc1bee22e409f96';
    const res = await revoke('--token', raw);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^cli-[0-9a-f-]+\n$/);
    expect(res.stdout + res.stderr).not.toContain(raw);
    const stored = everythingWritten(dataDir);
    // The event is there, identified by the digest...
    expect(stored.includes(tokenDigest(raw))).toBe(true);
    // ...and the token is not, in any encoding a record could hold it.
    expect(stored.includes(raw)).toBe(false);
    expect(stored.includes(Buffer.from(raw).toString('base64'))).toBe(false);
  });

  it('rejects an empty --token instead of revoking the digest of nothing', async () => {
    const res = await revoke('--token', '');
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--token must not be empty/);
  });

  it('an API key given as --token revokes its jti (and digest), expiring with the key, instead of nothing', async () => {
    const claims = wso2Claims(Date.now(), { jti: 'cli-apikey-jti-5f1e' });
    const apiKey = await signRs256(otherRsaKey(), 'k', claims);
    const res = await revoke('--token', apiKey);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^cli-[0-9a-f-]+\ncli-[0-9a-f-]+\n$/);
    expect(res.stderr).toMatch(/JWT: revoking its jti cli-apikey-jti-5f1e/);
    const stored = everythingWritten(dataDir).toString('latin1');
    expect(stored).toContain('"kind":"jti","value":"cli-apikey-jti-5f1e"');
    expect(stored).toContain(new Date((claims.exp as number) * 1000).toISOString());
    expect(stored.includes(apiKey)).toBe(false);
  });

  it('refuses a past --expires-at: the entry would be pruned while the key is still valid', async () => {
    const res = await revoke(
      '--jti',
      'some-jti',
      '--expires-at',
      new Date(Date.now() - 60_000).toISOString(),
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--expires-at .* is not in the future/);
  });
});
