/**
 * The settings as a flat list of leaves, read from the schema's JSON Schema (zod's public
 * `z.toJSONSchema`: descriptions, defaults, types), which drives env parsing, unknown-key checks and
 * the docs.
 */
import { z } from 'zod';
import { distance } from './distance.ts';
import { ConfigSchema } from './schema.ts';

export type Leaf = {
  path: string[];
  kind: 'string' | 'number' | 'boolean' | 'array';
  description: string;
  defaultValue: unknown;
};

type JsonSchema = {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  description?: string;
  default?: unknown;
};

let cached: JsonSchema | undefined;

/** JSON Schema of the configuration as a file or the environment may give it (defaults not required). */
export function configJsonSchema(): JsonSchema {
  cached ??= z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return cached;
}

function kindOf(s: JsonSchema): Leaf['kind'] {
  const type = s.type ?? s.anyOf?.find((a) => a.type)?.type;
  if (type === 'number' || type === 'integer') return 'number';
  if (type === 'boolean' || type === 'array') return type;
  return 'string';
}

/** Every settable leaf with its value kind, in declaration order. */
export function configLeaves(schema: JsonSchema = configJsonSchema(), path: string[] = []): Leaf[] {
  if (schema.type === 'object' && schema.properties) {
    return Object.entries(schema.properties).flatMap(([k, v]) => configLeaves(v, [...path, k]));
  }
  return [
    { path, kind: kindOf(schema), description: schema.description ?? '', defaultValue: schema.default },
  ];
}

/**
 * Every key of a config file the schema does not declare, as `path (did you mean ...?)`: zod would
 * drop it silently, and a misspelt setting then quietly keeps its default.
 */
export function unknownKeys(
  raw: unknown,
  schema: JsonSchema = configJsonSchema(),
  path: string[] = [],
): string[] {
  if (
    schema.type === 'object' &&
    schema.properties &&
    typeof raw === 'object' &&
    raw !== null &&
    !Array.isArray(raw)
  ) {
    const shape = schema.properties;
    return Object.entries(raw).flatMap(([k, v]) => {
      if (Object.hasOwn(shape, k)) return unknownKeys(v, shape[k]!, [...path, k]);
      const near = Object.keys(shape).find((known) => distance(known.toLowerCase(), k.toLowerCase()) <= 2);
      return [`${[...path, k].join('.')}${near ? ` (did you mean ${[...path, near].join('.')}?)` : ''}`];
    });
  }
  if (schema.type === 'array' && schema.items && Array.isArray(raw)) {
    const items = schema.items;
    return raw.flatMap((v, i) => unknownKeys(v, items, [...path, String(i)]));
  }
  return [];
}
