import { describe, expect, it } from 'vitest';
import { EventPublisher } from '../../bridge/publish.ts';
import { revocationFromWso2 } from '../../bridge/wso2.ts';
import { MemoryBus } from '../../bus/memory.ts';
import { DeadLetter } from '../../events/dead-letter.ts';
import { tokenDigest } from '../../events/token-revoked.ts';
import { TOPICS } from '../../events/topics.ts';
import { jwtRevocation, opaqueRevocation } from './wso2-messages.ts';

const map = (b: string) => revocationFromWso2(b, { tenantDomain: 'carbon.super', now: Date.now });

describe('EventPublisher.bridge', () => {
  it('publishes a mapped revocation keyed by kind:value', async () => {
    const bus = new MemoryBus();
    const out = await new EventPublisher(bus).bridge(
      { source: 'amq.topic/tokenRevocation', body: Buffer.from(jwtRevocation('j1')) },
      map,
    );
    expect(out.status).toBe('published');
    const [r] = bus.records(TOPICS.tokenRevoked.name);
    expect(r!.key!.toString()).toBe('jti:j1');
  });

  it('publishes an opaque token revocation with no raw token in the Kafka key or value', async () => {
    const raw = 'opaque-live-token-9f86d081884c7d65';
    const bus = new MemoryBus();
    const out = await new EventPublisher(bus).bridge(
      { source: 'amq.topic/tokenRevocation', body: Buffer.from(opaqueRevocation(raw)) },
      map,
    );
    expect(out.status).toBe('published');
    const [r] = bus.records(TOPICS.tokenRevoked.name);
    expect(r!.key!.toString()).toBe(`token:${tokenDigest(raw)}`);
    expect(r!.value!.toString()).not.toContain(raw);
  });

  it('dead-letters a poison message with the original bytes and the reason', async () => {
    const bus = new MemoryBus();
    const out = await new EventPublisher(bus).bridge(
      { source: 'amq.topic/tokenRevocation', body: Buffer.from('garbage'), position: '7' },
      map,
    );
    expect(out).toMatchObject({ status: 'dead-lettered' });
    expect(bus.records(TOPICS.tokenRevoked.name)).toEqual([]);
    const dl = DeadLetter.parse(JSON.parse(bus.records(TOPICS.deadLetter.name)[0]!.value!.toString()));
    expect(Buffer.from(dl.original.value!, 'base64').toString()).toBe('garbage');
    expect(dl.source).toMatchObject({ topic: 'amq.topic/tokenRevocation', offset: '7' });
    expect(dl.error).toMatchObject({ stage: 'decode', code: 'REVOCATION_POISON' });
  });

  it('propagates a bus failure so the transport does not acknowledge', async () => {
    const bus = new MemoryBus();
    bus.failProduce = new Error('down');
    await expect(
      new EventPublisher(bus).bridge({ source: 's', body: Buffer.from(jwtRevocation('j')) }, map),
    ).rejects.toThrow('down');
  });
});
