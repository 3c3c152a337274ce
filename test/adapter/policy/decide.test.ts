/** The pure decide(): built-in tiers and the credential cache, without the transport. */
import { describe, expect, it } from 'vitest';
import { API_KEY_DEFAULTS, ApiKeyVerifier } from '../../../adapter/credentials/apikey.ts';
import type { ValidCredential } from '../../../adapter/credentials/types.ts';
import type { CheckRequest } from '../../../adapter/domain.ts';
import { decide } from '../../../adapter/policy/decide.ts';
import { ThrottleState, throttleKey } from '../../../adapter/policy/throttle.ts';
import { RevocationStore, tokenDigest } from '../../../adapter/revocation/store.ts';
import { compileSnapshot } from '../../../adapter/snapshot/compile.ts';
import { toCheckRequest } from '../../../adapter/translate.ts';
import { ManualClock } from '../../support/adapter.ts';
import { revocation } from '../../support/revocations.ts';

const snapshot = compileSnapshot(
  {
    apis: [
      {
        name: 'p',
        version: 'v1',
        context: '/p',
        resources: [
          { method: 'GET', path: '/*' },
          { method: 'GET', path: '/open', auth: 'none' },
        ],
      },
    ],
    applications: [{ name: 'bronze' }, { name: 'small', tier: '10PerMin' }],
    subscriptions: [
      { application: 'bronze', api: 'p-v1', tier: 'Bronze' },
      { application: 'small', api: 'p-v1', tier: 'Unlimited' },
    ],
  },
  { source: 'test' },
);

function request(path: string, ip = '10.0.0.1'): CheckRequest {
  return {
    requestId: 'r',
    method: 'GET',
    host: 'h',
    path,
    query: new Map(),
    rawQueryNames: new Map(),
    headers: {},
    clientIp: ip,
    contextExtensions: {},
    receivedAt: 0,
  };
}

function cred(app: string): ValidCredential {
  return {
    status: 'valid',
    type: 'apikey',
    application: { by: 'id', id: app },
    keyType: 'PRODUCTION',
    scopes: [],
    jti: `jti-${app}`,
    subject: 'u',
    issuer: null,
    issuedAt: null,
    expiresAt: null,
    subscribedApis: null,
    tierInfo: null,
    restrictions: { permittedIPs: null, permittedReferers: null },
    strip: { headers: ['apikey'], queryParams: ['apikey'] },
  };
}

function countAllowed(app: string, n: number, clock: ManualClock, state: { throttle: ThrottleState }) {
  let allowed = 0;
  let last = null;
  for (let i = 0; i < n; i++) {
    last = decide({ request: request('/p/v1/x'), credential: cred(app) }, snapshot, clock, state);
    if (last.kind === 'allow') allowed++;
  }
  return { allowed, last };
}

describe('decide with the built-in WSO2 tiers', () => {
  it('Bronze subscription: exactly 1000 per minute, then 900804', () => {
    const clock = new ManualClock();
    const state = { throttle: new ThrottleState() };
    const { allowed, last } = countAllowed('bronze', 1001, clock, state);
    expect(allowed).toBe(1000);
    expect(last).toMatchObject({ kind: 'rate-limited', code: 900804 });
  });

  it('10PerMin application tier: exactly 10, then 900803', () => {
    const clock = new ManualClock();
    const { allowed, last } = countAllowed('small', 11, clock, { throttle: new ThrottleState() });
    expect(allowed).toBe(10);
    expect(last).toMatchObject({ kind: 'rate-limited', code: 900803 });
  });

  it('Unauthenticated tier on unsecured resources: 500 per minute per client IP', () => {
    const clock = new ManualClock();
    const state = { throttle: new ThrottleState() };
    const run = (ip: string) =>
      decide(
        { request: request('/p/v1/open', ip), credential: { status: 'missing', type: 'none' } },
        snapshot,
        clock,
        state,
      );
    for (let i = 0; i < 500; i++) expect(run('1.1.1.1').kind).toBe('allow');
    expect(run('1.1.1.1')).toMatchObject({ kind: 'rate-limited', code: 900804 });
    expect(run('2.2.2.2').kind).toBe('allow');
  });

  it('a denied request uses up no quota at other levels', () => {
    const clock = new ManualClock();
    const state = { throttle: new ThrottleState() };
    countAllowed('small', 15, clock, state);
    expect(state.throttle.peek(throttleKey('app', 'small', 'u'), 60_000, clock.now()).count).toBe(10);
  });
});

