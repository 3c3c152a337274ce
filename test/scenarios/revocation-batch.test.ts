/**
 * Revocation events API Manager sends that name no jti: TOKEN_REVOCATION_BATCH_EVENT (gateways
 * re-pull /revokedjwt: wso2/carbon-apimgt CPTokenRevocationMessageListener -> RevokedJWTTokensRetriever)
 * and API keys revoked whole by older releases (APIKeyRevokeServiceImpl.revokeAPIKey publishes the
 * key and records its signature, splitToken[2]).
 */
import { describe, expect, it } from 'vitest';
import { revocationsFromRevokedJwt } from '../../adapter/revocation/apim.ts';
import { revocationOrBatch } from '../../bridge/amqp.ts';
import { EventPublisher } from '../../bridge/publish.ts';
import { isBatchRevocation, revocationFromWso2 } from '../../bridge/wso2.ts';
import { MemoryBus } from '../../bus/memory.ts';
import { PoisonMessageError } from '../../common/revocation-errors.ts';
import { TokenRevoked } from '../../events/token-revoked.ts';
import { TOPICS } from '../../events/topics.ts';
import { batchRevocation, jwtRevocation } from '../bridge/wso2-messages.ts';

const o = { tenantDomain: 'carbon.super', now: () => Date.parse('2026-11-26T04:00:00Z') };
const REVOKED_JWT = {
  revokedJWTList: [
    { jwt_signature: 'sig-of-an-old-api-key=', expiry_time: 1_900_000_000_000 },
    { jwt_signature: '7d3f0a4e-jti', expiry_time: 0 },
  ],
};

describe('TOKEN_REVOCATION_BATCH_EVENT', () => {
  it('is recognised; ordinary revocations are not', () => {
    expect(isBatchRevocation(batchRevocation())).toBe(true);
    expect(isBatchRevocation(jwtRevocation('j1'))).toBe(false);
    expect(isBatchRevocation('not json')).toBe(false);
  });

  it('re-pulls /revokedjwt and publishes every entry (stable ids: the adapters drop repeats)', async () => {
    const bus = new MemoryBus();
    let pulls = 0;
    const repullRevoked = async () => {
      pulls++;
      return revocationsFromRevokedJwt(REVOKED_JWT, 'carbon.super', o.now());
    };
    const publisher = new EventPublisher(bus);
    const msg = { source: 'amq.topic/tokenRevocation', body: Buffer.from(batchRevocation()) };
    const out = await publisher.bridge(msg, (b) => revocationOrBatch(b, { ...o, repullRevoked }));
    expect(out.status).toBe('republished');
    await publisher.bridge(msg, (b) => revocationOrBatch(b, { ...o, repullRevoked }));
    expect(pulls).toBe(2);
    const events = bus
      .records(TOPICS.tokenRevoked.name)
      .map((r) => TokenRevoked.parse(JSON.parse(r.value!.toString())));
    expect(events.map((e) => e.value)).toEqual([
      'sig-of-an-old-api-key=',
      '7d3f0a4e-jti',
      'sig-of-an-old-api-key=',
      '7d3f0a4e-jti',
    ]);
    expect(events[0]!.eventId).toBe(events[2]!.eventId);
  });

  it('without API Manager to re-pull from: dead-lettered, not dropped', async () => {
    const bus = new MemoryBus();
    const out = await new EventPublisher(bus).bridge(
      { source: 'amq.topic/tokenRevocation', body: Buffer.from(batchRevocation()) },
      (b) => revocationOrBatch(b, o),
    );
    expect(out).toMatchObject({ status: 'dead-lettered' });
    expect(bus.records(TOPICS.deadLetter.name)).toHaveLength(1);
    expect(() => revocationOrBatch(batchRevocation(), o)).toThrow(PoisonMessageError);
  });

  it('a re-pull that fails (API Manager down) rejects, so the transport holds and retries the message', async () => {
    const publisher = new EventPublisher(new MemoryBus());
    await expect(
      publisher.bridge({ source: 'x', body: Buffer.from(batchRevocation()) }, (b) =>
        revocationOrBatch(b, { ...o, repullRevoked: () => Promise.reject(new Error('ECONNREFUSED')) }),
      ),
    ).rejects.toThrow('ECONNREFUSED');
  });
});

describe('API keys revoked whole (older releases)', () => {
  it('an API_KEY revocation carrying the key is kept by its signature, never the key', () => {
    const key = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJrMSJ9.c2lnbmF0dXJl';
    const body = JSON.parse(jwtRevocation(key, 0, '8a1f2c3d-uuid'));
    body.event.payloadData.type = 'API_KEY';
    const e = revocationFromWso2(JSON.stringify(body), o);
    expect(e).toMatchObject({ kind: 'jti', value: 'c2lnbmF0dXJl' });
    expect(JSON.stringify(e)).not.toContain('eyJ');
  });

  it('a jti stays a jti', () => {
    expect(revocationFromWso2(jwtRevocation('3c6d0a4e-5f1b'), o).value).toBe('3c6d0a4e-5f1b');
  });
});
