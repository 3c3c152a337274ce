/** Mutations of a valid JSON value, for properties of validators (ajv fast path vs zod). */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { z } from 'zod';

// Values a mutation may put anywhere: right and wrong types, edge strings, near-miss timestamps.
const junk = fc.oneof(
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
function mutate(v: Json, path: string[], value: unknown, drop: boolean): Json {
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

function paths(v: unknown, prefix: string[] = []): string[][] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [prefix];
  const out: string[][] = prefix.length ? [prefix] : [];
  for (const [k, c] of Object.entries(v)) out.push(...paths(c, [...prefix, k]), [...prefix, `${k}_extra`]);
  return out;
}

/**
 * The fast-path property: over mutations of `samples` (a field replaced, retyped or dropped), the
 * compiled validator `fast` never accepts what `schema` rejects, and what it accepts zod returns unchanged.
 */
export function assertFastImpliesZod(
  fast: (v: unknown) => boolean,
  schema: z.ZodType,
  samples: readonly Json[],
  numRuns = 3000,
): void {
  fc.assert(
    fc.property(
      fc.nat(samples.length - 1),
      fc.constantFrom(...paths(samples[0])),
      junk,
      fc.boolean(),
      (ci, p, value, drop) => {
        const v = JSON.parse(JSON.stringify(mutate(samples[ci]!, p, value, drop)));
        if (!fast(v)) return true;
        const r = schema.safeParse(v);
        expect(r.success).toBe(true);
        expect(r.data).toEqual(v);
        return true;
      },
    ),
    { numRuns },
  );
}
