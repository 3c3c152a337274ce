/**
 * Step subscription: the application's subscription to the API (the snapshot's, or on an API that
 * trusts claims the key's subscribedAPIs entry) and its state as WSO2 enforces it.
 */
import type { ValidCredential } from '../credentials/types.ts';
import type { ApplicationInfo, MatchInfo } from '../domain.ts';
import { type ApiEntry, type Snapshot, type SubscriptionEntry, subscriptionKey } from '../snapshot/types.ts';
import { deny, type Step } from './decision.ts';

function findSubscription(
  snapshot: Snapshot,
  api: ApiEntry,
  app: ApplicationInfo,
  cred: ValidCredential,
): SubscriptionEntry | null {
  const sub = snapshot.subscriptions.get(subscriptionKey(app.id, api.info.id));
  if (sub) return sub;
  if (api.trustClaims && cred.subscribedApis) {
    // WSO2 puts the versioned context in the claim (e.g. /petstore/v1).
    const claim = cred.subscribedApis.find(
      (s) => s.context === api.versionedContext && s.version === api.info.version,
    );
    if (claim) {
      return {
        applicationId: app.id,
        apiId: api.info.id,
        tier: claim.subscriptionTier || 'Unlimited',
        state: 'UNBLOCKED',
      };
    }
  }
  return null;
}

/** The subscription (its tier also in `match`), or the 401/403 of a missing or inactive one. */
export function subscription(
  snapshot: Snapshot,
  api: ApiEntry,
  app: ApplicationInfo,
  cred: ValidCredential,
  match: MatchInfo,
): Step<SubscriptionEntry> {
  const sub = findSubscription(snapshot, api, app, cred);
  if (!sub) return deny('RESOURCE_FORBIDDEN', 'NOT_SUBSCRIBED', match);
  match.subscriptionTier = sub.tier;
  switch (sub.state) {
    case 'BLOCKED':
      return deny('SUBSCRIPTION_BLOCKED', 'SUBSCRIPTION_BLOCKED', match);
    case 'PROD_ONLY_BLOCKED':
      if (cred.keyType === 'PRODUCTION')
        return deny('SUBSCRIPTION_BLOCKED', 'SUBSCRIPTION_PROD_ONLY_BLOCKED', match);
      return sub;
    case 'ON_HOLD':
      return deny('SUBSCRIPTION_INACTIVE', 'SUBSCRIPTION_ON_HOLD', match);
    case 'REJECTED':
      return deny('SUBSCRIPTION_INACTIVE', 'SUBSCRIPTION_REJECTED', match);
    default:
      return sub;
  }
}
