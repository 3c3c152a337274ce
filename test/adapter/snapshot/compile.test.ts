import { describe, expect, it } from 'vitest';
import { SnapshotError } from '../../../adapter/errors.ts';
import {
  compileSnapshot,
  compileTemplate,
  parseControlPlaneData,
} from '../../../adapter/snapshot/compile.ts';

const api = { name: 'a', version: 'v1', context: '/a', resources: [{ method: 'GET', path: '/*' }] };

describe('compileSnapshot', () => {
  it('builds in WSO2 default tiers', () => {
    const s = compileSnapshot({}, { source: 'test' });
    const perMin = (
      m: Map<string, { quota: { requestCount: number | null; windowMs: number } }>,
      n: string,
    ) => {
      const p = m.get(n)!;
      return p.quota.requestCount === null ? null : (p.quota.requestCount * 60_000) / p.quota.windowMs;
    };
    const sub = s.subscriptionPolicies as never;
    expect(['Gold', 'Silver', 'Bronze', 'Unlimited', 'Unauthenticated'].map((n) => perMin(sub, n))).toEqual([
      5000,
      2000,
      1000,
      null,
      500,
    ]);
    const app = s.applicationPolicies as never;
    expect(['50PerMin', '20PerMin', '10PerMin', 'Unlimited'].map((n) => perMin(app, n))).toEqual([
      50,
      20,
      10,
      null,
    ]);
    const apiP = s.apiPolicies as never;
    expect(['50KPerMin', '20KPerMin', '10KPerMin'].map((n) => perMin(apiP, n))).toEqual([
      50_000, 20_000, 10_000,
    ]);
  });

  it('indexes APIs by id and versioned context ({version} templates too)', () => {
    const s = compileSnapshot(
      { apis: [api, { ...api, name: 'b', context: '/b/{version}/x' }] },
      { source: 'test' },
    );
    expect(s.apis.has('a-v1')).toBe(true);
    expect(s.apisByContext.get('/b/v1/x')?.info.id).toBe('b-v1');
  });

  it.each([
    [{ apis: [{ ...api, resources: [] }] }, /apis\[0\]\.resources: an API needs at least one resource/],
    [{ apis: [{ ...api, context: 'a' }] }, /apis\[0\]\.context/],
    [{ apis: [{ ...api, colour: 'red' }] }, /apis\[0\]/],
    [
      { subscriptions: [{ application: 'x', api: 'a-v1' }] },
      /subscriptions\[0\]\.application: unknown application "x"/,
    ],
    [
      { apis: [api], applications: [{ name: 'x', tier: 'Nope' }] },
      /applications\[0\]\.tier: unknown application policy/,
    ],
    [{ apis: [{ ...api, policy: 'Nope' }] }, /apis\[0\]\.policy: unknown API policy/],
    [{ keyIssuers: [{ name: 'k', publicKey: 'not a pem' }] }, /keyIssuers\[0\]: cannot read the key/],
    [{ keyIssuers: [{ name: 'k' }] }, /exactly one of certificate, publicKey, jwks/],
  ])('rejects bad data naming the path: %#', (data, message) => {
    const run = () => compileSnapshot(parseControlPlaneData(data, 'f.yaml'), { source: 'f.yaml' });
    expect(run).toThrow(SnapshotError);
    expect(run).toThrow(message);
  });

  it('checks every reference before giving up: one error carries all problems, first one in the message', () => {
    const data = {
      apis: [{ ...api, policy: 'NoApiPolicy' }, api],
      applications: [{ name: 'x', tier: 'NoAppPolicy' }],
      subscriptions: [
        { application: 'ghost', api: 'a-v1' },
        { application: 'x', api: 'nowhere-v1', tier: 'NoSubPolicy' },
      ],
    };
    let err: unknown;
    try {
      compileSnapshot(parseControlPlaneData(data, 'f.yaml'), { source: 'f.yaml' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SnapshotError);
    const e = err as SnapshotError;
    expect(e.problems.map((p) => `${p.location}: ${p.problem}`)).toEqual([
      'f.yaml: apis[0].policy: unknown API policy "NoApiPolicy"',
      expect.stringMatching(/^f\.yaml: apis\[1\]: API a-v1 \(\/a\/v1\) is already declared/),
      'f.yaml: applications[0].tier: unknown application policy "NoAppPolicy"',
      'f.yaml: subscriptions[0].application: unknown application "ghost"',
      'f.yaml: subscriptions[1].api: unknown API "nowhere-v1"',
      'f.yaml: subscriptions[1].tier: unknown subscription policy "NoSubPolicy"',
    ]);
    expect(e.location).toBe('f.yaml: apis[0].policy');
    expect(e.message).toMatch(/^f\.yaml: apis\[0\]\.policy: unknown API policy "NoApiPolicy" \(and 5 more: /);
  });
});

describe('compileTemplate', () => {
  it.each([
    ['/pets', '/pets', true],
    ['/pets', '/pets/', true],
    ['/pets', '/pets/1', false],
    ['/pets/{id}', '/pets/1', true],
    ['/pets/{id}', '/pets/1/x', false],
    ['/pets/*', '/pets', true],
    ['/pets/*', '/pets/1/x', true],
    ['/pets/*', '/petsx', false],
    ['/*', '/anything/at/all', true],
    ['/a.b', '/aXb', false],
  ])('%s matches %s: %s', (template, path, expected) => {
    expect(compileTemplate(template).pattern.test(path)).toBe(expected);
  });
});
