/**
 * The pure decision: request + verified credential + snapshot + clock + explicit throttle state ->
 * Decision. Synchronous, no I/O; the only side effect is counting in the ThrottleState it is given.
 */
import { revokedSignatures } from './credentials/canonical.ts';
import { type ApiClientCertificate, verifyClientCertificate } from './credentials/mtls.ts';
import { ipPermitted, refererPermitted } from './credentials/restrictions.ts';
import type { CredentialResult, ValidCredential } from './credentials/types.ts';
import {
  ALL_IDENTITY_HEADERS,
  APIKEY_HEADER,
  APIKEY_QUERY,
  type ApplicationInfo,
  type CheckRequest,
  type Clock,
  type Decision,
  type DenyDecision,
  emptyMatch,
  IDENTITY_HEADERS,
  type MatchInfo,
  type RateLimitInfo,
} from './domain.ts';
import { normalizePath, type PathAmbiguity } from './path.ts';
import type { RevocationLookup } from './revocation/store.ts';
import { UNAUTHENTICATED_TIER } from './snapshot/tiers.ts';
import {
  type ApiEntry,
  keyMappingKey,
  type Quota,
  type ResourceEntry,
  type Snapshot,
  type SubscriptionEntry,
  subscriptionKey,
} from './snapshot/types.ts';
import { clientBucket, type ThrottleScope, type ThrottleState, throttleKey } from './throttle.ts';
import { WSO2_ERRORS, type Wso2ErrorName } from './wso2-errors.ts';

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

/** context_extensions key naming the API (its id or versioned context) for a route. */
export const API_CONTEXT_EXTENSION = 'api';

function deny(
  name: Wso2ErrorName,
  reason: string,
  match: MatchInfo,
  extra: {
    headers?: Record<string, string>;
    throttleKey?: string | null;
    description?: string;
    throttleScope?: ThrottleScope | undefined;
  } = {},
): Decision {
  const e = WSO2_ERRORS[name];
  return {
    kind: e.kind,
    httpStatus: e.httpStatus,
    code: e.code,
    message: e.message,
    description: extra.description ?? e.description,
    reason,
    match,
    throttleKey: extra.throttleKey ?? null,
    ...(extra.throttleScope ? { throttleScope: extra.throttleScope } : {}),
    headers: extra.headers ?? {},
  } as DenyDecision<typeof e.kind>;
}

function isBearer(type: string): boolean {
  return type === 'oauth2-jwt' || type === 'oauth2-opaque';
}

/** RFC 6750 section 3 challenge; no error attributes when the request carried no token. */
export function bearerChallenge(error?: string, description?: string, scopes?: readonly string[]): string {
  let challenge = 'Bearer realm="mesh-apim"';
  if (error) challenge += `, error="${error}"`;
  if (description) challenge += `, error_description="${description}"`;
  if (scopes?.length) challenge += `, scope="${scopes.join(' ')}"`;
  return challenge;
}

function invalidTokenHeaders(type: string): Record<string, string> {
  return isBearer(type)
    ? { 'www-authenticate': bearerChallenge('invalid_token', 'The access token is invalid') }
    : {};
}

function apiByPath(path: string, snapshot: Snapshot): ApiEntry | null {
  for (const ctx of snapshot.contextsByLength) {
    if (path === ctx || path.startsWith(`${ctx}/`)) return snapshot.apisByContext.get(ctx)!;
  }
  return null;
}

/** The API and the normalised path a request is matched on (adapter/path.ts). */
export interface Target {
  api: ApiEntry | null;
  /** Normalised path: what resources are matched on. */
  path: string;
  ambiguity: PathAmbiguity | null;
  /**
   * True when the raw path and its normalised form name different APIs (`/a/v1/../../b/v1/x`):
   * Envoy routed on the raw form, so the upstream is not the API this check would authorise.
   */
  contextMismatch: boolean;
}

// The credential verifiers (apiKeyHeader, per-API fail-open) and decide() all need the request's
// target: computed once per request and snapshot, not once per caller (it normalises the path).
const targets = new WeakMap<CheckRequest, { snapshot: Snapshot; target: Target }>();

