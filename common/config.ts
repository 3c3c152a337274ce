/**
 * The one typed configuration module. Sources, lowest precedence first:
 *   1. defaults declared here (every setting has one and a description; docs/configuration.md lists them),
 *   2. a YAML/JSON file: `--config <file>` or MESH_APIM_CONFIG,
 *   3. environment variables: MESH_APIM_<PATH> with each path segment in SCREAMING_SNAKE joined by `_`
 *      (adapter.grpcAddress -> MESH_APIM_ADAPTER_GRPC_ADDRESS), plus the aliases in ENV_ALIASES.
 * Validated once at start; an invalid value fails fast with the setting's path and the problem.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port');

export const ConfigSchema = z.object({
  dataDir: z
    .string()
    .default('.data')
    .describe(
      'Directory for durable local state: signing key, embedded log, spool, snapshots, analytics files.',
    ),
  logLevel: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
    .default('info')
    .describe('Log level of the structured JSON logs (stderr).'),
  instanceId: z
    .string()
    .default('')
    .describe('Identity of this process (queue names, event producer id); empty = hostname + pid.'),

  adapter: z
    .object({
      grpcAddress: hostPort
        .default('127.0.0.1:9191')
        .describe('ext_authz Check + ALS gRPC listen address; use 0.0.0.0:9191 in containers.'),
      adminAddress: hostPort
        .default('127.0.0.1:9192')
        .describe('Admin HTTP listen address: /healthz, /readyz, /metrics.'),
      failureMode: z
        .enum(['closed', 'open'])
        .default('closed')
        .describe('Answer when the check itself fails internally: closed = deny (503), open = allow.'),
      controlPlane: z
        .enum(['standalone', 'apim'])
        .default('standalone')
        .describe('Policy snapshot source: the standalone YAML file or WSO2 API Manager internal data API.'),
      standaloneFile: z
        .string()
        .default('config/standalone.yaml')
        .describe(
          'Declarative APIs/applications/subscriptions/policies file for the standalone control plane.',
        ),
      standaloneFragmentsDir: z
        .string()
        .default('')
        .describe(
          'Directory of extra standalone YAML fragments merged into the standalone file (written by the API auto-creator); empty = <dataDir>/standalone.d.',
        ),
      apiKeyAllowNoExpiry: z
        .boolean()
        .default(false)
        .describe(
          'Accept API keys without `exp` (WSO2 keys issued with validity -1). Off: such keys are invalid.',
        ),
      accessLogs: z
        .boolean()
        .default(true)
        .describe(
          'True when Envoy streams access logs (ALS) to the adapter: allowed requests are emitted from the access log. False: every event is emitted from the check.',
        ),
      throttleMaxKeys: z
        .number()
        .int()
        .positive()
        .default(1_000_000)
        .describe('Upper bound of throttle counters kept in memory; idle keys expire first.'),
    })
    .prefault({}),

  apim: z
    .object({
      url: z
        .string()
        .default('')
        .describe('WSO2 API Manager base URL, e.g. https://apim:9443 (empty = not used).'),
      username: z.string().default('').describe('Basic-auth user for the internal data API / DCR.'),
      password: z.string().default('').describe('Basic-auth password for the internal data API / DCR.'),
      tenant: z.string().default('carbon.super').describe('Tenant domain sent as xWSO2Tenant.'),
      caFile: z
        .string()
        .default('')
        .describe('PEM CA bundle to trust for API Manager TLS (empty = system CAs).'),
      certFile: z.string().default('').describe('Client certificate (PEM) for mutual TLS (empty = none).'),
      keyFile: z.string().default('').describe('Client key (PEM) for mutual TLS (empty = none).'),
      refreshIntervalMs: z
        .number()
        .int()
        .positive()
        .default(30_000)
        .describe('Period of the full control-plane pull.'),
      requestTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe('Timeout of one API Manager request.'),
    })
    .prefault({}),

  bus: z
    .object({
      kind: z
        .enum(['embedded', 'kafka'])
        .default('embedded')
        .describe(
          'Event bus: the embedded durable log (standalone) or Kafka. Setting KAFKA_BROKERS selects kafka.',
        ),
      topicPrefix: z
        .string()
        .default('')
        .describe('Prefix prepended to every topic name (multi-tenant clusters).'),
      kafka: z
        .object({
          brokers: z
            .array(z.string())
            .default([])
            .describe('Kafka bootstrap brokers (comma-separated in env: KAFKA_BROKERS).'),
          clientId: z.string().default('mesh-apim').describe('Kafka client id.'),
          ssl: z.boolean().default(false).describe('Use TLS to the brokers.'),
          saslMechanism: z
            .enum(['none', 'plain', 'scram-sha-256', 'scram-sha-512', 'aws'])
            .default('none')
            .describe('SASL mechanism; aws is the MSK IAM seam (not implemented yet).'),
          saslUsername: z.string().default('').describe('SASL username.'),
          saslPassword: z.string().default('').describe('SASL password.'),
          replicationFactor: z
            .number()
            .int()
            .positive()
            .default(1)
            .describe(
              'Replication factor of topics created by `topics apply` (use 3 on production clusters).',
            ),
          connectionTimeoutMs: z
            .number()
            .int()
            .positive()
            .default(3000)
            .describe('TCP/TLS connect timeout to a broker.'),
          requestTimeoutMs: z
            .number()
            .int()
            .positive()
            .default(30_000)
            .describe('Timeout of one broker request (produce waits for acks=all within it).'),
          sessionTimeoutMs: z
            .number()
            .int()
            .positive()
            .default(30_000)
            .describe(
              'Consumer group session timeout: a consumer silent this long is dropped from its group. After a broker restart, a group resumes only once its old members expired.',
            ),
          retries: z
            .number()
            .int()
            .nonnegative()
            .default(5)
            .describe(
              'Client-side retries of a failed request (exponential backoff from 300 ms) before produce() rejects with a retriable error.',
            ),
        })
        .prefault({}),
      embedded: z
        .object({
          pollIntervalMs: z
            .number()
            .int()
            .positive()
            .default(50)
            .describe(
              'How often embedded-log consumers look for records written by another process (same-process writes wake them at once).',
            ),
          retentionCheckIntervalMs: z
            .number()
            .int()
            .positive()
            .default(60_000)
            .describe('Period of the embedded log retention (age/size per topic) and compaction pass.'),
          fsync: z
            .boolean()
            .default(true)
            .describe(
              'fsync every produce (SQLite synchronous=FULL): survives power loss. False: survives a process crash only, faster.',
            ),
          busyTimeoutMs: z
            .number()
            .int()
            .positive()
            .default(5000)
            .describe('How long a write waits for another process holding the embedded log lock.'),
        })
        .prefault({}),
    })
    .prefault({}),

  emitter: z
    .object({
      batchSize: z.number().int().positive().default(500).describe('Events per producer batch.'),
      lingerMs: z
        .number()
        .int()
        .nonnegative()
        .default(20)
        .describe('Max wait before a partial batch is sent.'),
      bufferMax: z
        .number()
        .int()
        .positive()
        .default(50_000)
        .describe(
          'In-memory bound of events waiting for a batch. Past emitter.spoolAtBuffered they are spooled eagerly; at this bound new events are dropped (counted, reason buffer-full): only when the disk cannot keep up.',
        ),
      spoolMaxBytes: z
        .number()
        .int()
        .positive()
        .default(256 * 1024 * 1024)
        .describe('On-disk spool bound; when full, the oldest spooled events are dropped (counted).'),
      spoolSegmentBytes: z
        .number()
        .int()
        .nonnegative()
        .default(0)
        .describe(
          'Size at which a spool segment file is closed and a new one begun; 0 = spoolMaxBytes/8, at most 16 MiB.',
        ),
      spoolAtBuffered: z
        .number()
        .int()
        .nonnegative()
        .default(0)
        .describe(
          'Buffered events that make the emitter spool at once instead of waiting for a slow bus (bounds what a crash can lose); 0 = bufferMax/10.',
        ),
      produceTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(2_000)
        .describe(
          'A producer call not settled within this is treated as failed and its batch spooled (may duplicate: consumers dedupe on eventId).',
        ),
      stopTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(5_000)
        .describe(
          'On stop (SIGTERM), how long the final flush may wait for the bus before spooling the rest.',
        ),
    })
    .prefault({}),

  functions: z
    .object({
      runLocal: z.boolean().default(true).describe('`start` runs the functions in-process against the bus.'),
      batchSize: z.number().int().positive().default(100).describe('Records per local invocation.'),
      batchWindowMs: z.number().int().nonnegative().default(500).describe('Max wait to fill a local batch.'),
      analyticsSinks: z
        .array(z.enum(['file', 'http', 'kafka']))
        .default(['file'])
        .describe('Analytics sinks (comma-separated in env).'),
      analyticsHttpUrl: z
        .string()
        .default('')
        .describe('Elasticsearch/OpenSearch base URL for the `_bulk` sink.'),
      analyticsIndex: z.string().default('apim-analytics').describe('Index for the `_bulk` sink.'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;

/** Environment variables accepted besides the derived MESH_APIM_* names. */
export const ENV_ALIASES: Record<string, string> = {
  KAFKA_BROKERS: 'bus.kafka.brokers',
  APIM_URL: 'apim.url',
  DATA_DIR: 'dataDir',
};

