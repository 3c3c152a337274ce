/** decide() consults the revocation store over real gRPC Checks: jti, user and consumer-key semantics. */
import { afterEach, describe, expect, it } from 'vitest';
import { RevocationStore } from '../../adapter/revocation/store.ts';
import { eventFromNotifier } from '../../bridge/http-receiver.ts';
import { startTestAdapter, type TestAdapter, TRANSPORTS } from '../support/adapter.ts';
import { revocation } from '../support/revocations.ts';

let t: TestAdapter | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

const claims = (key: string) => JSON.parse(Buffer.from(key.split('.')[1]!, 'base64url').toString());
const check = (key: string) => t!.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } });

describe.each(TRANSPORTS)('revocations on the check path (%s transport)', (transport) => {
  it('denies a revoked jti with 401 and keeps allowing other keys', async () => {
    const store = new RevocationStore();
    t = await startTestAdapter({ transport, deps: { revocations: store } });
    const revoked = await t.apiKey('demo-app');
    const other = await t.apiKey('demo-app');
    store.apply(revocation({ kind: 'jti', value: claims(revoked).jti, expiresAt: null }));
    expect(await check(revoked)).toMatchObject({ allowed: false, httpStatus: 401 });
    expect((await check(other)).allowed).toBe(true);
  });

  it('a bare jti from the persistent notifier (no type: travels as a digest) still revokes that key', async () => {
    const store = new RevocationStore();
    t = await startTestAdapter({ transport, deps: { revocations: store } });
    const revoked = await t.apiKey('demo-app');
    const other = await t.apiKey('demo-app');
    const opts = { basePath: '/', username: 'u', password: 'p', tenantDomain: 'carbon.super' };
    const e = eventFromNotifier(
      claims(revoked).jti,
      { value: 'true', ttl: '3600', expiryTime: '0' },
      opts,
      t.clock.now(),
    );
    expect(e.kind).toBe('token');
    store.apply(e);
    expect(await check(revoked)).toMatchObject({ allowed: false, httpStatus: 401 });
    expect((await check(other)).allowed).toBe(true);
  });

  it('a user revocation denies that subject’s keys issued before it, not those issued after', async () => {
    const store = new RevocationStore();
    t = await startTestAdapter({ transport, deps: { revocations: store } });
    const before = await t.apiKey('demo-app');
    const sub = claims(before).sub as string;
    expect(sub).toBeTruthy();
    expect((await check(before)).allowed).toBe(true);
    t.clock.advance(1_000);
    store.apply(
      revocation({
        kind: 'user',
        value: sub,
        revokedAt: new Date(t.clock.now()).toISOString(),
        expiresAt: null,
      }),
    );
    expect(await check(before)).toMatchObject({ allowed: false, httpStatus: 401 });
    t.clock.advance(2_000);
    const after = await t.apiKey('demo-app');
    expect((await check(after)).allowed).toBe(true);
  });
});
