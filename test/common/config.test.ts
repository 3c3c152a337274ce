import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  configDocs,
  configLeaves,
  envName,
  KEY_ALIASES,
  loadConfig,
  unknownEnv,
} from '../../common/config/index.ts';
import { ConfigError } from '../../common/errors.ts';

describe('loadConfig', () => {
  it('has a default for every setting', () => {
    const config = loadConfig({ env: {} });
    expect(config.adapter.grpcAddress).toBe('127.0.0.1:9191');
    expect(config.adapter.failureMode).toBe('closed');
    expect(config.bus.kind).toBe('embedded');
    for (const leaf of configLeaves()) {
      expect(leaf.defaultValue, leaf.path.join('.')).not.toBeUndefined();
      expect(leaf.description, leaf.path.join('.')).not.toBe('');
    }
  });

  it('layers file < env < overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(
      file,
      'adapter:\n  grpcAddress: 0.0.0.0:1000\n  adminAddress: 0.0.0.0:1001\nemitter:\n  batchSize: 7\n',
    );
    const config = loadConfig({
      file,
      env: { MESH_APIM_ADAPTER_ADMIN_ADDRESS: '127.0.0.1:2001', MESH_APIM_EMITTER_LINGER_MS: '5' },
      overrides: { 'emitter.batchSize': 9 },
    });
    expect(config.adapter.grpcAddress).toBe('0.0.0.0:1000');
    expect(config.adapter.adminAddress).toBe('127.0.0.1:2001');
    expect(config.emitter.lingerMs).toBe(5);
    expect(config.emitter.batchSize).toBe(9);
  });

  it('KAFKA_BROKERS selects the kafka bus and splits the list', () => {
    const config = loadConfig({ env: { KAFKA_BROKERS: 'b1:9092, b2:9092' } });
    expect(config.bus.kind).toBe('kafka');
    expect(config.bus.kafka.brokers).toEqual(['b1:9092', 'b2:9092']);
  });

  it.each([
    [{ MESH_APIM_EMITTER_BATCH_SIZE: 'many' }, /MESH_APIM_EMITTER_BATCH_SIZE: expected a number/],
    [{ MESH_APIM_ADAPTER_ACCESS_LOGS: 'maybe' }, /expected true\/false/],
    [{ MESH_APIM_ADAPTER_FAILURE_MODE: 'sideways' }, /adapter\.failureMode/],
    [{ MESH_APIM_ADAPTER_GRPC_ADDRESS: 'nohost' }, /expected host:port\n {2}→ at adapter\.grpcAddress/],
    [{ MESH_APIM_BUS_KIND: 'kafka' }, /brokers.*empty/],
    [{ MESH_APIM_ADAPTER_CONTROL_PLANE: 'apim' }, /apim\.url/],
  ])('fails fast naming the setting: %o', (env, message) => {
    expect(() => loadConfig({ env })).toThrow(ConfigError);
    expect(() => loadConfig({ env })).toThrow(message);
  });

  it('names the file when it is not valid YAML', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'adapter: [unclosed');
    expect(() => loadConfig({ file, env: {} })).toThrow(/broken\.yaml: not valid YAML/);
  });

  it('reports every problem at once: type errors and cross-field rules, in one area and across areas', () => {
    const env = {
      MESH_APIM_ADAPTER_CLIENT_CERTIFICATE_SOURCE: 'xfcc',
      MESH_APIM_ADAPTER_GRPC_ADDRESS: 'nohost',
      MESH_APIM_ADAPTER_CONTROL_PLANE: 'apim',
      MESH_APIM_BUS_KIND: 'kafka',
      MESH_APIM_EMITTER_BATCH_SIZE: '0',
    };
    let message = '';
    try {
      loadConfig({ env });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message.split('\n')[0]).toBe('invalid configuration:');
    for (const problem of [
      /expected host:port\n {2}→ at adapter\.grpcAddress/,
      /adapter\.xfccTrustedPrincipals is empty.*\n {2}→ at adapter\.xfccTrustedPrincipals/,
      /adapter\.controlPlane is apim but apim\.url \(APIM_URL\) is empty\n {2}→ at apim\.url/,
      /bus\.kind is kafka but bus\.kafka\.brokers \(KAFKA_BROKERS\) is empty\n {2}→ at bus\.kafka\.brokers/,
      /→ at emitter\.batchSize/,
    ]) {
      expect(message).toMatch(problem);
    }
  });

  it('derives env names from paths', () => {
    expect(envName(['adapter', 'grpcAddress'])).toBe('MESH_APIM_ADAPTER_GRPC_ADDRESS');
  });

  it('docs/configuration.md is up to date (regenerate with `npx mesh-apim config --docs`)', () => {
    const docs = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(docs).toBe(configDocs());
  });
});

