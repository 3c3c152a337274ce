import { describe, expect, it } from 'vitest';
import { fastValidator } from '../../../events/fast-validator.ts';
import { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { analyticsCases } from '../../../functions/analytics-publisher/samples.ts';
import { validateRecord } from '../../../functions/lib/contracts.ts';
import { RecordSchemaError } from '../../../functions/lib/errors.ts';
import { inRecordsFromValues } from '../../../functions/lib/kafka-event.ts';
import { assertFastImpliesZod, type Json } from '../../support/mutations.ts';

const cases = Object.values(analyticsCases());
const topic = TOPICS.requestAttributes.name;

describe('the compiled fast-path validator (ajv from the zod schema)', () => {
  const fast = fastValidator(RequestAttributes)!;

  it('exists for request-attributes and accepts every well-formed case', () => {
    expect(fast).toBeTypeOf('function');
    for (const c of cases) expect(fast(JSON.parse(JSON.stringify(c))), c.requestId).toBe(true);
  });

  it('never accepts what zod rejects, and what it accepts zod returns unchanged (mutation property)', () => {
    assertFastImpliesZod(fast, RequestAttributes, cases as unknown as Json[]);
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
