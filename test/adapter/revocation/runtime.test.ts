import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startRevocations } from '../../../adapter/revocation/index.ts';
import { EventPublisher } from '../../../bridge/publish.ts';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { revocation } from '../../support/revocations.ts';

async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('startRevocations (standalone, local transport)', () => {
  it('applies revocations published on the bus, persists them, and reloads them on restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'revoc-rt-'));
    const config = loadConfig({ env: {}, overrides: { dataDir } });
    const bus = new MemoryBus();
    const rt = await startRevocations({ config, instanceId: 'a1', bus });
    await new EventPublisher(bus).revoked(revocation({ kind: 'jti', value: 'key-1', expiresAt: null }));
    await until(() => rt.store.revokedBy({ jti: 'key-1' }) !== null);
    await rt.stop();

    // A restart against an empty bus still denies: the set came back from the data directory.
    const rt2 = await startRevocations({ config, instanceId: 'a1', bus: new MemoryBus() });
    expect(rt2.store.revokedBy({ jti: 'key-1' })).toBe('jti');
    await rt2.stop();
  });

  it('with API Manager as control plane loads revokedjwt before resolving', async () => {
    const config = loadConfig({
      env: {},
      overrides: { 'adapter.controlPlane': 'apim', 'apim.url': 'http://127.0.0.1:1' },
    });
    const rt = await startRevocations({
      config,
      instanceId: 'a2',
      bus: new MemoryBus(),
      fetchRevokedJwt: async () => ({
        revokedJWTList: [{ jwt_signature: 'old', expiry_time: Date.now() + 60_000 }],
      }),
    });
    expect(rt.store.revokedBy({ jti: 'old' })).toBe('jti');
    await rt.stop();
  });
});