describe('oauth settings', () => {
  it('an issuer needs exactly one key source', () => {
    expect(() => loadConfig({ env: {}, overrides: { 'oauth.issuers': [{ issuer: 'https://kc' }] } })).toThrow(
      /oauth\.issuers\.0 \(https:\/\/kc\): set exactly one of jwksUrl or certificateFile/,
    );
    const config = loadConfig({
      env: {},
      overrides: { 'oauth.issuers': [{ issuer: 'https://kc', jwksUrl: 'https://kc/jwks' }] },
    });
    expect(config.oauth.issuers[0]).toMatchObject({
      consumerKeyClaim: 'azp',
      algorithms: ['RS256'],
      clockSkewSeconds: 60,
    });
  });

  it('introspection needs client credentials', () => {
    expect(() =>
      loadConfig({ env: { MESH_APIM_OAUTH_INTROSPECTION_URL: 'https://apim/oauth2/introspect' } }),
    ).toThrow(/oauth\.introspection\.url is set but oauth\.introspection\.clientId is empty/);
  });
});

describe('renamed settings', () => {
  const write = (text: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'cfg-alias-')), 'old-key-names.yaml');
    writeFileSync(file, text);
    return file;
  };
  // One value per renamed key, different from its default and valid for it, so a dropped alias shows.
  const leafOf = new Map(configLeaves().map((l) => [l.path.join('.'), l]));
  const sample = (path: string): unknown => {
    const leaf = leafOf.get(path)!;
    if (path.endsWith('.sinks')) return ['kafka'];
    if (path.endsWith('.clientAuth')) return 'client_secret_post';
    if (leaf.kind === 'number') return 4242;
    if (leaf.kind === 'boolean') return !leaf.defaultValue;
    if (leaf.kind === 'array') return ['/x/v1'];
    return `v-${path}`;
  };
  const asEnv = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));
  const get = (config: unknown, path: string) =>
    path.split('.').reduce<unknown>((node, k) => (node as Record<string, unknown>)[k], config);

  it('every old key in a config file lands on its new setting', () => {
    const tree: Record<string, Record<string, unknown>> = {};
    for (const [from, to] of Object.entries(KEY_ALIASES)) {
      const [area, key] = from.split('.') as [string, string];
      tree[area] = { ...tree[area], [key]: sample(to) };
    }
    const config = loadConfig({ file: write(JSON.stringify(tree)), env: {} });
    for (const to of Object.values(KEY_ALIASES)) {
      expect(get(config, to), to).toEqual(sample(to));
      expect(sample(to), to).not.toEqual(leafOf.get(to)!.defaultValue);
    }
  });

  it('every old MESH_APIM_* name still sets the renamed setting', () => {
    const env: Record<string, string> = {};
    for (const [from, to] of Object.entries(KEY_ALIASES)) env[envName(from.split('.'))] = asEnv(sample(to));
    const config = loadConfig({ env });
    for (const to of Object.values(KEY_ALIASES)) expect(get(config, to), to).toEqual(sample(to));
    expect(config.oauth.introspection.clientAuth).toBe('client_secret_post');
  });

  it('old names in programmatic overrides still apply', () => {
    const config = loadConfig({ env: {}, overrides: { 'adapter.grpcRequestTimeoutMs': 1234 } });
    expect(config.adapter.grpc.requestTimeoutMs).toBe(1234);
  });

  it('the old and the new name of one setting in the same file is refused', () => {
    const file = write('oauth:\n  introspectionTimeoutMs: 1000\n  introspection:\n    timeoutMs: 2000\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(
      /both oauth\.introspectionTimeoutMs \(old name\) and oauth\.introspection\.timeoutMs are set/,
    );
  });
});

