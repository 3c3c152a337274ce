/** RevocationSet: the jti-only RevocationLookup beside the revocation step (moved from throttle.test.ts). */
import { describe, expect, it } from 'vitest';
import { RevocationSet } from '../../../adapter/policy/revocation.ts';

describe('RevocationSet', () => {
  it('forgets entries after their expiry on prune', () => {
    const r = new RevocationSet();
    r.add('a', 1000, 0);
    r.add('b', null, 0);
    expect(r.has('a')).toBe(true);
    r.prune(1000);
    expect(r.has('a')).toBe(false);
    expect(r.has('b')).toBe(true);
  });
});
