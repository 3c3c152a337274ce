/** WSO2 API Manager's default throttling tiers, built in so a fresh install behaves like WSO2's. */
import type { z } from 'zod';
import type { SimplePolicyData, SubscriptionPolicyData } from './model.ts';

type Sub = z.infer<typeof SubscriptionPolicyData>;
type Simple = z.infer<typeof SimplePolicyData>;

const perMin = (name: string, requestCount: number | null): Simple => ({
  name,
  requestCount,
  unitTime: 1,
  timeUnit: 'min',
});

export const DEFAULT_SUBSCRIPTION_POLICIES: readonly Sub[] = [
  { ...perMin('Gold', 5000), stopOnQuotaReach: true },
  { ...perMin('Silver', 2000), stopOnQuotaReach: true },
  { ...perMin('Bronze', 1000), stopOnQuotaReach: true },
  { ...perMin('Unlimited', null), stopOnQuotaReach: true },
  { ...perMin('Unauthenticated', 500), stopOnQuotaReach: true },
];

export const DEFAULT_APPLICATION_POLICIES: readonly Simple[] = [
  perMin('50PerMin', 50),
  perMin('20PerMin', 20),
  perMin('10PerMin', 10),
  perMin('Unlimited', null),
];

export const DEFAULT_API_POLICIES: readonly Simple[] = [
  perMin('50KPerMin', 50_000),
  perMin('20KPerMin', 20_000),
  perMin('10KPerMin', 10_000),
  perMin('Unlimited', null),
];

/** Tier applied to unsecured resources (per client IP), as WSO2 does. */
export const UNAUTHENTICATED_TIER = 'Unauthenticated';
