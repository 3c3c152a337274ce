import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory.ts';
import { publish, topicOf } from '../../bus/publish.ts';
import type { OutRecord } from '../../bus/types.ts';
import type { TokenRevoked } from '../../events/token-revoked.ts';
import { TOPICS } from '../../events/topics.ts';

const revoked = (value: string): TokenRevoked =>
  ({
    type: 'token-revoked',
    schemaVersion: 1,
    eventId: `e-${value}`,
    occurredAt: '2026-01-01T00:00:00.000Z',
    kind: 'jti',
    value,
  }) as TokenRevoked;

describe('publish (events of a topic contract onto a bus)', () => {
  it('keys each event by its contract, serialises it as JSON and uses the prefixed wire name', async () => {
    const bus = new MemoryBus();
    const topic = topicOf(TOPICS.tokenRevoked, 'p.');
    expect(topic.name).toBe('p.mesh-apim.token-revoked.v1');
    await publish(bus, topic, [revoked('a'), revoked('b')]);
    const got = bus.records('p.mesh-apim.token-revoked.v1');
    expect(got.map((r) => r.key!.toString())).toEqual(['jti:a', 'jti:b']);
    expect(got.map((r) => JSON.parse(r.value!.toString()))).toEqual([revoked('a'), revoked('b')]);
    expect(got[0]!.headers).toEqual({});
  });

  it('adds per-event headers and a timestamp when asked, and produces nothing for no events', async () => {
    const calls: [string, OutRecord[]][] = [];
    const bus = { produce: async (t: string, r: OutRecord[]) => void calls.push([t, r]) };
    await publish(bus, topicOf(TOPICS.tokenRevoked), [revoked('a')], {
      headers: (e) => ({ kind: e.kind }),
      timestamp: 42,
    });
    await publish(bus, topicOf(TOPICS.tokenRevoked), []);
    expect(calls).toEqual([
      [
        'mesh-apim.token-revoked.v1',
        [{ key: 'jti:a', value: JSON.stringify(revoked('a')), headers: { kind: 'jti' }, timestamp: 42 }],
      ],
    ]);
  });

  it('rejects when the bus does (nothing reported as sent)', async () => {
    const bus = new MemoryBus();
    bus.failProduce = new Error('down');
    await expect(publish(bus, topicOf(TOPICS.tokenRevoked), [revoked('a')])).rejects.toThrow('down');
  });
});