export type Leaf = {
  path: string[];
  kind: 'string' | 'number' | 'boolean' | 'array';
  description: string;
  defaultValue: unknown;
};

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = (s as unknown as { _zod: { def: { type: string; innerType?: z.ZodType } } })._zod.def;
    if ((def.type === 'default' || def.type === 'prefault' || def.type === 'optional') && def.innerType) {
      s = def.innerType;
    } else return s;
  }
}

/** Every settable leaf of the schema with its value kind (drives env parsing and the docs test). */
export function configLeaves(schema: z.ZodType = ConfigSchema, path: string[] = []): Leaf[] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape).flatMap(([k, v]) => configLeaves(v as z.ZodType, [...path, k]));
  }
  const description = schema.description ?? '';
  const def = (schema as unknown as { _zod: { def: { defaultValue?: unknown } } })._zod.def;
  const base = { path, description, defaultValue: def.defaultValue };
  if (inner instanceof z.ZodNumber) return [{ ...base, kind: 'number' }];
  if (inner instanceof z.ZodBoolean) return [{ ...base, kind: 'boolean' }];
  if (inner instanceof z.ZodArray) return [{ ...base, kind: 'array' }];
  return [{ ...base, kind: 'string' }];
}

/** Markdown table of every setting: docs/configuration.md is this output (a test keeps them equal). */
export function configDocs(): string {
  const aliasOf = new Map(Object.entries(ENV_ALIASES).map(([env, path]) => [path, env]));
  const rows = configLeaves().map((l) => {
    const path = l.path.join('.');
    const alias = aliasOf.get(path);
    const env = `\`${envName(l.path)}\`${alias ? ` or \`${alias}\`` : ''}`;
    return `| \`${path}\` | ${env} | \`${JSON.stringify(l.defaultValue)}\` | ${l.description.replace(/\|/g, '\\|')} |`;
  });
  return [
    '# Configuration',
    '',
    'Generated by `npx mesh-apim config --docs` from common/config.ts; do not edit by hand.',
    'Precedence: defaults < config file (`--config <file>` or `MESH_APIM_CONFIG`) < environment.',
    'Lists are comma-separated in the environment; booleans accept true/false/1/0/yes/no.',
    '',
    '| setting | environment | default | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

export function envName(path: string[]): string {
  return `MESH_APIM_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

function parseEnvValue(leaf: Leaf, name: string, raw: string): unknown {
  switch (leaf.kind) {
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || Number.isNaN(n))
        throw new ConfigError(`${name}: expected a number, got "${raw}"`);
      return n;
    }
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new ConfigError(`${name}: expected true/false, got "${raw}"`);
    case 'array':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    default:
      return raw;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export interface LoadConfigOptions {
  /** Config file path; falls back to MESH_APIM_CONFIG. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Programmatic overrides (tests, CLI flags), applied last. */
  overrides?: Record<string, unknown>;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const file = options.file ?? env.MESH_APIM_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new ConfigError(`config file ${file}: cannot read`, { cause });
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (cause) {
      throw new ConfigError(`config file ${file}: not valid YAML/JSON`, { cause });
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ConfigError(`config file ${file}: top level must be a mapping`);
      }
      Object.assign(raw, parsed);
    }
  }
  const leaves = configLeaves();
  const byPath = new Map(leaves.map((l) => [l.path.join('.'), l]));
  for (const leaf of leaves) {
    const name = envName(leaf.path);
    const value = env[name];
    if (value !== undefined) setPath(raw, leaf.path, parseEnvValue(leaf, name, value));
  }
  for (const [name, path] of Object.entries(ENV_ALIASES)) {
    const value = env[name];
    const leaf = byPath.get(path);
    if (value !== undefined && leaf && env[envName(leaf.path)] === undefined) {
      setPath(raw, leaf.path, parseEnvValue(leaf, name, value));
    }
  }
  // Naming brokers is choosing Kafka, unless the bus kind is set explicitly.
  if (env.KAFKA_BROKERS && env[envName(['bus', 'kind'])] === undefined)
    setPath(raw, ['bus', 'kind'], 'kafka');
  for (const [path, value] of Object.entries(options.overrides ?? {})) setPath(raw, path.split('.'), value);

  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new ConfigError(`invalid configuration${file ? ` (${file})` : ''}: ${problems}`);
  }
  const config = result.data;
  if (config.bus.kind === 'kafka' && config.bus.kafka.brokers.length === 0) {
    throw new ConfigError('bus.kind is kafka but bus.kafka.brokers (KAFKA_BROKERS) is empty');
  }
  if (config.adapter.controlPlane === 'apim' && !config.apim.url) {
    throw new ConfigError('adapter.controlPlane is apim but apim.url (APIM_URL) is empty');
  }
  return config;
}
