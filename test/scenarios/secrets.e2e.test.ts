/**
 * Credentials never leave the process in logs or metrics: `mesh-apim start` as a real process with
 * user info in every URL setting (apim.url, the Elasticsearch sink, bridge.amqpUrl), debug logs, an
 * Elasticsearch sink that fails (its errors are logged), and checks carrying a valid API key in the
 * header and in the query, a forged key and a garbage bearer token. Neither stderr nor /metrics may
 * contain any password, the key or its signature.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CheckClient } from '../support/check-client.ts';

const bin = new URL('../../bin/mesh-apim.js', import.meta.url).pathname;
const repoRoot = new URL('../../', import.meta.url).pathname;
const PASSWORDS = [
  'pw-apim-url',
  'pw-apim-basic',
  'pw-es-url',
  'pw-es-basic',
  'pw-amqp-url',
  'pw-notifier',
  'pw-jwks-url',
  'pw-introspection-url',
  'pw-introspection-secret',
];
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('no credential in logs or /metrics', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-secrets-'));
  const configFile = join(dir, 'credentials-everywhere.yaml');
  const env = {
    ...process.env,
    MESH_APIM_DATA_DIR: join(dir, 'data'),
    MESH_APIM_ADAPTER_GRPC_ADDRESS: '127.0.0.1:0',
    MESH_APIM_ADAPTER_ADMIN_ADDRESS: '127.0.0.1:0',
    MESH_APIM_ADAPTER_ACCESS_LOGS: 'false',
    MESH_APIM_LOG_FORMAT: 'json',
    MESH_APIM_LOG_LEVEL: 'debug',
    KAFKA_BROKERS: '',
  };
  let child: ChildProcess;
  let stderr = '';
  let client: CheckClient;
  let adminPort = 0;

  beforeAll(async () => {
    writeFileSync(
      configFile,
      [
        'logLevel: debug',
        'apim:',
        '  url: https://admin:pw-apim-url@apim.invalid:9443',
        '  password: pw-apim-basic',
        'functions:',
        '  analyticsSinks: [file, http]',
        // A closed port: every bulk request fails and is logged.
        '  analyticsHttpUrl: http://elastic:pw-es-url@127.0.0.1:1',
        '  analyticsHttpPassword: pw-es-basic',
        '  analyticsFileFsync: false',
        // Unreachable on purpose: their failures are logged, with the URL.
        'oauth:',
        '  issuers:',
        '    - issuer: https://idp.test',
        '      jwksUrl: http://jwks:pw-jwks-url@127.0.0.1:1/jwks',
        '  introspectionUrl: http://client:pw-introspection-url@127.0.0.1:1/introspect',
        '  introspectionClientId: mesh-apim',
        '  introspectionClientSecret: pw-introspection-secret',
        'bridge:',
        '  amqpUrl: amqp://admin:pw-amqp-url@mq.invalid:5672',
        '  httpPassword: pw-notifier',
        '',
      ].join('\n'),
    );
    child = spawn(process.execPath, [bin, 'start', '--config', configFile], {
      env,
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const ports = await vi.waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}:\n${stderr}`);
        const m = /"grpcPort":(\d+),"adminPort":(\d+).*"msg":"adapter started"/.exec(stderr);
        if (!m) throw new Error('adapter not started yet');
        return [Number(m[1]), Number(m[2])] as const;
      },
      { timeout: 20_000, interval: 50 },
    );
    adminPort = ports[1];
    client = new CheckClient(`127.0.0.1:${ports[0]}`);
  });

  afterAll(async () => {
    client?.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('start logs its version and the ready banner', () => {
    expect(stderr).toMatch(/"version":"\d+\.\d+\.\d+".*"msg":"mesh-apim starting"/);
  });

  it('holds for valid, forged and garbage credentials in headers and the query', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [bin, 'apikey', '--application', 'demo-app', '--config', configFile],
      { env: { ...env, MESH_APIM_LOG_LEVEL: 'error' }, cwd: repoRoot },
    );
    const key = stdout.trim();
    const signature = key.split('.')[2]!;
    const forged = `${key.slice(0, -6)}AAAAAA`;
    const jwt = `${b64({ alg: 'RS256', kid: 'idp-key-1', typ: 'JWT' })}.${b64({ iss: 'https://idp.test', sub: 'u', exp: 4102444800 })}.c2lnbmF0dXJl`;
    const checks: { path: string; headers: Record<string, string> }[] = [
      { path: '/petstore/v1/pets', headers: { apikey: key } },
      { path: `/petstore/v1/pets?apikey=${key}`, headers: {} },
      { path: '/nowhere/v9/x', headers: { apikey: key } },
      { path: '/petstore/v1/pets', headers: { apikey: forged } },
      { path: '/petstore/v1/pets', headers: { authorization: 'Bearer opaque-garbage-token-pw' } },
      { path: '/petstore/v1/pets', headers: { authorization: `Bearer ${jwt}` } },
    ];
    const results = [];
    for (const [i, c] of checks.entries()) {
      results.push(await client.check({ ...c, requestId: `secrets-${i}` }));
    }
    expect(results.map((r) => r.allowed)).toEqual([true, true, false, false, false, false]);
    // The unreachable endpoints were tried and their failures logged before we look.
    await vi.waitFor(
      () => {
        if (!/introspection failed/.test(stderr) || !/JWKS refresh failed/.test(stderr))
          throw new Error('failures not logged yet');
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(stderr).toContain('http://***@127.0.0.1:1/jwks');
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    expect(metrics).toMatch(/mesh_apim_/);
    for (const [where, text] of [
      ['stderr', stderr],
      ['/metrics', metrics],
    ] as const) {
      for (const secret of [...PASSWORDS, key, signature, forged.split('.')[2]!, 'opaque-garbage-token-pw']) {
        expect(text.includes(secret), `${where} carries ${secret.slice(0, 24)}...`).toBe(false);
      }
      expect(text, where).not.toMatch(/:\/\/[^\s/"@]+:[^\s/"@]+@/);
    }
  });
});