export function resolveTarget(request: CheckRequest, snapshot: Snapshot): Target {
  const hit = targets.get(request);
  if (hit && hit.snapshot === snapshot) return hit.target;
  const target = computeTarget(request, snapshot);
  targets.set(request, { snapshot, target });
  return target;
}

function computeTarget(request: CheckRequest, snapshot: Snapshot): Target {
  const n = normalizePath(request.path);
  const named = request.contextExtensions[API_CONTEXT_EXTENSION];
  if (named) {
    const api = snapshot.apis.get(named) ?? snapshot.apisByContext.get(named) ?? null;
    return { api, path: n.path, ambiguity: n.ambiguity, contextMismatch: false };
  }
  const api = apiByPath(n.path, snapshot);
  const contextMismatch = n.path !== request.path && apiByPath(request.path, snapshot) !== api;
  return { api, path: n.path, ambiguity: n.ambiguity, contextMismatch };
}

export function resolveApi(request: CheckRequest, snapshot: Snapshot): ApiEntry | null {
  return resolveTarget(request, snapshot).api;
}

/** The context the request came in by: the versioned one, or the default version's unversioned one. */
function contextOf(path: string, api: ApiEntry): string {
  const v = api.versionedContext;
  if (path === v || path.startsWith(`${v}/`)) return v;
  const d = api.defaultContext;
  if (d && (path === d || path.startsWith(d === '/' ? '/' : `${d}/`))) return d === '/' ? '' : d;
  return v;
}

/** Resource by method + template, on the normalised path (relative to the context it came in by). */
export function resolveResource(
  request: CheckRequest,
  api: ApiEntry,
  path = request.path,
): ResourceEntry | null {
  const ctx = contextOf(path, api);
  const rest = path.startsWith(ctx) ? path.slice(ctx.length) || '/' : path;
  const method = request.method.toUpperCase();
  for (const r of api.resources) {
    if ((r.method === method || r.method === '*') && r.pattern.test(rest)) return r;
  }
  return null;
}

const AMBIGUITY_TEXT: Record<PathAmbiguity, string> = {
  ENCODED_SLASH: 'an encoded slash (%2F)',
  BACKSLASH: 'a backslash (raw or %5C)',
  ENCODED_DOT_SEGMENT: 'an encoded dot segment (%2e)',
  PATH_PARAMETER: "a ';' path parameter",
  DOUBLE_ENCODING: 'a double percent-encoding (%25XX)',
  BAD_ENCODING: "a '%' not followed by two hex digits",
  CONTROL_CHARACTER: 'a control character',
  EMPTY_SEGMENT: "an empty segment ('//')",
};

interface Level {
  name: Wso2ErrorName;
  reason: string;
  key: string;
  quota: Quota;
  /** False only for a soft subscription quota: over it the request is allowed and marked. */
  hard: boolean;
  /** Keyed by an unauthenticated client's address (its own, smaller share of the counters). */
  anonymous?: boolean;
}

type ThrottleOutcome =
  | { denied: Decision }
  | { denied: null; overQuota: boolean; throttleKey: string | null; rateLimit: RateLimitInfo | null };

