/** `-o json` of the commands that print text by default, and what `mesh-apim config` shows. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run as apikey } from '../../cli/commands/apikey.ts';
import { run as config } from '../../cli/commands/config.ts';
import { run as revoke } from '../../cli/commands/revoke.ts';
import { run as topics } from '../../cli/commands/topics.ts';
import { TOPICS } from '../../events/topics.ts';

let dataDir: string;
let out = '';

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'cli-output-'));
  vi.stubEnv('DATA_DIR', dataDir);
  vi.stubEnv('KAFKA_BROKERS', '');
  vi.stubEnv('MESH_APIM_CONFIG', '');
  out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('-o json', () => {
  it('topics apply --dry-run and topics list', async () => {
    expect(await topics(['apply', '--dry-run', '-o', 'json'])).toBe(0);
    const plan = JSON.parse(out);
    expect(plan).toMatchObject({ bus: 'embedded', dryRun: true, created: 0 });
    expect(plan.topics).toHaveLength(Object.keys(TOPICS).length);
    expect(plan.topics.every((t: { action: string }) => t.action === 'create')).toBe(true);
    out = '';
    expect(await topics(['apply', '-o', 'json'])).toBe(0);
    expect(JSON.parse(out).created).toBe(Object.keys(TOPICS).length);
    out = '';
    expect(await topics(['list', '-o', 'json'])).toBe(0);
    const listed = JSON.parse(out);
    expect(
      listed.topics.find((t: { name: string }) => t.name === TOPICS.requestAttributes.name),
    ).toMatchObject({
      partitions: 6,
      cleanupPolicy: 'delete',
    });
  });

  it('apikey and revoke', async () => {
    expect(await apikey(['-a', 'demo-app', '-o', 'json'])).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      apiKey: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      application: 'demo-app',
      keyType: 'PRODUCTION',
    });
    out = '';
    expect(await revoke(['--jti', 'jti-1', '-o', 'json'])).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ type: 'token-revoked', kind: 'jti', value: 'jti-1' });
  });
});

describe('mesh-apim config', () => {
  it('masks the user info of apim.url, the Elasticsearch URL and bridge.amqpUrl, and every password', async () => {
    const file = join(dataDir, 'credentials-in-urls.yaml');
    writeFileSync(
      file,
      [
        'apim:',
        '  url: https://admin:pw-apim@apim:9443',
        '  password: pw-apim-basic',
        'functions:',
        '  analyticsHttpUrl: https://elastic:pw-es@es:9200',
        '  analyticsHttpPassword: pw-es-basic',
        'bridge:',
        '  amqpUrl: amqp://admin:pw-amqp@mq:5672',
        '  httpPassword: pw-notifier',
        '',
      ].join('\n'),
    );
    expect(await config(['--config', file])).toBe(0);
    for (const secret of ['pw-apim', 'pw-es', 'pw-amqp', 'pw-notifier']) expect(out).not.toContain(secret);
    const shown = JSON.parse(out);
    expect(shown.apim.url).toBe('https://***@apim:9443');
    expect(shown.functions.analytics.http.url).toBe('https://***@es:9200');
    expect(shown.bridge.amqpUrl).toBe('amqp://***@mq:5672');
    expect(shown.bridge.httpPassword).toBe('***');
  });
});
