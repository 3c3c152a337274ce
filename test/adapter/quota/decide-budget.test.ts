/** decide() with a cluster budget (adapter/quota): the lease caps the local count, the denial says where it tripped. */
import { describe, expect, it } from 'vitest';
import type { ValidCredential } from '../../../adapter/credentials/types.ts';
import type { CheckRequest } from '../../../adapter/domain.ts';
import { decide } from '../../../adapter/policy/decide.ts';
import { ThrottleState } from '../../../adapter/policy/throttle.ts';
import { QuotaLeases } from '../../../adapter/quota/leases.ts';
import { compileSnapshot } from '../../../adapter/snapshot/compile.ts';
import { ManualClock } from '../../support/adapter.ts';

const snapshot = compileSnapshot(
  {
    apis: [{ name: 'p', version: 'v1', context: '/p', resources: [{ method: 'GET', path: '/*' }] }],
    applications: [{ name: 'bronze' }],
    subscriptions: [{ application: 'bronze', api: 'p-v1', tier: 'Bronze' }],
  },
  { source: 'test' },
);

const request: CheckRequest = {
  requestId: 'r',
  method: 'GET',
  host: 'h',
  path: '/p/v1/x',
  query: new Map(),
  rawQueryNames: new Map(),
  headers: {},
  clientIp: '10.0.0.1',
  contextExtensions: {},
  receivedAt: 0,
};

const credential: ValidCredential = {
  status: 'valid',
  type: 'apikey',
  application: { by: 'id', id: 'bronze' },
  keyType: 'PRODUCTION',
  scopes: [],
  jti: 'j',
  subject: 'u',
  issuer: null,
  issuedAt: null,
  expiresAt: null,
  subscribedApis: null,
  tierInfo: null,
  restrictions: { permittedIPs: null, permittedReferers: null },
  strip: { headers: ['apikey'], queryParams: ['apikey'] },
};

function leases(expectedInstances: number) {
  return new QuotaLeases({
    instanceId: 'a',
    boot: 'b',
    intervalMs: 250,
    leaseTimeoutMs: 2000,
    localBelowMs: 5000,
    expectedInstances,
    fullEveryMs: 10_000,
  });
}

function run(l: QuotaLeases, n: number, clock: ManualClock) {
  const state = { throttle: new ThrottleState(1000, { budget: l }) };
  let allowed = 0;
  let last = null;
  for (let i = 0; i < n; i++) {
    last = decide({ request, credential }, snapshot, clock, state);
    if (last.kind === 'allow') allowed++;
  }
  return { allowed, last };
}

describe('decide() on a cluster budget', () => {
  it('alone and in sync: the whole Bronze quota, denial on the cluster count', () => {
    const clock = new ManualClock(120_000);
    const l = leases(0);
    l.start(clock.now());
    l.markCaughtUp();
    l.published(clock.now());
    const { allowed, last } = run(l, 1005, clock);
    expect(allowed).toBe(1000);
    expect(last).toMatchObject({ kind: 'rate-limited', code: 900804, throttleScope: 'cluster' });
  });

  it('not caught up yet: the fallback share of 4 expected instances, denial marked fallback', () => {
    const clock = new ManualClock(120_000);
    const l = leases(4);
    l.start(clock.now());
    const { allowed, last } = run(l, 300, clock);
    expect(allowed).toBe(250);
    expect(last).toMatchObject({ kind: 'rate-limited', throttleScope: 'fallback' });
  });

  it('without a budget the denial carries no scope (unchanged decisions)', () => {
    const clock = new ManualClock(120_000);
    const state = { throttle: new ThrottleState(1000) };
    let last = null;
    for (let i = 0; i < 1001; i++) last = decide({ request, credential }, snapshot, clock, state);
    expect(last).toMatchObject({ kind: 'rate-limited', code: 900804 });
    expect(last).not.toHaveProperty('throttleScope');
  });
});