function throttle(levels: Level[], match: MatchInfo, now: number, state: ThrottleState): ThrottleOutcome {
  let overQuota = false;
  let overKey: string | null = null;
  const active = levels.filter((l) => l.quota.requestCount !== null);
  const newcomers: Level[] = [];
  let firstReset = Number.POSITIVE_INFINITY;
  // Check every level before counting: a denied request uses up no quota.
  for (const l of active) {
    const limit = l.quota.requestCount!;
    const { count, resetAt, tracked } = state.peek(l.key, l.quota.windowMs, now);
    if (!tracked) newcomers.push(l);
    firstReset = Math.min(firstReset, resetAt);
    // Across replicas (adapter/quota) this instance may count only up to its lease of the limit.
    if (count < state.allowance(l.key, l.quota.windowMs, limit, count, now)) continue;
    if (!l.hard) {
      overQuota = true;
      overKey = l.key;
      continue;
    }
    const resetSeconds = Math.max(1, Math.ceil((resetAt - now) / 1000));
    return {
      denied: deny(l.name, l.reason, match, {
        throttleKey: l.key,
        throttleScope: state.scope(l.key, l.quota.windowMs, now),
        headers: {
          'retry-after': String(resetSeconds),
          'x-ratelimit-limit': String(limit),
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(resetSeconds),
        },
      }),
    };
  }
  // No room for this request's new counters (every counter held is live): refused, fail closed,
  // rather than counted nowhere (throttle.ts). Room comes back when a window ends.
  if (!state.admit(newcomers, now)) {
    const l = newcomers[0]!;
    const resetSeconds = Math.max(1, Math.ceil((firstReset - now) / 1000));
    return {
      denied: deny(l.name, 'THROTTLE_CAPACITY_EXCEEDED', match, {
        throttleKey: l.key,
        headers: { 'retry-after': String(resetSeconds) },
      }),
    };
  }
  let tightest: RateLimitInfo | null = null;
  for (const l of active) {
    // Admitted above and nothing runs in between (synchronous): never null here.
    const count = state.consume(l.key, l.quota.windowMs, now, l.anonymous) ?? 0;
    const limit = l.quota.requestCount!;
    const remaining = Math.max(0, limit - count);
    if (!tightest || remaining < tightest.remaining) {
      const resetAt = Math.floor(now / l.quota.windowMs) * l.quota.windowMs + l.quota.windowMs;
      tightest = { limit, remaining, resetSeconds: Math.max(1, Math.ceil((resetAt - now) / 1000)) };
    }
  }
  return { denied: null, overQuota, throttleKey: overKey, rateLimit: tightest };
}

/** The API-level quota (the API's own policy), shared by every caller of the API. */
function apiPolicyLevel(snapshot: Snapshot, api: ApiEntry): Level | null {
  const apiPolicy = api.policy ? snapshot.apiPolicies.get(api.policy) : undefined;
  if (!apiPolicy) return null;
  return {
    name: 'API_THROTTLED',
    reason: 'API_LIMIT_EXCEEDED',
    key: throttleKey('api', api.info.id),
    quota: apiPolicy.quota,
    hard: true,
  };
}

function apiLevels(snapshot: Snapshot, api: ApiEntry, resource: ResourceEntry): Level[] {
  const levels: Level[] = [];
  const apiLevel = apiPolicyLevel(snapshot, api);
  if (apiLevel) levels.push(apiLevel);
  const resPolicy = resource.policy ? snapshot.apiPolicies.get(resource.policy) : undefined;
  if (resPolicy) {
    levels.push({
      name: 'RESOURCE_THROTTLED',
      reason: 'RESOURCE_LIMIT_EXCEEDED',
      key: throttleKey('res', api.info.id, resource.method, resource.template),
      quota: resPolicy.quota,
      hard: true,
    });
  }
  return levels;
}

export function allow(
  request: CheckRequest,
  match: MatchInfo,
  outcome: { overQuota: boolean; throttleKey: string | null; rateLimit: RateLimitInfo | null },
  strip: { headers: readonly string[]; queryParams: readonly string[] },
): Decision {
  const set: Record<string, string> = {};
  const api = match.api;
  if (api) {
    set[IDENTITY_HEADERS.apiId] = api.id;
    set[IDENTITY_HEADERS.apiName] = api.name;
    set[IDENTITY_HEADERS.apiVersion] = api.version;
  }
  const app = match.application;
  if (app) {
    set[IDENTITY_HEADERS.applicationId] = app.id;
    set[IDENTITY_HEADERS.applicationName] = app.name;
    set[IDENTITY_HEADERS.applicationOwner] = app.owner;
  }
  if (match.subscriptionTier) set[IDENTITY_HEADERS.subscriptionTier] = match.subscriptionTier;
  if (match.keyType) set[IDENTITY_HEADERS.keyType] = match.keyType;
  if (match.subject) set[IDENTITY_HEADERS.user] = match.subject;
  if (outcome.overQuota) set[IDENTITY_HEADERS.overQuota] = 'true';
  // Identity headers we do not set are removed, so the upstream never sees client-sent ones.
  const remove = ALL_IDENTITY_HEADERS.filter((h) => !(h in set));
  for (const h of strip.headers) if (request.headers[h] !== undefined) remove.push(h);
  return {
    kind: 'allow',
    httpStatus: 200,
    code: null,
    reason: outcome.overQuota ? 'OVER_QUOTA' : 'OK',
    match,
    overQuota: outcome.overQuota,
    throttleKey: outcome.throttleKey,
    rateLimit: outcome.rateLimit,
    headersToSet: set,
    headersToRemove: remove,
    queryParamsToRemove: rawNamesOf(request, strip.queryParams),
  };
}

