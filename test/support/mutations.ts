/** Mutations of a valid JSON value, for properties of validators (ajv fast path vs zod). */
import fc from 'fast-check';

// Values a mutation may put anywhere: right and wrong types, edge strings, near-miss timestamps.
export const junk = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.string(),
  fc.constantFrom(
    '',
    'allow',
    'bogus',
    'PRODUCTION',
    '2026-11-26T04:00:00Z',
    '2026-11-26T04:00:00',
    'x'.repeat(201),
  ),
  fc.constant({}),
  fc.constant([]),
);

export type Json = Record<string, unknown>;
export function mutate(v: Json, path: string[], value: unknown, drop: boolean): Json {
  const copy = structuredClone(v);
  let cur: Json = copy;
  for (let i = 0; i < path.length - 1; i++) {
    const next = cur[path[i]!];
    if (typeof next !== 'object' || next === null) return copy;
    cur = next as Json;
  }
  const last = path.at(-1)!;
  if (drop) delete cur[last];
  else cur[last] = value;
  return copy;
}

export function paths(v: unknown, prefix: string[] = []): string[][] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [prefix];
  const out: string[][] = prefix.length ? [prefix] : [];
  for (const [k, c] of Object.entries(v)) out.push(...paths(c, [...prefix, k]), [...prefix, `${k}_extra`]);
  return out;
}
