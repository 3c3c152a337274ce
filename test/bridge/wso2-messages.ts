/** WSO2-shaped event hub messages, as API Manager publishes them to amq.topic. */
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');

export function jwtRevocation(jti: string, expiryTime = 1_900_000_000_000, eventId = `e-${jti}`): string {
  return JSON.stringify({
    event: {
      payloadData: { eventId, revokedToken: jti, ttl: '5000', expiryTime, type: 'JWT', tenantId: -1234 },
    },
  });
}

/** API Manager's eventId is a UUID, unrelated to the token (a fixture must not leak it there either). */
export function opaqueRevocation(token: string, eventId = '3f6c1a52-9b0e-4d7a-8e21-5c4b7d9a0f13'): string {
  return JSON.stringify({
    event: {
      payloadData: {
        eventId,
        revokedToken: token,
        ttl: '5000',
        expiryTime: 0,
        type: 'Default',
        tenantId: -1234,
      },
    },
  });
}

export function consumerAppRevocation(consumerKey: string, revocationTime: number): string {
  return JSON.stringify({
    event: {
      payloadData: {
        eventId: `e-ck-${consumerKey}`,
        revokedToken: b64({ consumerKey, revocationTime: String(revocationTime) }),
        ttl: '5000',
        expiryTime: 0,
        type: 'CONSUMER_APP_REVOCATION_EVENT',
        tenantId: -1234,
      },
    },
  });
}

export function subjectRevocation(entityId: string, entityType: string, revocationTime: number): string {
  return JSON.stringify({
    event: {
      payloadData: {
        eventId: `e-sub-${entityId}`,
        revokedToken: b64({ entityId, entityType, revocationTime: String(revocationTime) }),
        ttl: '5000',
        expiryTime: 0,
        type: 'SUBJECT_ENTITY_REVOCATION_EVENT',
        tenantId: -1234,
      },
    },
  });
}

export function notification(
  eventType: string,
  event: Record<string, unknown>,
  timestamp = 1_764_100_000_000,
): string {
  return JSON.stringify({ event: { payloadData: { eventType, timestamp, event: b64(event) } } });
}

/**
 * TOKEN_REVOCATION_BATCH_EVENT as API Manager's TokenRevocationNotifierImpl publishes it (no token:
 * listeners such as CPTokenRevocationMessageListener re-pull /revokedjwt).
 */
export function batchRevocation(eventId = 'e-batch-1'): string {
  return JSON.stringify({
    event: {
      payloadData: {
        eventId,
        revokedToken: '',
        ttl: '3600',
        expiryTime: 0,
        type: 'TOKEN_REVOCATION_BATCH_EVENT',
        tenantId: -1234,
      },
    },
  });
}
