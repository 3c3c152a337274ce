import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { analyticsCases } from '../../../functions/analytics-publisher/samples.ts';
import { fastValidator, validateRecord } from '../../../functions/lib/contracts.ts';
import { RecordSchemaError } from '../../../functions/lib/errors.ts';
import { inRecordsFromValues } from '../../../functions/lib/kafka-event.ts';

const cases = Object.values(analyticsCases());
const topic = TOPICS.requestAttributes.name;

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

type Json = Record<string, unknown>;
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

describe('the compiled fast-path validator (ajv from the zod schema)', () => {
  const fast = fastValidator(RequestAttributes)!;

  it('exists for request-attributes and accepts every well-formed case', () => {
    expect(fast).toBeTypeOf('function');
    for (const c of cases) expect(fast(JSON.parse(JSON.stringify(c))), c.requestId).toBe(true);
  });

  it('never accepts what zod rejects, and what it accepts zod returns unchanged (mutation property)', () => {
    const allPaths = paths(cases[0]);
    fc.assert(
      fc.property(
        fc.nat(cases.length - 1),
        fc.constantFrom(...allPaths),
        junk,
        fc.boolean(),
        (ci, p, value, drop) => {
          const v = JSON.parse(JSON.stringify(mutate(cases[ci] as unknown as Json, p, value, drop)));
          if (!fast(v)) return true;
          const z = RequestAttributes.safeParse(v);
          expect(z.success).toBe(true);
          expect(z.data).toEqual(v);
          return true;
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('a record with unknown keys still passes (zod strips them), a malformed one is poison with the full error', () => {
    const [extra, bad] = inRecordsFromValues(topic, [
      { ...cases[0], surplus: true },
      { ...cases[0], decision: { ...cases[0]!.decision, kind: 'bogus' } },
    ]);
    expect(validateRecord(extra!, RequestAttributes)).not.toHaveProperty('surplus');
    expect(() => validateRecord(bad!, RequestAttributes)).toThrow(RecordSchemaError);
    expect(() => validateRecord(bad!, RequestAttributes)).toThrow(/decision\.kind/);
  });
});
