/**
 * Fuzzing and adversarial input against decide(), the CheckService and the running server over
 * loopback (test/support/fuzz-run.ts). Bounded here (FUZZ_RUNS scales it); `npm run bench -- fuzz`
 * runs the same properties for long.
 */
import * as fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckClient } from '../../adapter/check-client.ts';
import { API_KEY_DEFAULTS, ApiKeyVerifier } from '../../adapter/credentials/apikey.ts';
import { clientBucket, throttleKey } from '../../adapter/policy/throttle.ts';
import { toCheckRequest } from '../../adapter/translate.ts';
import { TRANSPORTS } from '../support/adapter.ts';
import {
  assertWellFormed,
  explainAllow,
  ipv6In64Arb,
  oracleFromYaml,
  spellingArb,
  templateMatches,
} from '../support/fuzz.ts';
import { type FuzzHarness, runFuzz, startFuzzHarness } from '../support/fuzz-run.ts';

const SCALE = Number(process.env.FUZZ_SCALE ?? 1);

describe.each(TRANSPORTS)('fuzz: adversarial CheckRequests (%s transport)', (transport) => {
  let hx: FuzzHarness;
  beforeAll(async () => {
    hx = await startFuzzHarness(transport);
  });
  afterAll(async () => {
    await hx?.close();
  });

  it('the oracle itself: allows what the policy file grants and nothing else', () => {
    const o = oracleFromYaml(`
apis:
  - { id: a-v1, version: v1, context: /a, resources: [{ method: GET, path: '/x/{id}' }, { method: GET, path: /open, auth: none }] }
applications: [{ name: in }, { name: out }]
subscriptions: [{ application: in, api: a-v1 }]
`);
    const req = { method: 'GET', path: '/a/v1/x/1', ctxApi: undefined, clientIp: null };
    const cred = (application: string) => [{ application, keyType: 'PRODUCTION', claimContexts: [] }];
    expect(explainAllow(o, req, cred('in'), 'in')).not.toBeNull();
    expect(explainAllow(o, req, cred('out'), 'out')).toBeNull();
    expect(explainAllow(o, req, [], undefined)).toBeNull();
    // Dot segments are resolved (Istio BASE); what stays ambiguous or leaves the API is not explained.
    expect(explainAllow(o, { ...req, path: '/a/v1/x/../x/1' }, cred('in'), 'in')).not.toBeNull();
    expect(explainAllow(o, { ...req, path: '/a/v1/x/%2e%2e/x/1' }, cred('in'), 'in')).toBeNull();
    expect(explainAllow(o, { ...req, path: '/a/v1/x/1%2f2' }, cred('in'), 'in')).toBeNull();
    expect(explainAllow(o, { ...req, path: '/a/v1/x/1;a=b' }, cred('in'), 'in')).toBeNull();
    expect(explainAllow(o, { ...req, path: '/b/v1/../../a/v1/x/1' }, cred('in'), 'in')).toBeNull();
    expect(explainAllow(o, { ...req, path: '/a/v1/%78/1' }, cred('in'), 'in')).not.toBeNull();
    expect(explainAllow(o, { ...req, path: '/a/v1/open' }, [], undefined)).toBe('unsecured resource');
    expect(templateMatches('/x/{id}', '/x/')).toBe(false);
    expect(templateMatches('/x/{id}', '/x/1/')).toBe(true);
    expect(() => assertWellFormed({ status: { code: 7 } })).toThrow(/without denied_response/);
  });

  it('the forged-credential suite end to end: every forged key is denied by the running server', async () => {
    for (const [name, token, code] of hx.forged) {
      for (const where of ['header', 'query'] as const) {
        const res = await hx.t.client.check(
          where === 'header'
            ? { path: '/petstore/v1/pets', headers: { apikey: token } }
            : { path: `/petstore/v1/pets?apikey=${encodeURIComponent(token)}` },
        );
        expect({ name, where, allowed: res.allowed, status: res.httpStatus, code: res.body?.code }).toEqual({
          name,
          where,
          allowed: false,
          status: 401,
          code,
        });
      }
    }
    // Control: the genuine key the forgeries were derived from is allowed.
    expect(
      (await hx.t.client.check({ path: '/petstore/v1/pets', headers: { apikey: hx.pool[0]! } })).allowed,
    ).toBe(true);
  });

  it('random and malformed requests: no crash, well-formed answers, no allow the policy does not grant', async () => {
    const counts = await runFuzz(hx, {
      decideRuns: Math.round(6000 * SCALE),
      serviceRuns: Math.round(4000 * SCALE),
      grpcRuns: Math.round(1500 * SCALE),
    });
    expect(counts.decide + counts.service + counts.grpc).toBe(Math.round(11500 * SCALE));
    // The generators reach both outcomes (a property that only ever sees denials proves little).
    expect(counts.allowed).toBeGreaterThan(50);
    expect(counts.denied).toBeGreaterThan(1000);
    // Nothing was answered through the failure mode: odd input is a decision, not an internal error.
    const internal = (await hx.t.adapter.metrics.internalErrors.get()).values.reduce(
      (n, v) => n + v.value,
      0,
    );
    expect(internal).toBe(0);
    // And the server still answers a plain good request.
    expect(
      (await hx.t.client.check({ path: '/petstore/v1/pets', headers: { apikey: hx.pool[0]! } })).allowed,
    ).toBe(true);
  }, 120_000);

  it('respelled keys: every spelling decides as the key does, is one cache entry, and is revoked with it', async () => {
    const check = (token: string, where: 'header' | 'query') =>
      hx.t.adapter.check.check(
        CheckClient.request(
          where === 'header'
            ? { path: '/petstore/v1/pets', headers: { apikey: token } }
            : { path: `/petstore/v1/pets?apikey=${encodeURIComponent(token)}` },
        ) as never,
      );
    const allowed = async (token: string, where: 'header' | 'query') =>
      ((await check(token, where)).status as { code: number }).code === 0;
    const key = await hx.t.apiKey('demo-app');
    expect(await allowed(key, 'header')).toBe(true);
    const runs = Math.round(300 * SCALE);
    await fc.assert(
      fc.asyncProperty(spellingArb(key, [' ', '\t']), async (s) => (await allowed(s, 'header')) === true),
      { numRuns: runs },
    );
    await fc.assert(
      fc.asyncProperty(spellingArb(key), async (s) => (await allowed(s, 'query')) === true),
      { numRuns: runs },
    );
    // At the verifier: one RSA verification and one cache entry for all the spellings.
    const verifier = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const snapshot = hx.t.adapter.store.current()!;
    await fc.assert(
      fc.asyncProperty(spellingArb(key), async (s) => {
        const req = toCheckRequest(
          { attributes: { request: { http: { path: '/', headers: { apikey: s } } } } },
          0,
        );
        return (await verifier.verify(req, snapshot, hx.t.clock.now())).status === 'valid';
      }),
      { numRuns: runs },
    );
    expect(verifier.verifications).toBe(1);
    expect(verifier.cacheStats.entries).toBe(1);
    // Revoked by signature (as WSO2's revokedjwt names it): no spelling gets through.
    hx.t.adapter.revocations.add(key.slice(key.lastIndexOf('.') + 1), null);
    await fc.assert(
      fc.asyncProperty(
        spellingArb(key),
        fc.constantFrom('header', 'query') as fc.Arbitrary<'header' | 'query'>,
        async (s, where) => {
          const spelled = where === 'header' ? s.replace(/[\n\f\r]/g, ' ') : s;
          return (await allowed(spelled, where)) === false;
        },
      ),
      { numRuns: runs },
    );
  }, 120_000);

  it('throttle keys are injective over arbitrary names; client buckets never throw and fold each /64', () => {
    const parts = fc.array(fc.string({ maxLength: 8, unit: fc.constantFrom('a', ':', '1', '2', '|', '') }), {
      minLength: 1,
      maxLength: 3,
    });
    fc.assert(
      fc.property(parts, parts, (a, b) =>
        JSON.stringify(a) === JSON.stringify(b)
          ? true
          : throttleKey('sub', ...a) !== throttleKey('sub', ...b),
      ),
      { numRuns: Math.round(5000 * SCALE) },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => typeof clientBucket(s) === 'string'),
      { numRuns: Math.round(5000 * SCALE) },
    );
    const prefix = [0x2001, 0xdb8, 0x42, 0x7];
    fc.assert(
      fc.property(ipv6In64Arb(prefix), (a) => clientBucket(a) === '2001:db8:42:7::/64'),
      { numRuns: Math.round(5000 * SCALE) },
    );
  });
});
