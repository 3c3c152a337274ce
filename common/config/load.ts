/**
 * Sources of the configuration, lowest precedence first:
 *   1. the defaults of the areas' slices (every setting has one and a description),
 *   2. a YAML/JSON file: `--config <file>` or MESH_APIM_CONFIG,
 *   3. environment variables: MESH_APIM_<PATH> with each path segment in SCREAMING_SNAKE joined by `_`
 *      (adapter.grpcAddress -> MESH_APIM_ADAPTER_GRPC_ADDRESS), plus the aliases in ENV_ALIASES,
 *   4. programmatic overrides (CLI flags, tests).
 * Validated once at start; every problem is reported at once, each with its setting's path.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { ENV_ALIASES, envName, parseEnvValue, unknownEnv } from './env.ts';
import { configLeaves, unknownKeys } from './leaves.ts';
import { type Config, ConfigSchema, KEY_ALIASES } from './schema.ts';

export interface LoadConfigOptions {
  /** Config file path; falls back to MESH_APIM_CONFIG. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Programmatic overrides (tests, CLI flags), applied last. */
  overrides?: Record<string, unknown>;
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function setPath(target: Tree, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function takePath(target: Tree, path: string[]): unknown {
  let node: unknown = target;
  for (const key of path.slice(0, -1)) {
    if (!isTree(node)) return undefined;
    node = node[key];
  }
  if (!isTree(node)) return undefined;
  const last = path[path.length - 1]!;
  const value = node[last];
  delete node[last];
  return value;
}

function hasPath(target: Tree, path: string[]): boolean {
  let node: unknown = target;
  for (const key of path) {
    if (!isTree(node) || !Object.hasOwn(node, key)) return false;
    node = node[key];
  }
  return true;
}

/** Moves every renamed key of a file to its new path; both names at once is a conflict. */
function resolveKeyAliases(tree: Tree, where: string): void {
  for (const [from, to] of Object.entries(KEY_ALIASES)) {
    const old = from.split('.');
    if (!hasPath(tree, old)) continue;
    if (hasPath(tree, to.split('.'))) {
      throw new ConfigError(`${where}: both ${from} (old name) and ${to} are set; keep ${to}`);
    }
    setPath(tree, to.split('.'), takePath(tree, old));
  }
}

/** Source 2: the config file, aliases resolved, unknown keys refused. */
function fileSource(file: string): Tree {
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
  if (parsed === null || parsed === undefined) return {};
  if (!isTree(parsed)) throw new ConfigError(`config file ${file}: top level must be a mapping`);
  resolveKeyAliases(parsed, `config file ${file}`);
  const unknown = unknownKeys(parsed);
  if (unknown.length > 0) {
    throw new ConfigError(
      `config file ${file}: unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`,
    );
  }
  return parsed;
}

/** Source 3: MESH_APIM_* names, then aliases a derived name does not already set. */
function envSource(env: NodeJS.ProcessEnv, raw: Tree): void {
  const leaves = configLeaves();
  const misspelt = unknownEnv(env, leaves);
  if (misspelt.length > 0) {
    throw new ConfigError(
      `unknown environment variable${misspelt.length > 1 ? 's' : ''} ${misspelt.join(', ')}: no such setting (docs/configuration.md lists them)`,
    );
  }
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
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.MESH_APIM_CONFIG;
  const raw: Tree = file ? fileSource(file) : {};
  envSource(env, raw);
  for (const [path, value] of Object.entries(options.overrides ?? {})) {
    setPath(raw, (KEY_ALIASES[path] ?? path).split('.'), value);
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      `invalid configuration${file ? ` (${file})` : ''}:\n${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}