/**
 * Every raw query name that decoded to one of `names`: Envoy removes by raw name, so `%61pikey`
 * must be named as is or the verified key travels upstream.
 */
export const MISSING_STRIP = { headers: [APIKEY_HEADER], queryParams: [APIKEY_QUERY] } as const;

function rawNamesOf(request: CheckRequest, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    if (!request.query.has(name)) continue;
    for (const raw of request.rawQueryNames.get(name) ?? [name]) if (!out.includes(raw)) out.push(raw);
  }
  return out;
}

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
  // Not in the snapshot: the key's own claims (keys issued by API Manager for apps we do not list).
  return { id: ref.id, name: ref.name ?? ref.id, owner: ref.owner ?? '', tier: ref.tier ?? 'Unlimited' };
}

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

/** WSO2 names revoked JWTs (and API keys) by signature: compared in canonical spelling, never raw. */
function revokedBySignature(snapshot: Snapshot, cred: ValidCredential): boolean {
  if (!cred.signatures?.length || snapshot.revokedJtis.size === 0) return false;
  const revoked = revokedSignatures(snapshot.revokedJtis);
  return cred.signatures.some((s) => revoked.has(s));
}

/** WSO2's wording, naming the carriers this API accepts (APISecurityConstants + the API's header). */
function missingDescription(api: ApiEntry): string {
  const carriers: string[] = [];
  if (api.securitySchemes.has('oauth2')) carriers.push("'Authorization : Bearer ACCESS_TOKEN'");
  if (api.securitySchemes.has('api_key')) carriers.push(`'${api.apiKeyHeader}: API_KEY'`);
  return `Missing Credentials. Make sure your API invocation call has a header: ${carriers.join(' or ') || "'Authorization : Bearer ACCESS_TOKEN'"}`;
}

function schemeEnabled(api: ApiEntry, credential: CredentialResult): boolean {
  if (credential.type === 'none') return true;
  return api.securitySchemes.has(credential.type === 'apikey' ? 'api_key' : 'oauth2');
}

/**
 * A request authenticated by its client certificate alone, as carbon-apimgt's
 * MutualSSLAuthenticator.setAuthContext reports it: user = the subject CN, PRODUCTION, tier = the
 * certificate's (stop on quota reach), no application, and no resource-level throttling.
 */
