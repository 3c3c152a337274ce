import type { Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createReceiver, listen } from '../../bridge/http-receiver.ts';
import { EventPublisher } from '../../bridge/publish.ts';
import { MemoryBus } from '../../bus/memory.ts';
import { TokenRevoked, tokenDigest } from '../../events/token-revoked.ts';
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

/**
 * Request bodies exactly as wso2/carbon-apimgt TokenRevocationNotifierImpl.sendMessageToPersistentStorage
 * builds them (getEtcdParams): UrlEncodedFormEntity of value=true, ttl (default "3600"), then the
 * fields of the event type, PUT to <hostname><key> with Basic auth.
 */
const wso2Form = (...extra: [string, string][]) =>
  new URLSearchParams([['value', 'true'], ['ttl', '3600'], ...extra]).toString();

describe('revocation HTTP receiver', () => {
  it('token revocation: PUT <base>/<token>, value=true&ttl&expiryTime; a non-JWT key travels as its digest', async () => {
    // WSO2 sends no type: a UUID may be an opaque access token (a live credential) or a jti. Its
    // gateway drops such a key from its token cache (removeTokenFromGatewayCache); only the digest
    // leaves the receiver, and adapters match it against opaque tokens and jtis alike.
    const key = '3c6d0a4e-5f1b-4c8e-9d2a-7b1e0f4a9c33';
    const res = await put(`/${key}`, wso2Form(['expiryTime', '1900000000000']));
    expect(res.status).toBe(200);
    expect(published()).toMatchObject([
      {
        kind: 'token',
        value: tokenDigest(key),
        expiresAt: new Date(1_900_000_000_000).toISOString(),
        source: 'apim-notifier',
      },
    ]);
  });

  it('expiryTime 0 (an opaque token): remembered for ttl seconds', async () => {
    expect((await put('/j2', wso2Form(['expiryTime', '0']))).status).toBe(200);
    expect(published()[0]!.expiresAt).toBe(new Date(NOW + 3_600_000).toISOString());
  });

  it('an API key revoked whole (older releases): published by its signature, never the key', async () => {
    const apiKey = 'eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJrMSJ9.c2lnbmF0dXJlLXNlZ21lbnQ=';
    expect((await put(`/${apiKey}`, wso2Form(['expiryTime', '0']))).status).toBe(200);
    const [e] = published();
    expect(e).toMatchObject({ kind: 'jti', value: 'c2lnbmF0dXJlLXNlZ21lbnQ=' });
    expect(
      JSON.stringify(bus.records(TOPICS.tokenRevoked.name).map((r) => r.value!.toString())),
    ).not.toContain('eyJ');
  });

  it('consumer app revocation: consumerKey + revocationTime', async () => {
    const body = wso2Form(['consumerKey', 'ck1'], ['revocationTime', '1764000000000']);
    expect((await put('/ck1', body)).status).toBe(200);
    expect(published()).toMatchObject([
      { kind: 'consumer-key', value: 'ck1', revokedAt: new Date(1_764_000_000_000).toISOString() },
    ]);
  });

  it('subject entity revocation: entityId + entityType (USER_ID, CLIENT_ID) + revocationTime', async () => {
    const user = wso2Form(
      ['entityId', 'alice@example.com'],
      ['entityType', 'USER_ID'],
      ['revocationTime', '1764000000001'],
    );
    const client = wso2Form(
      ['entityId', 'ck9'],
      ['entityType', 'CLIENT_ID'],
      ['revocationTime', '1764000000002'],
    );
    expect((await put('/alice%40example.com', user)).status).toBe(200);
    expect((await put('/ck9', client)).status).toBe(200);
    expect(published()).toMatchObject([
      { kind: 'user', value: 'alice@example.com', revokedAt: new Date(1_764_000_000_001).toISOString() },
      { kind: 'consumer-key', value: 'ck9', revokedAt: new Date(1_764_000_000_002).toISOString() },
    ]);
  });

  it('the per-stream default paths of older releases (jti/, consumer-keys/, users/) still work', async () => {
    expect((await put('/jti/abc-123', wso2Form(['expiryTime', '1900000000000']))).status).toBe(200);
    expect((await put('/consumer-keys/ck1', 'revocationTime=1764000000000')).status).toBe(200);
    expect((await put('/users/alice%40example.com', 'value=1764000000001')).status).toBe(200);
    expect(published()).toMatchObject([
      { kind: 'jti', value: 'abc-123' },
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
    const res = await put('/x', wso2Form(['expiryTime', '0']), authorization);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(published()).toEqual([]);
  });

  it.each([
    ['non-numeric ttl', '/x', 'value=true&ttl=soon'],
    ['value other than true', '/x', 'value=y&ttl=1'],
    ['missing revocation time', '/ck', 'value=true&ttl=3600&consumerKey=ck'],
    [
      'non-numeric revocation time',
      '/u',
      'value=true&entityId=u&entityType=USER_ID&revocationTime=yesterday',
    ],
    ['unknown entity type', '/u', 'value=true&entityId=u&entityType=GROUP&revocationTime=1'],
    ['revocation time without an entity', '/u', 'value=true&revocationTime=1'],
  ])('400 for %s, nothing published', async (_n, path, body) => {
    const res = await put(path, body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBeTruthy();
    expect(published()).toEqual([]);
  });

  it('404 outside the base path and 405 for GET', async () => {
    expect((await fetch(`${base.replace('/revocations', '/other')}/x`, { method: 'PUT' })).status).toBe(404);
    expect((await put('', 'value=true')).status).toBe(404);
    expect((await fetch(`${base}/x`, { headers: { authorization: auth() } })).status).toBe(405);
  });

  it('503 when the bus refuses, so the notifier retries', async () => {
    bus.failProduce = new Error('broker down');
    expect((await put('/x', wso2Form(['expiryTime', '0']))).status).toBe(503);
    bus.failProduce = null;
    expect((await put('/x', wso2Form(['expiryTime', '0']))).status).toBe(200);
    expect(published()).toHaveLength(1);
  });
});
