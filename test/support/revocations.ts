import type { TokenRevoked } from '../../events/token-revoked.ts';

let seq = 0;
export function revocation(over: Partial<TokenRevoked> = {}): TokenRevoked {
  seq++;
  return {
    type: 'token-revoked',
    schemaVersion: 1,
    eventId: `evt-${seq}`,
    occurredAt: '2026-11-26T04:00:00.000Z',
    kind: 'jti',
    value: `jti-${seq}`,
    revokedAt: '2026-11-26T04:00:00.000Z',
    expiresAt: '2026-11-26T05:00:00.000Z',
    tenantDomain: 'carbon.super',
    source: 'cli',
    ...over,
  };
}