describe('unknown keys in a config file', () => {
  const write = (text: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'cfg-unknown-')), 'unknown-keys.yaml');
    writeFileSync(file, text);
    return file;
  };

  it('are rejected with every key path, a suggestion when one is close, inside lists too', () => {
    const file = write(
      [
        'adapter:',
        '  grpcAdress: 0.0.0.0:9191',
        'bus:',
        '  kafka:',
        '    brokerz: [b:9092]',
        'oauth:',
        '  issuers:',
        '    - { issuer: https://idp, jwksUrl: https://idp/jwks, colour: red }',
        'telemetry: {}',
        '',
      ].join('\n'),
    );
    expect(() => loadConfig({ file, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file, env: {} })).toThrow(
      'unknown settings adapter.grpcAdress (did you mean adapter.grpcAddress?), bus.kafka.brokerz (did you mean bus.kafka.brokers?), oauth.issuers.0.colour, telemetry',
    );
  });

  it('a file of known keys only still loads', () => {
    const file = write('adapter:\n  grpcAddress: 0.0.0.0:9191\nlogLevel: warn\n');
    expect(loadConfig({ file, env: {} }).logLevel).toBe('warn');
  });
});

describe('MESH_APIM_* environment variables that name no setting', () => {
  it('are rejected with every name and a suggestion when one is close', () => {
    const env = {
      MESH_APIM_ADAPTER_GRPC_ADRESS: '0.0.0.0:9191',
      MESH_APIM_LOGLEVEL: 'debug',
      MESH_APIM_TELEMETRY: 'on',
    };
    expect(() => loadConfig({ env })).toThrow(ConfigError);
    expect(() => loadConfig({ env })).toThrow(
      'unknown environment variables MESH_APIM_ADAPTER_GRPC_ADRESS (did you mean MESH_APIM_ADAPTER_GRPC_ADDRESS?), MESH_APIM_LOGLEVEL (did you mean MESH_APIM_LOG_LEVEL?), MESH_APIM_TELEMETRY',
    );
  });

  it('the CLI/bench variables and the Service links Kubernetes injects for mesh-apim-adapter are not settings, and pass', () => {
    const env = {
      MESH_APIM_CONFIG: '',
      MESH_APIM_LOG_FORMAT: 'json',
      MESH_APIM_CACHE: '/tmp/c',
      // What the kubelet sets for `Service mesh-apim-adapter` with ports grpc 9191 / http-admin 9192.
      MESH_APIM_ADAPTER_SERVICE_HOST: '10.96.0.12',
      MESH_APIM_ADAPTER_SERVICE_PORT: '9191',
      MESH_APIM_ADAPTER_SERVICE_PORT_GRPC: '9191',
      MESH_APIM_ADAPTER_PORT: 'tcp://10.96.0.12:9191',
      MESH_APIM_ADAPTER_PORT_9191_TCP: 'tcp://10.96.0.12:9191',
      MESH_APIM_ADAPTER_PORT_9191_TCP_PROTO: 'tcp',
      MESH_APIM_ADAPTER_PORT_9191_TCP_PORT: '9191',
      MESH_APIM_ADAPTER_PORT_9191_TCP_ADDR: '10.96.0.12',
      MESH_APIM_LOG_LEVEL: 'warn',
    };
    expect(loadConfig({ env }).logLevel).toBe('warn');
    expect(unknownEnv(env)).toEqual([]);
  });
});
