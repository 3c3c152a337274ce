/**
 * API Manager's already-revoked set (GET /internal/data/v1/revokedjwt, RevokedEvents) -> our events.
 * Pure: the HTTP call is issue-3's internal data API client; this maps its body.
 */
import { createHash } from 'node:crypto';
import type { TokenRevoked } from '../../events/token-revoked.ts';

interface RevokedEvents {
  revokedJWTList?: { jwt_signature?: string; expiry_time?: number }[];
  revokedJWTSubjectEntityList?: {
    entity_id?: string;
    entity_type?: string;
    revocation_time?: number;
    organization?: string;
  }[];
  revokedJWTConsumerKeyList?: {
    consumer_key?: string;
    revocation_time?: number;
    type?: string;
    organization?: string;
  }[];
}

function id(...parts: unknown[]): string {
  return `apim-initial-${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32)}`;
}

export function revocationsFromRevokedJwt(
  body: unknown,
  tenantDomain: string,
  now = Date.now(),
): TokenRevoked[] {
  const b = (body ?? {}) as RevokedEvents;
  const base = {
    type: 'token-revoked' as const,
    schemaVersion: 1 as const,
    occurredAt: new Date(now).toISOString(),
    source: 'apim-eventhub' as const,
  };
  const out: TokenRevoked[] = [];
  for (const j of b.revokedJWTList ?? []) {
    if (!j.jwt_signature) continue;
    const exp = j.expiry_time && j.expiry_time > 0 ? new Date(j.expiry_time).toISOString() : null;
    out.push({
      ...base,
      eventId: id('jti', j.jwt_signature),
      kind: 'jti',
      value: j.jwt_signature,
      revokedAt: base.occurredAt,
      expiresAt: exp,
      tenantDomain,
    });
  }
  for (const s of b.revokedJWTSubjectEntityList ?? []) {
    if (!s.entity_id || !s.revocation_time) continue;
    const kind = String(s.entity_type).toUpperCase() === 'CLIENT_ID' ? 'consumer-key' : 'user';
    out.push({
      ...base,
      eventId: id(kind, s.entity_id, s.revocation_time),
      kind,
      value: s.entity_id,
      revokedAt: new Date(s.revocation_time).toISOString(),
      expiresAt: null,
      tenantDomain: s.organization || tenantDomain,
    });
  }
  for (const c of b.revokedJWTConsumerKeyList ?? []) {
    if (!c.consumer_key || !c.revocation_time) continue;
    out.push({
      ...base,
      eventId: id('consumer-key', c.consumer_key, c.revocation_time),
      kind: 'consumer-key',
      value: c.consumer_key,
      revokedAt: new Date(c.revocation_time).toISOString(),
      expiresAt: null,
      tenantDomain: c.organization || tenantDomain,
    });
  }
  return out;
}
