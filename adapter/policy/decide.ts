/**
 * The pure decision: request + verified credential + snapshot + clock + explicit throttle state ->
 * Decision. Synchronous, no I/O; the only side effect is counting in the ThrottleState it is given.
 *
 * A short run of named steps, in WSO2's order: route, credential, revocation, application,
 * restrictions, scopes, subscription, throttle. Each is a module-level function that returns the
 * value the next step goes on with, or the check's final Decision (decision.ts isFinal); `match`
 * collects what the check established for the Decision. Nothing is allocated here per check beyond
 * what the steps build (no closures, no list of steps): the check path runs in tens of µs.
 */
import type { CredentialResult } from '../credentials/types.ts';
import { type CheckRequest, type Clock, type Decision, emptyMatch } from '../domain.ts';
import type { RevocationLookup } from '../revocation/store.ts';
import { UNAUTHENTICATED_TIER } from '../snapshot/tiers.ts';
import type { Snapshot } from '../snapshot/types.ts';
import { application } from './application.ts';
import { credential } from './credential.ts';
import { isFinal, MISSING_STRIP } from './decision.ts';
import { restrictions } from './restrictions.ts';
import { revocation } from './revocation.ts';
import { resolveTarget, routeApi, routeResource } from './route.ts';
import { scopes } from './scopes.ts';
import { subscription } from './subscription.ts';
import { subscriptionLevels, type ThrottleState, throttle, unauthenticatedLevels } from './throttle.ts';

export interface DecideInput {
  request: CheckRequest;
  credential: CredentialResult;
}

/** Mutable state decide() reads and counts in, passed explicitly so decide stays testable. */
export interface DecideState {
  throttle: ThrottleState;
  /**
   * Dynamic revocations (revocation feed: jti, consumer key, user, opaque token); the snapshot's
   * static list is checked too.
   */
  revocations?: RevocationLookup;
}

export function decide(input: DecideInput, snapshot: Snapshot, clock: Clock, state: DecideState): Decision {
  const { request } = input;
  const now = clock.now();
  const match = emptyMatch();

  const target = resolveTarget(request, snapshot);
  const api = routeApi(target, match);
  if (isFinal(api)) return api;
  const resource = routeResource(request, api, target, match);
  if (isFinal(resource)) return resource;

  // Even with no usable credential the API key carriers go: `?apikey=&apikey=<key>` reads as
  // missing (the first value is empty) but must not carry the second value upstream.
  const strip = input.credential.status === 'missing' ? MISSING_STRIP : input.credential.strip;

  if (resource.auth === 'none') {
    match.subscriptionTier = UNAUTHENTICATED_TIER;
    const levels = unauthenticatedLevels(request, snapshot, api, resource);
    return throttle(request, levels, match, now, state.throttle, strip);
  }

  const cred = credential(
    request,
    input.credential,
    snapshot,
    api,
    resource,
    match,
    now,
    state.throttle,
    strip,
  );
  if (isFinal(cred)) return cred;
  const refused = revocation(snapshot, cred, match, state.revocations);
  if (refused) return refused;
  const app = application(snapshot, cred, match);
  if (isFinal(app)) return app;
  const excluded = restrictions(request, cred, match) ?? scopes(resource, cred, match);
  if (excluded) return excluded;
  const sub = subscription(snapshot, api, app, cred, match);
  if (isFinal(sub)) return sub;

  const levels = subscriptionLevels(snapshot, api, resource, app, sub, cred);
  return throttle(request, levels, match, now, state.throttle, strip);
}