describe('ApiKeyVerifier cache', () => {
  it('verifies a key once and serves repeats from the cache until the trusted keys change', async () => {
    const { ensureSigningKey, issueApiKey } = await import('../../../adapter/standalone/issuer.ts');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const key = ensureSigningKey(mkdtempSync(join(tmpdir(), 'mesh-apim-key-')));
    const snap = compileSnapshot(snapshot.data, { source: 'test', extraKeys: [key.trusted] });
    const token = await issueApiKey(snap, key, { application: 'bronze', now: Date.now() });
    const verifier = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const req = toCheckRequest(
      { attributes: { request: { http: { path: '/p/v1/x', headers: { apikey: token } } } } },
      0,
    );
    for (let i = 0; i < 5; i++) expect((await verifier.verify(req, snap, Date.now())).status).toBe('valid');
    expect(verifier.verifications).toBe(1);
    const reloaded = compileSnapshot(snapshot.data, { source: 'test', extraKeys: [key.trusted] });
    expect((await verifier.verify(req, reloaded, Date.now())).status).toBe('valid');
    expect(verifier.verifications).toBe(2);
    const withoutKey = compileSnapshot(snapshot.data, { source: 'test' });
    expect(await verifier.verify(req, withoutKey, Date.now())).toMatchObject({
      status: 'invalid',
      reason: 'UNKNOWN_KID',
    });
  });
});

describe('toCheckRequest', () => {
  it('lower-cases headers, splits path and query, reads the source address and raw header_map', () => {
    const r = toCheckRequest(
      {
        attributes: {
          source: { address: { socket_address: { address: '203.0.113.9' } } },
          request: {
            http: {
              id: 'envoy-id',
              method: 'post',
              host: 'api.example.com',
              path: '/p/v1/x?a=1&a=2&b=%20c#frag',
              header_map: { headers: [{ key: 'X-Thing', raw_value: Buffer.from('v') }] },
            },
          },
          context_extensions: { api: 'p-v1' },
        },
      },
      42,
    );
    expect(r).toMatchObject({
      requestId: 'envoy-id',
      method: 'POST',
      host: 'api.example.com',
      path: '/p/v1/x',
      headers: { 'x-thing': 'v' },
      clientIp: '203.0.113.9',
      contextExtensions: { api: 'p-v1' },
      receivedAt: 42,
    });
    expect(r.query.get('a')).toEqual(['1', '2']);
    expect(r.query.get('b')).toEqual([' c']);
  });

  it('never throws on an empty request', () => {
    expect(toCheckRequest({}, 0)).toMatchObject({ path: '/', method: 'GET', clientIp: null });
  });
});

describe('decide with OAuth2-style credentials (application by consumer key)', () => {
  const snap = compileSnapshot(
    {
      ...snapshot.data,
      keyMappings: [{ consumerKey: 'ck-1', keyManager: 'Resident Key Manager', application: 'bronze' }],
    },
    { source: 'test' },
  );
  const base = cred('bronze');

  it('resolves the application through the key mappings', () => {
    const d = decide(
      {
        request: request('/p/v1/x'),
        credential: {
          ...base,
          type: 'oauth2-jwt',
          application: { by: 'consumer-key', consumerKey: 'ck-1', keyManager: 'Resident Key Manager' },
        },
      },
      snap,
      new ManualClock(),
      { throttle: new ThrottleState() },
    );
    expect(d).toMatchObject({
      kind: 'allow',
      match: { application: { name: 'bronze' }, credentialType: 'oauth2-jwt' },
    });
  });

  it('finds the subscription when the application uuid differs from its id', () => {
    const withUuid = compileSnapshot(
      {
        ...snapshot.data,
        applications: [{ name: 'bronze', uuid: '7d1c6a7e-0000-4000-8000-000000000001' }],
        subscriptions: [{ application: 'bronze', api: 'p-v1', tier: 'Bronze' }],
        keyMappings: [{ consumerKey: 'ck-1', keyManager: 'Resident Key Manager', application: 'bronze' }],
      },
      { source: 'test' },
    );
    const d = decide(
      {
        request: request('/p/v1/x'),
        credential: {
          ...base,
          type: 'oauth2-jwt',
          application: { by: 'consumer-key', consumerKey: 'ck-1', keyManager: 'Resident Key Manager' },
        },
      },
      withUuid,
      new ManualClock(),
      { throttle: new ThrottleState() },
    );
    expect(d).toMatchObject({
      kind: 'allow',
      match: { application: { name: 'bronze' }, subscriptionTier: 'Bronze' },
    });
  });

  it('an unknown consumer key is 401 900901', () => {
    const d = decide(
      {
        request: request('/p/v1/x'),
        credential: {
          ...base,
          type: 'oauth2-jwt',
          application: { by: 'consumer-key', consumerKey: 'nope', keyManager: 'Resident Key Manager' },
        },
      },
      snap,
      new ManualClock(),
      { throttle: new ThrottleState() },
    );
    expect(d).toMatchObject({ kind: 'unauthenticated', code: 900901, reason: 'APPLICATION_UNKNOWN' });
  });
  it('a revoked opaque token (looked up by its digest) is 401 900901 with an invalid_token challenge', () => {
    const revocations = new RevocationStore();
    const opaque = (token: string): ValidCredential => ({
      ...base,
      type: 'oauth2-opaque',
      jti: null,
      application: { by: 'consumer-key', consumerKey: 'ck-1', keyManager: 'Resident Key Manager' },
      tokenDigest: tokenDigest(token),
    });
    const run = (token: string) =>
      decide({ request: request('/p/v1/x'), credential: opaque(token) }, snap, new ManualClock(), {
        throttle: new ThrottleState(),
        revocations,
      });
    expect(run('opaque-a').kind).toBe('allow');
    revocations.apply(revocation({ kind: 'token', value: tokenDigest('opaque-a'), expiresAt: null }));
    expect(run('opaque-a')).toMatchObject({
      kind: 'unauthenticated',
      httpStatus: 401,
      code: 900901,
      reason: 'CREDENTIAL_REVOKED',
      headers: {
        'www-authenticate': expect.stringMatching(/^Bearer realm="mesh-apim", error="invalid_token"/),
      },
    });
    // Another token of the same application is untouched.
    expect(run('opaque-b').kind).toBe('allow');
  });
});