function allowByCertificate(
  request: CheckRequest,
  snapshot: Snapshot,
  api: ApiEntry,
  cert: ApiClientCertificate,
  match: MatchInfo,
  now: number,
  state: DecideState,
  strip: { headers: readonly string[]; queryParams: readonly string[] },
): Decision {
  match.credentialType = 'mtls';
  match.keyType = 'PRODUCTION';
  match.subject = cert.subject;
  if (!api.keyTypes.production) {
    return deny('INVALID_CREDENTIALS', 'KEY_TYPE_HAS_NO_ENDPOINT', match, {
      description: 'Invalid Credentials. Production key offered to the API with no production endpoint',
    });
  }
  match.subscriptionTier = cert.tier;
  const levels: Level[] = [];
  const apiLevel = apiPolicyLevel(snapshot, api);
  if (apiLevel) levels.push(apiLevel);
  const tier = snapshot.subscriptionPolicies.get(cert.tier);
  // WSO2 keys the quota by "<serial>_<issuer>_<api>": here the certificate's digest and the API.
  if (tier?.burst) {
    levels.push({
      name: 'BURST_THROTTLED',
      reason: 'BURST_LIMIT_EXCEEDED',
      key: throttleKey('mtls-burst', cert.sha256, api.info.id),
      quota: { requestCount: tier.burst.limit, windowMs: tier.burst.windowMs },
      hard: true,
    });
  }
  if (tier) {
    levels.push({
      name: 'SUBSCRIPTION_THROTTLED',
      reason: 'SUBSCRIPTION_LIMIT_EXCEEDED',
      key: throttleKey('mtls', cert.sha256, api.info.id),
      quota: tier.quota,
      hard: true,
    });
  }
  const outcome = throttle(levels, match, now, state.throttle);
  if (outcome.denied) return outcome.denied;
  return allow(request, match, outcome, strip);
}

