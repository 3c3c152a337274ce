import { describe, expect, it } from 'vitest';
import { compileSnapshot } from '../../adapter/snapshot/compile.ts';
import { loadStandaloneData } from '../../adapter/standalone/source.ts';
import { startBanner } from '../../cli/banner.ts';

const { data } = loadStandaloneData('config/standalone.yaml', null);
const snapshot = compileSnapshot(data, { source: 'standalone' });

describe('start banner', () => {
  it('says where it listens (wildcards as loopback), the data dir, and a command to paste', () => {
    const text = startBanner({
      version: '1.2.3',
      controlPlane: 'standalone',
      grpcAddress: '0.0.0.0:0',
      grpcPort: 40001,
      adminAddress: '127.0.0.1:0',
      adminPort: 40002,
      dataDir: '/var/lib/mesh-apim',
      configFile: 'my.yaml',
      snapshot,
    });
    expect(text.split('\n')).toEqual([
      'mesh-apim 1.2.3 ready (standalone control plane)',
      '  ext_authz gRPC  127.0.0.1:40001',
      '  admin HTTP      http://127.0.0.1:40002  (/healthz /readyz /metrics)',
      '  data dir        /var/lib/mesh-apim',
      '  try:',
      '    KEY=$(npx mesh-apim apikey -a demo-app --config my.yaml)',
      '    npx mesh-apim check --address 127.0.0.1:40001 --path /petstore/v1/pets --apikey "$KEY"',
      '',
    ]);
  });

  it('without a subscribed application (or on API Manager) it still says what to run', () => {
    const text = startBanner({
      version: '1.2.3',
      controlPlane: 'apim',
      grpcAddress: '127.0.0.1:9191',
      grpcPort: 9191,
      adminAddress: '127.0.0.1:9192',
      adminPort: 9192,
      dataDir: '/d',
      snapshot: null,
    });
    expect(text).toContain('try: npx mesh-apim check --address 127.0.0.1:9191 --path <path> --apikey <key>');
  });
});
