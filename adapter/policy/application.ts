/**
 * Step application: the application a valid credential belongs to. OAuth2 tokens name it by
 * consumer key (the snapshot's key mappings); API keys carry its id, and their own claims stand in
 * for an application the snapshot does not list (keys API Manager issued for apps we do not pull).
 */
import type { ValidCredential } from '../credentials/types.ts';
import type { ApplicationInfo, MatchInfo } from '../domain.ts';
import { invalidTokenHeaders } from '../response.ts';
import { keyMappingKey, type Snapshot } from '../snapshot/types.ts';
import { deny, type Step } from './decision.ts';

function resolveApplication(snapshot: Snapshot, cred: ValidCredential): ApplicationInfo | null {
  const ref = cred.application;
  if (ref.by === 'consumer-key') {
    const mapping = snapshot.keyMappings.get(keyMappingKey(ref.keyManager, ref.consumerKey));
    const app = mapping ? snapshot.applications.get(mapping.applicationId) : undefined;
    // Subscriptions are keyed by the application's id (not its WSO2 uuid, which may differ).
    return app ? { id: app.id, name: app.name, owner: app.owner, tier: app.tier } : null;
  }
  const app =
    snapshot.applications.get(ref.id) ?? (ref.altId ? snapshot.applications.get(ref.altId) : undefined);
  if (app) return { id: app.id, name: app.name, owner: app.owner, tier: app.tier };
  return { id: ref.id, name: ref.name ?? ref.id, owner: ref.owner ?? '', tier: ref.tier ?? 'Unlimited' };
}

/** The credential's application (also in `match`), or 401 900901 for a consumer key no application has. */
export function application(
  snapshot: Snapshot,
  cred: ValidCredential,
  match: MatchInfo,
): Step<ApplicationInfo> {
  const app = resolveApplication(snapshot, cred);
  if (!app)
    return deny('INVALID_CREDENTIALS', 'APPLICATION_UNKNOWN', match, {
      headers: invalidTokenHeaders(cred.type),
    });
  match.application = app;
  return app;
}
