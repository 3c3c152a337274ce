import type { Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createReceiver, listen } from '../../bridge/http-receiver.ts';
import { EventPublisher } from '../../bridge/publish.ts';
import { MemoryBus } from '../../bus/memory.ts';
import { TokenRevoked } from '../../events/token-revoked.ts';
import { TOPICS } from '../../events/topics.ts';

let bus: MemoryBus;
let server: Server;
let base: string;
const NOW = Date.parse('2026-11-26T04:00:00Z');
const auth = (u = 'notifier', p = 's3cret') => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

beforeEach(async () => {
  bus = new MemoryBus();
  server = createReceiver(new EventPublisher(bus), {
    basePath: '/revocations',
    username: 'notifier',
    password: 's3cret',
    tenantDomain: 'carbon.super',
    now: () => NOW,
  });
  const a = await listen(server, '127.0.0.1', 0);
  base = `http://127.0.0.1:${a.port}/revocations`;
});
afterEach(() => new Promise<void>((r) => server.close(() => r())));

function put(path: string, body: string, authorization = auth(), method = 'PUT') {
  return fetch(`${base}${path}`, {
    method,
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
}
const published = () =>
  bus.records(TOPICS.tokenRevoked.name).map((r) => TokenRevoked.parse(JSON.parse(r.value!.toString())));

describe('revocation HTTP receiver', () => {
  it('publishes a jti revocation with its expiry', async () => {
    const res = await put('/jti/abc-123', 'value=abc-123&ttl=3600&expiryTime=1900000000000');
    expect(res.status).toBe(200);
    expect(published()).toMatchObject([
      {
        kind: 'jti',
        value: 'abc-123',
        expiresAt: new Date(1_900_000_000_000).toISOString(),
        source: 'apim-notifier',
      },
    ]);
  });

  it('derives the expiry from ttl when no expiryTime is sent', async () => {
    expect((await put('/jti/j2', 'value=j2&ttl=60')).status).toBe(200);
    expect(published()[0]!.expiresAt).toBe(new Date(NOW + 60_000).toISOString());
  });

  it('publishes consumer-key and user revocations with the revocation time', async () => {
    expect((await put('/consumer-keys/ck1', 'revocationTime=1764000000000')).status).toBe(200);
    expect((await put('/users/alice%40example.com', 'value=1764000000001')).status).toBe(200);
    expect(published()).toMatchObject([
      { kind: 'consumer-key', value: 'ck1', revokedAt: new Date(1_764_000_000_000).toISOString() },
      { kind: 'user', value: 'alice@example.com', revokedAt: new Date(1_764_000_000_001).toISOString() },
    ]);
  });

  it.each([
    ['no credentials', ''],
    ['wrong password', auth('notifier', 'wrong')],
    ['wrong user', auth('someone', 's3cret')],
    ['not basic', 'Bearer x'],
  ])('401 with %s, nothing published', async (_n, authorization) => {
    const res = await put('/jti/x', 'value=x&ttl=1', authorization);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(published()).toEqual([]);
  });

  it.each([
    ['non-numeric ttl', '/jti/x', 'value=x&ttl=soon'],
    ['value differing from the path', '/jti/x', 'value=y&ttl=1'],
    ['missing revocation time', '/consumer-keys/ck', ''],
    ['non-numeric revocation time', '/users/u', 'revocationTime=yesterday'],
  ])('400 for %s, nothing published', async (_n, path, body) => {
    const res = await put(path, body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBeTruthy();
    expect(published()).toEqual([]);
  });

  it('404 for unknown paths and 405 for GET', async () => {
    expect((await put('/tokens/x', 'value=1')).status).toBe(404);
    expect((await fetch(`${base}/jti/x`, { headers: { authorization: auth() } })).status).toBe(405);
  });

  it('503 when the bus refuses, so the notifier retries', async () => {
    bus.failProduce = new Error('broker down');
    expect((await put('/jti/x', 'value=x&ttl=1')).status).toBe(503);
    bus.failProduce = null;
    expect((await put('/jti/x', 'value=x&ttl=1')).status).toBe(200);
    expect(published()).toHaveLength(1);
  });
});
