/** The standalone control plane of the emission benches: Unlimited tiers, so every check is allowed and emits. */
export const BENCH_STANDALONE = `apis:
  - { id: petstore-v1, name: petstore, version: v1, context: /petstore, provider: admin, lifecycle: PUBLISHED, policy: Unlimited,
      resources: [{ method: GET, path: /pets }] }
applications:
  - { name: demo-app, owner: demo, tier: Unlimited }
subscriptions:
  - { application: demo-app, api: petstore-v1, tier: Unlimited, state: UNBLOCKED }
`;
