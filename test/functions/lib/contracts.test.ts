import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { analyticsCases } from '../../../functions/analytics-publisher/samples.ts';
import { fastValidator, validateRecord } from '../../../functions/lib/contracts.ts';
import { RecordSchemaError } from '../../../functions/lib/errors.ts';
import { inRecordsFromValues } from '../../../functions/lib/kafka-event.ts';
import { type Json, junk, mutate, paths } from '../../support/mutations.ts';

const cases = Object.values(analyticsCases());
const topic = TOPICS.requestAttributes.name;

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
