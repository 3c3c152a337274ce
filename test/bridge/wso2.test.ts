import { describe, expect, it } from 'vitest';
import { entityOf, notificationFromWso2, revocationFromWso2 } from '../../bridge/wso2.ts';
import { PoisonMessageError } from '../../common/revocation-errors.ts';
import { tokenDigest } from '../../events/token-revoked.ts';
import { TOPICS } from '../../events/topics.ts';
import {
  consumerAppRevocation,
  jwtRevocation,
  notification,
  opaqueRevocation,
  subjectRevocation,
} from './wso2-messages.ts';

const o = { tenantDomain: 'fallback.com', now: () => Date.parse('2026-11-26T04:00:00Z') };

describe('revocationFromWso2', () => {
  it('maps a JWT / API key revocation to kind jti, kept until the token expiry', () => {
    const e = revocationFromWso2(jwtRevocation('jti-1', 1_900_000_000_000, 'abc'), o);
    expect(e).toMatchObject({
      kind: 'jti',
      value: 'jti-1',
      eventId: 'apim-abc',
      expiresAt: new Date(1_900_000_000_000).toISOString(),
      tenantDomain: 'carbon.super',
      source: 'apim-eventhub',
    });
  });

  it('maps any other token type to an opaque token revocation carrying the token digest', () => {
    expect(revocationFromWso2(opaqueRevocation('tok'), o)).toMatchObject({
      kind: 'token',
      value: tokenDigest('tok'),
      expiresAt: null,
    });
  });

  it('an opaque token revocation contains the raw token nowhere (value, key, event id)', () => {
    const raw = 'opaque-live-token-2b7e151628aed2a6';
    const e = revocationFromWso2(opaqueRevocation(raw), o);
    expect(e.value).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(e)).not.toContain(raw);
    expect(TOPICS.tokenRevoked.key(e)).not.toContain(raw);
  });

  it('an opaque token revocation without an API Manager event id derives its id from the digest only', () => {
    const raw = 'opaque-live-token-no-event-id';
    const msg = JSON.parse(opaqueRevocation(raw));
    delete msg.event.payloadData.eventId;
    const e = revocationFromWso2(JSON.stringify(msg), o);
    expect(e.eventId).toMatch(/^apim-/);
    expect(JSON.stringify(e)).not.toContain(raw);
  });

  it('decodes a consumer-app revocation with its revocation time', () => {
    const e = revocationFromWso2(consumerAppRevocation('ck-1', 1_764_000_000_000), o);
    expect(e).toMatchObject({
      kind: 'consumer-key',
      value: 'ck-1',
      revokedAt: new Date(1_764_000_000_000).toISOString(),
    });
  });

  it('decodes subject-entity revocations for users and client ids', () => {
    expect(revocationFromWso2(subjectRevocation('alice', 'USER_ID', 1_764_000_000_000), o)).toMatchObject({
      kind: 'user',
      value: 'alice',
    });
    expect(revocationFromWso2(subjectRevocation('ck-2', 'CLIENT_ID', 1_764_000_000_000), o)).toMatchObject({
      kind: 'consumer-key',
      value: 'ck-2',
    });
  });

  it('gives the same event id to a redelivered message without an eventId', () => {
    const body = JSON.stringify({
      event: { payloadData: { revokedToken: 'j', type: 'JWT', expiryTime: 1 } },
    });
    expect(revocationFromWso2(body, o).eventId).toBe(revocationFromWso2(body, o).eventId);
  });

  it.each([
    ['not JSON', '{nope'],
    ['no payloadData', '{"event":{}}'],
    ['empty token', jwtRevocation('')],
    [
      'undecodable consumer app payload',
      JSON.stringify({
        event: { payloadData: { revokedToken: '!!!', type: 'CONSUMER_APP_REVOCATION_EVENT' } },
      }),
    ],
    ['unknown entity type', subjectRevocation('x', 'GROUP', 1)],
  ])('rejects %s as poison', (_name, body) => {
    expect(() => revocationFromWso2(body, o)).toThrow(PoisonMessageError);
  });
});

describe('notificationFromWso2', () => {
  it('maps WSO2 notification types to the entities adapters cache', () => {
    expect(entityOf('API_CREATE')).toBe('api');
    expect(entityOf('DEPLOY_API_IN_GATEWAY')).toBe('api');
    expect(entityOf('API_LIFECYCLE_CHANGE')).toBe('api');
    expect(entityOf('APPLICATION_UPDATE')).toBe('application');
    expect(entityOf('APPLICATION_REGISTRATION_CREATE')).toBe('key-mapping');
    expect(entityOf('REMOVE_APPLICATION_KEYMAPPING')).toBe('key-mapping');
    expect(entityOf('SUBSCRIPTIONS_CREATE')).toBe('subscription');
    expect(entityOf('POLICY_UPDATE')).toBe('policy');
    expect(entityOf('SCOPE_CREATE')).toBe('other');
  });

  it('decodes the base64 event and keeps it as details', () => {
    const e = notificationFromWso2(
      notification('SUBSCRIPTIONS_CREATE', {
        eventId: 'n1',
        tenantDomain: 't.com',
        subscriptionId: 7,
        applicationId: 3,
      }),
      o,
    );
    expect(e).toMatchObject({
      entity: 'subscription',
      action: 'SUBSCRIPTIONS_CREATE',
      eventId: 'apim-n1',
      tenantDomain: 't.com',
      details: { subscriptionId: 7, applicationId: 3 },
    });
  });

  it('rejects a notification whose event is not base64 JSON as poison', () => {
    const body = JSON.stringify({
      event: { payloadData: { eventType: 'API_UPDATE', timestamp: 1, event: 'xx' } },
    });
    expect(() => notificationFromWso2(body, o)).toThrow(PoisonMessageError);
  });
});
