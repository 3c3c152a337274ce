import { describe, expect, it } from 'vitest';
import { fastValidator } from '../../events/fast-validator.ts';
import { RequestContext } from '../../events/request-attributes.ts';
import { analyticsCases } from '../../functions/analytics-publisher/samples.ts';
import { assertFastImpliesZod, type Json } from '../support/mutations.ts';

// The contexts the analytics cases carry (zod strips the event's envelope and response).
const contexts = Object.values(analyticsCases()).map((c) => RequestContext.parse(c) as unknown as Json);

describe('fastValidator(RequestContext): the access log path (adapter/als/mapping.ts)', () => {
  const fast = fastValidator(RequestContext)!;

  it('accepts every well-formed context', () => {
    expect(fast).toBeTypeOf('function');
    for (const c of contexts) expect(fast(JSON.parse(JSON.stringify(c))), String(c.requestId)).toBe(true);
  });

  it('never accepts what zod rejects, and what it accepts zod returns unchanged (mutation property)', () => {
    assertFastImpliesZod(fast, RequestContext, contexts);
  });

  it('rejects an unknown key (zod would strip it, so the text could not stand for the value)', () => {
    expect(fast({ ...contexts[0], surplus: 1 })).toBe(false);
  });
});
