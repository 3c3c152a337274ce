/** Environment names of the settings: derived MESH_APIM_* names, aliases, and what is no setting. */
import { ConfigError } from '../errors.ts';
import { distance } from './distance.ts';
import { configLeaves, type Leaf } from './leaves.ts';
import { KEY_ALIASES } from './schema.ts';

export function envName(path: string[]): string {
  return `MESH_APIM_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

/**
 * Environment variables accepted besides the derived MESH_APIM_* names: the short conventional ones,
 * and the derived names of renamed settings where grouping changed them (most did not:
 * oauth.introspectionUrl and oauth.introspection.url are both MESH_APIM_OAUTH_INTROSPECTION_URL).
 */
export const ENV_ALIASES: Record<string, string> = {
  KAFKA_BROKERS: 'bus.kafka.brokers',
  APIM_URL: 'apim.url',
  DATA_DIR: 'dataDir',
  ...Object.fromEntries(
    Object.entries(KEY_ALIASES)
      .map(([from, to]) => [envName(from.split('.')), to] as const)
      .filter(([name, to]) => name !== envName(to.split('.'))),
  ),
};

/**
 * MESH_APIM_* variables that are not settings: read by the CLI, the bench or the test harness. Any
 * other MESH_APIM_* name that is no setting is a misspelling and fails the start (as an unknown key
 * in the config file does), instead of the setting quietly keeping its default.
 */
export const NON_SETTING_ENV = new Set([
  'MESH_APIM_CONFIG',
  'MESH_APIM_LOG_FORMAT',
  'MESH_APIM_CACHE',
  'MESH_APIM_BENCH_BIN',
  'MESH_APIM_WSO2_CONTRACTS',
]);

/**
 * Kubernetes injects `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_9191_TCP_ADDR`, ... for every Service
 * in the namespace (enableServiceLinks); the chart's `mesh-apim-adapter` Service yields MESH_APIM_ADAPTER_*
 * names of exactly these shapes, which are not misspellings.
 */
const SERVICE_LINK_ENV =
  /_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)$/;

/** MESH_APIM_* variables that name no setting, as `NAME (did you mean ...?)`. */
export function unknownEnv(env: NodeJS.ProcessEnv, leaves: readonly Leaf[] = configLeaves()): string[] {
  const known = leaves.map((l) => envName(l.path));
  const knownSet = new Set([...known, ...Object.keys(ENV_ALIASES)]);
  const out: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('MESH_APIM_') || knownSet.has(name) || NON_SETTING_ENV.has(name)) continue;
    if (env[name] === undefined || SERVICE_LINK_ENV.test(name)) continue;
    const near = known.find((k) => distance(k, name) <= 3);
    out.push(`${name}${near ? ` (did you mean ${near}?)` : ''}`);
  }
  return out.sort();
}

/** An environment string as the leaf's kind: lists comma-separated, booleans true/false/1/0/yes/no/on/off. */
export function parseEnvValue(leaf: Leaf, name: string, raw: string): unknown {
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
