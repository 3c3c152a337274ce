import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastValidator } from '../../events/fast-validator.ts';
import { RequestContext } from '../../events/request-attributes.ts';
import { analyticsCases } from '../../functions/analytics-publisher/samples.ts';
import { type Json, junk, mutate, paths } from '../support/mutations.ts';

// The contexts the analytics cases carry (zod strips the event's envelope and response).
const contexts = Object.values(analyticsCases()).map((c) => RequestContext.parse(c) as unknown as Json);

describe('fastValidator(RequestContext): the access log path (adapter/als/mapping.ts)', () => {
  const fast = fastValidator(RequestContext)!;

  it('accepts every well-formed context', () => {
    expect(fast).toBeTypeOf('function');
    for (const c of contexts) expect(fast(JSON.parse(JSON.stringify(c))), String(c.requestId)).toBe(true);
  });

  it('never accepts what zod rejects, and what it accepts zod returns unchanged (mutation property)', () => {
    const allPaths = paths(contexts[0]);
    fc.assert(
      fc.property(
        fc.nat(contexts.length - 1),
        fc.constantFrom(...allPaths),
        junk,
        fc.boolean(),
        (ci, p, value, drop) => {
          const v = JSON.parse(JSON.stringify(mutate(contexts[ci]!, p, value, drop)));
          if (!fast(v)) return true;
          const z = RequestContext.safeParse(v);
          expect(z.success).toBe(true);
          expect(z.data).toEqual(v);
          return true;
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('rejects an unknown key (zod would strip it, so the text could not stand for the value)', () => {
    expect(fast({ ...contexts[0], surplus: 1 })).toBe(false);
  });
});