describe('throttle counters: unambiguous keys, live counters kept, clients per /64', () => {
  const names = compileSnapshot(
    {
      apis: [{ name: 'p', version: 'v1', context: '/p', resources: [{ method: 'GET', path: '/*' }] }],
      applications: [
        { name: 'acme', tier: '10PerMin' },
        { name: 'acme:eu', tier: '10PerMin' },
      ],
      subscriptions: [
        { application: 'acme', api: 'p-v1', tier: 'Unlimited' },
        { application: 'acme:eu', api: 'p-v1', tier: 'Unlimited' },
      ],
    },
    { source: 'test' },
  );
  const as = (app: string, subject: string): ValidCredential => ({ ...cred(app), subject });

  it('application acme with user eu:orders and application acme:eu with user orders count apart', () => {
    const clock = new ManualClock();
    const state = { throttle: new ThrottleState() };
    const run = (app: string, subject: string) =>
      decide({ request: request('/p/v1/x'), credential: as(app, subject) }, names, clock, state);
    for (let i = 0; i < 10; i++) expect(run('acme', 'eu:orders').kind).toBe('allow');
    expect(run('acme', 'eu:orders').kind).toBe('rate-limited');
    // Joined with ':' both were `app:acme:eu:orders`: one customer throttled the other.
    expect(run('acme:eu', 'orders').kind).toBe('allow');
  });

  it('with the bound reached, a flood of new clients never resets a live counter; newcomers are refused 429', () => {
    const clock = new ManualClock();
    const state = { throttle: new ThrottleState(8) };
    for (let i = 0; i < 9; i++) expect(countAllowed('small', 1, clock, state).allowed).toBe(1);
    const open = (ip: string) =>
      decide(
        { request: request('/p/v1/open', ip), credential: { status: 'missing', type: 'none' } },
        snapshot,
        clock,
        state,
      );
    const flood = Array.from({ length: 50 }, (_, i) => open(`10.7.${i >> 8}.${i & 255}`));
    expect(flood.filter((d) => d.kind === 'allow')).toHaveLength(4); // half of the bound
    expect(flood.at(-1)).toMatchObject({ kind: 'rate-limited', reason: 'THROTTLE_CAPACITY_EXCEEDED' });
    expect(flood.at(-1)).toHaveProperty('headers.retry-after');
    expect(state.throttle.refused).toBe(46);
    // The subscriber's used quota survived the flood: one left of its 10, then 900803.
    expect(countAllowed('small', 2, clock, state)).toMatchObject({
      allowed: 1,
      last: { kind: 'rate-limited', code: 900803 },
    });
    // Once the windows end, room comes back.
    clock.advance(60_000);
    expect(open('10.9.9.9').kind).toBe('allow');
  });

  it('Unauthenticated tier: addresses rotated inside one IPv6 /64 are one client; another /64 is another', () => {
    const clock = new ManualClock();
    const state = { throttle: new ThrottleState() };
    const open = (ip: string) =>
      decide(
        { request: request('/p/v1/open', ip), credential: { status: 'missing', type: 'none' } },
        snapshot,
        clock,
        state,
      );
    for (let i = 0; i < 500; i++)
      expect(open(`2001:db8:1:2:${i.toString(16)}::${(i * 7).toString(16)}`).kind).toBe('allow');
    expect(open('2001:db8:1:2:ffff:ffff:ffff:ffff')).toMatchObject({ kind: 'rate-limited', code: 900804 });
    expect(open('2001:0DB8:0001:0002::1').kind).toBe('rate-limited');
    expect(open('2001:db8:1:3::1').kind).toBe('allow');
  });
});
