import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../common/config/index.ts';
import { startPipeline } from '../../../pipeline/main.ts';

describe('mesh-apim start', () => {
  it('starts everything on a fresh data directory (creating the signing key) and stops', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'mesh-apim-start-')), 'fresh');
    const config = loadConfig({
      env: {},
      overrides: { dataDir, 'adapter.grpcAddress': '127.0.0.1:0', 'adapter.adminAddress': '127.0.0.1:0' },
    });
    const running = await startPipeline(config);
    try {
      const { readdirSync } = await import('node:fs');
      expect(readdirSync(dataDir)).toContain('standalone-signing-key.pem');
      const ready = await fetch(`http://127.0.0.1:${running.adapter.adminPort}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
