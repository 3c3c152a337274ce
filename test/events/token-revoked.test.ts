import { describe, expect, it } from 'vitest';
import { TokenRevoked, tokenDigest } from '../../events/token-revoked.ts';
import { revocation } from '../support/revocations.ts';

describe('token-revoked contract', () => {
  it('kind token accepts the SHA-256 hex digest of the token', () => {
    const e = revocation({ kind: 'token', value: tokenDigest('opaque-x') });
    expect(TokenRevoked.parse(e).value).toBe(tokenDigest('opaque-x'));
  });

  it.each([
    ['a raw opaque token', 'opaque-x'],
    ['an uppercase digest', tokenDigest('opaque-x').toUpperCase()],
    ['a base64url digest', Buffer.from(tokenDigest('opaque-x'), 'hex').toString('base64url')],
    ['a truncated digest', tokenDigest('opaque-x').slice(0, 63)],
  ])('kind token rejects %s', (_case, value) => {
    const r = TokenRevoked.safeParse(revocation({ kind: 'token', value }));
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['value']);
  });

  it('other kinds keep any non-empty identifier', () => {
    expect(TokenRevoked.safeParse(revocation({ kind: 'jti', value: 'not-a-digest' })).success).toBe(true);
    expect(TokenRevoked.safeParse(revocation({ kind: 'user', value: '' })).success).toBe(false);
  });
});