export function decide(input: DecideInput, snapshot: Snapshot, clock: Clock, state: DecideState): Decision {
  const { request } = input;
  const now = clock.now();
  const match = emptyMatch();

  // Matched on the normalised path; what an upstream could read another way is denied (path.ts).
  const target = resolveTarget(request, snapshot);
  const api = target.api;
  if (target.contextMismatch) {
    return deny('AMBIGUOUS_PATH', 'AMBIGUOUS_PATH_CONTEXT_MISMATCH', match, {
      description: 'The request path is ambiguous: its dot segments or encodings lead into another API',
    });
  }
  if (target.ambiguity && !api?.allowAmbiguousPaths) {
    if (api) match.api = api.info;
    return deny('AMBIGUOUS_PATH', `AMBIGUOUS_PATH_${target.ambiguity}`, match, {
      description: `The request path is ambiguous: it contains ${AMBIGUITY_TEXT[target.ambiguity]}, which upstream servers may resolve to another resource. Send the path in normal form.`,
    });
  }
  if (!api || api.lifecycle === 'CREATED' || api.lifecycle === 'RETIRED') {
    return deny('NO_MATCHING_RESOURCE', 'API_NOT_FOUND', match);
  }
  match.api = api.info;
  if (api.lifecycle === 'BLOCKED') return deny('API_BLOCKED', 'API_BLOCKED', match);
  const resource = resolveResource(request, api, target.path);
  if (!resource) return deny('NO_MATCHING_RESOURCE', 'RESOURCE_NOT_FOUND', match);
  match.resource = { method: resource.method, template: resource.template };

  // Even with no usable credential the API key carriers go: `?apikey=&apikey=<key>` reads as
  // missing (the first value is empty) but must not carry the second value upstream.
  const strip = input.credential.status === 'missing' ? MISSING_STRIP : input.credential.strip;

  if (resource.auth === 'none') {
    const tier = snapshot.subscriptionPolicies.get(UNAUTHENTICATED_TIER);
    const levels = apiLevels(snapshot, api, resource);
    if (tier) {
      levels.push({
        name: 'SUBSCRIPTION_THROTTLED',
        reason: 'SUBSCRIPTION_LIMIT_EXCEEDED',
        key: throttleKey('anon', api.info.id, clientBucket(request.clientIp)),
        quota: tier.quota,
        hard: true,
        anonymous: true,
      });
    }
    match.subscriptionTier = UNAUTHENTICATED_TIER;
    const outcome = throttle(levels, match, now, state.throttle);
    if (outcome.denied) return outcome.denied;
    return allow(request, match, outcome, strip);
  }

  // A scheme the API does not enable is not looked at (WSO2 engages only the enabled authenticators):
  // its credential counts as absent.
  const credential = schemeEnabled(api, input.credential)
    ? input.credential
    : ({ status: 'missing', type: input.credential.type } as const);

  // Mutual TLS (credentials/mtls.ts): a mandatory certificate is checked first; where it alone
  // decides, a valid application credential still supplies the identity, any other is ignored.
  const mtls = api.mutualTls;
  if (mtls && mtls.mode !== 'optional') {
    const v = verifyClientCertificate(request.clientCertificate, request.headers, mtls, now);
    if (!v.ok) {
      match.credentialType = 'mtls';
      return deny('MUTUAL_SSL_FAILURE', `MTLS_${v.reason}`, match, {
        description: `${WSO2_ERRORS.MUTUAL_SSL_FAILURE.message}: ${v.detail}`,
      });
    }
    if (mtls.mode === 'mandatory' && credential.status !== 'valid') {
      return allowByCertificate(request, snapshot, api, v.certificate, match, now, state, strip);
    }
  }

  switch (credential.status) {
    case 'missing':
      return deny('MISSING_CREDENTIALS', 'CREDENTIAL_MISSING', match, {
        headers: {
          'www-authenticate': isBearer(credential.type) ? bearerChallenge() : 'apikey realm="mesh-apim"',
        },
        description: missingDescription(api),
      });
    case 'invalid':
      match.credentialType = credential.type;
      return deny('INVALID_CREDENTIALS', `CREDENTIAL_${credential.reason}`, match, {
        headers: invalidTokenHeaders(credential.type),
      });
    case 'expired':
      match.credentialType = credential.type;
      // WSO2's ApiKeyAuthenticator answers an expired API key with 900901 (Invalid Credentials).
      if (!isBearer(credential.type)) return deny('INVALID_CREDENTIALS', 'CREDENTIAL_EXPIRED', match);
      return deny('EXPIRED_CREDENTIALS', 'CREDENTIAL_EXPIRED', match, {
        headers: { 'www-authenticate': bearerChallenge('invalid_token', 'The access token expired') },
      });
    case 'unavailable': {
      match.credentialType = credential.type;
      if (!credential.failOpen) {
        return deny('KEY_MANAGER_UNAVAILABLE', `CREDENTIAL_UNAVAILABLE_${credential.reason}`, match, {
          headers: { 'retry-after': '5' },
        });
      }
      // Fail-open API: no application is known, so only the API and resource quotas apply.
      const outcome = throttle(apiLevels(snapshot, api, resource), match, now, state.throttle);
      if (outcome.denied) return outcome.denied;
      return { ...allow(request, match, outcome, strip), reason: 'KEY_MANAGER_UNAVAILABLE_FAIL_OPEN' };
    }
  }

  const cred = credential;
  match.credentialType = cred.type;
  match.keyType = cred.keyType;
  match.subject = cred.subject;
  // WSO2: "Production/sandbox key offered to the API with no production/sandbox endpoint" (900901).
  if (cred.keyType === 'SANDBOX' ? !api.keyTypes.sandbox : !api.keyTypes.production) {
    return deny('INVALID_CREDENTIALS', 'KEY_TYPE_HAS_NO_ENDPOINT', match, {
      headers: invalidTokenHeaders(cred.type),
      description: `Invalid Credentials. ${cred.keyType === 'SANDBOX' ? 'Sandbox' : 'Production'} key offered to the API with no ${cred.keyType === 'SANDBOX' ? 'sandbox' : 'production'} endpoint`,
    });
  }
  if (
    (cred.jti && snapshot.revokedJtis.has(cred.jti)) ||
    revokedBySignature(snapshot, cred) ||
    state.revocations?.revokedBy({
      jti: cred.jti ?? undefined,
      signatures: cred.signatures,
      subject: cred.subject ?? undefined,
      consumerKey: cred.application.by === 'consumer-key' ? cred.application.consumerKey : undefined,
      issuedAtMs: cred.issuedAt ?? undefined,
      opaqueTokenDigest: cred.tokenDigest,
    })
  ) {
    return deny('INVALID_CREDENTIALS', 'CREDENTIAL_REVOKED', match, {
      headers: invalidTokenHeaders(cred.type),
    });
  }
  const app = resolveApplication(snapshot, cred);
  if (!app) {
    return deny('INVALID_CREDENTIALS', 'APPLICATION_UNKNOWN', match, {
      headers: invalidTokenHeaders(cred.type),
    });
  }
  match.application = app;

  const { permittedIPs, permittedReferers } = cred.restrictions;
  if (permittedIPs && !ipPermitted(request.clientIp, permittedIPs)) {
    return deny('RESOURCE_FORBIDDEN', 'IP_NOT_PERMITTED', match, {
      description: 'Access forbidden: the client IP is not permitted for this API key',
    });
  }
  if (permittedReferers && !refererPermitted(request.headers.referer, permittedReferers)) {
    return deny('RESOURCE_FORBIDDEN', 'REFERER_NOT_PERMITTED', match, {
      description: 'Access forbidden: the referer is not permitted for this API key',
    });
  }
  // Resource scopes bind OAuth2 tokens only: WSO2's ApiKeyAuthenticator skips resource-level scope
  // validation for API keys (they carry no scopes), so an API key is never denied 900910.
  if (
    isBearer(cred.type) &&
    resource.scopes.length > 0 &&
    !resource.scopes.some((s) => cred.scopes.includes(s))
  ) {
    return deny('SCOPE_FORBIDDEN', 'SCOPE_MISSING', match, {
      headers: {
        'www-authenticate': bearerChallenge(
          'insufficient_scope',
          'The access token lacks a scope this resource requires',
          resource.scopes,
        ),
      },
    });
  }

  const sub = findSubscription(snapshot, api, app, cred);
  if (!sub) return deny('RESOURCE_FORBIDDEN', 'NOT_SUBSCRIBED', match);
  match.subscriptionTier = sub.tier;
  switch (sub.state) {
    case 'BLOCKED':
      return deny('SUBSCRIPTION_BLOCKED', 'SUBSCRIPTION_BLOCKED', match);
    case 'PROD_ONLY_BLOCKED':
      if (cred.keyType === 'PRODUCTION')
        return deny('SUBSCRIPTION_BLOCKED', 'SUBSCRIPTION_PROD_ONLY_BLOCKED', match);
      break;
    case 'ON_HOLD':
      return deny('SUBSCRIPTION_INACTIVE', 'SUBSCRIPTION_ON_HOLD', match);
    case 'REJECTED':
      return deny('SUBSCRIPTION_INACTIVE', 'SUBSCRIPTION_REJECTED', match);
    default:
      break;
  }

  const levels = apiLevels(snapshot, api, resource);
  const subPolicy = snapshot.subscriptionPolicies.get(sub.tier);
  const claimTier = cred.tierInfo?.[sub.tier];
  const burst =
    subPolicy?.burst ??
    (claimTier?.spikeArrestLimit && claimTier.spikeArrestLimit > 0
      ? { limit: claimTier.spikeArrestLimit, windowMs: claimTier.spikeArrestUnit === 'min' ? 60_000 : 1000 }
      : null);
  if (burst) {
    levels.push({
      name: 'BURST_THROTTLED',
      reason: 'BURST_LIMIT_EXCEEDED',
      key: throttleKey('burst', app.id, api.info.id),
      quota: { requestCount: burst.limit, windowMs: burst.windowMs },
      hard: true,
    });
  }
  if (subPolicy) {
    levels.push({
      name: 'SUBSCRIPTION_THROTTLED',
      reason: 'SUBSCRIPTION_LIMIT_EXCEEDED',
      key: throttleKey('sub', app.id, api.info.id),
      quota: subPolicy.quota,
      hard: subPolicy.stopOnQuotaReach,
    });
  }
  const appPolicy = snapshot.applicationPolicies.get(app.tier);
  if (appPolicy) {
    levels.push({
      name: 'APPLICATION_THROTTLED',
      reason: 'APPLICATION_LIMIT_EXCEEDED',
      // WSO2 counts application quotas per application and end user.
      key: throttleKey('app', app.id, cred.subject ?? ''),
      quota: appPolicy.quota,
      hard: true,
    });
  }
  const outcome = throttle(levels, match, now, state.throttle);
  if (outcome.denied) return outcome.denied;
  return allow(request, match, outcome, strip);
}
