/** Policy files the benchmarks load (shared by bench/servers.ts, check.bench.ts, suite.ts, standalone-load.ts). */
import { writeFileSync } from 'node:fs';
import type { RequestContext } from '../events/request-attributes.ts';

// Quotas high enough never to trip, so every level is counted but every request is allowed.
// other-app is unsubscribed (the mixed workload's denials); bench-ck maps to bench-app (OAuth tokens).
export const BENCH_POLICIES = `
apis:
  - id: petstore-v1
    name: petstore
    version: v1
    context: /petstore
    policy: BenchApi
    resources:
      - { method: GET, path: /pets }
      - { method: GET, path: '/pets/{id}', policy: BenchApi }
applications:
  - { name: bench-app, tier: BenchApp }
  - { name: other-app, tier: BenchApp }
keyMappings:
  - { consumerKey: bench-ck, application: bench-app }
subscriptions:
  - { application: bench-app, api: petstore-v1, tier: BenchSub }
policies:
  subscription:
    - { name: BenchSub, requestCount: 1000000000, burst: { limit: 1000000000, unit: sec } }
  application:
    - { name: BenchApp, requestCount: 1000000000 }
  api:
    - { name: BenchApi, requestCount: 1000000000 }
`;

/** A standalone file with n applications, n subscriptions and n key mappings (start-up and memory at scale). */
export function writeBigPolicies(file: string, n: number): void {
  const lines = [
    'apis:',
    '  - { id: petstore-v1, name: petstore, version: v1, context: /petstore, resources: [{ method: GET, path: /pets }, { method: GET, path: "/pets/{id}" }] }',
    'applications:',
    '  - { name: bench-app, tier: Unlimited }',
  ];
  for (let i = 0; i < n; i++) lines.push(`  - { name: app-${i}, tier: Unlimited }`);
  lines.push('subscriptions:', '  - { application: bench-app, api: petstore-v1, tier: Unlimited }');
  for (let i = 0; i < n; i++) lines.push(`  - { application: app-${i}, api: petstore-v1, tier: Gold }`);
  lines.push('keyMappings:');
  for (let i = 0; i < n; i++) lines.push(`  - { consumerKey: ck-${i}, application: app-${i} }`);
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/** The RequestContext the check builds for BENCH_POLICIES' allowed request (emission and ALS benches). */
export const ALLOWED_CONTEXT: RequestContext = {
  requestId: 'r',
  receivedAt: '2026-11-26T04:20:00.123Z',
  api: {
    id: 'petstore-v1',
    name: 'petstore',
    version: 'v1',
    context: '/petstore/v1',
    creator: 'admin',
    creatorTenantDomain: 'carbon.super',
    type: 'HTTP',
  },
  resource: { template: '/pets', method: 'GET' },
  application: { id: 'demo-app', name: 'demo-app', owner: 'demo', tier: 'Unlimited' },
  subscriptionTier: 'Gold',
  keyType: 'PRODUCTION',
  credentialType: 'apikey',
  userName: 'demo',
  decision: { kind: 'allow', httpStatus: 200, code: null, reason: 'OK', throttleKey: null, overQuota: false },
  client: { ip: '10.1.2.3', userAgent: 'curl/8.5.0', referer: null },
  request: { method: 'GET', host: 'petstore.shop.svc.cluster.local', path: '/petstore/v1/pets' },
  adapterInstance: 'bench',
};
