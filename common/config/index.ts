/**
 * The one typed configuration: the areas' slices composed (schema.ts), its sources (load.ts), the
 * environment names (env.ts) and the docs (docs.ts). Callers import from here.
 */
export { configDocs } from './docs.ts';
export { ENV_ALIASES, envName, NON_SETTING_ENV, unknownEnv } from './env.ts';
export { configJsonSchema, configLeaves, type Leaf, unknownKeys } from './leaves.ts';
export { type LoadConfigOptions, loadConfig } from './load.ts';
export { type Config, ConfigSchema, KEY_ALIASES } from './schema.ts';
