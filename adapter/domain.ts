/**
 * Domain types of the check path. The gRPC layer translates Envoy's protobuf into a CheckRequest,
 * the credential chain turns it into a CredentialResult, the pure decide() returns a Decision, and
 * one mapper turns the Decision into a CheckResponse. Nothing here knows about protobuf.
 */
import type { ClientCertificateInput } from './credentials/mtls.ts';
import type { ApiInfo } from './snapshot/types.ts';

/** Milliseconds since epoch. Injected everywhere time matters (throttle windows, expiry). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface CheckRequest {
  /** x-request-id (Envoy sets one on every request); the HttpRequest.id when absent. */
  requestId: string;
  method: string;
  host: string;
  /** Path without the query string and fragment. */
  path: string;
  /** Parsed query: each name maps to every value it was given, in order. */
  query: ReadonlyMap<string, readonly string[]>;
  /**
   * Decoded query name -> every raw spelling it had in the request (`%61pikey` -> `apikey`). Envoy
   * removes `query_parameters_to_remove` by raw name, so a credential is removed under each spelling.
   */
  rawQueryNames: ReadonlyMap<string, readonly string[]>;
  /**
   * Header names lower-cased (ASCII only, as Envoy matches them: `K` U+212A never becomes `k`);
   * repeated headers joined with ',' as Envoy does.
   */
  headers: Readonly<Record<string, string>>;
  /**
   * The client's IP as Envoy trusts it (client-ip.ts: x-envoy-external-address, else X-Forwarded-For
   * per the trusted hops, else the source address); null when none is an IP.
   */
  clientIp: string | null;
  /**
   * The client certificate as Envoy passed it (TLS peer or XFCC), parsed only for mTLS APIs;
   * translate always sets it (absent = no certificate).
   */
  clientCertificate?: ClientCertificateInput;
  /** Per-route context_extensions set in Envoy's ext_authz filter config (e.g. `api`). */
  contextExtensions: Readonly<Record<string, string>>;
  /** ms since epoch, when the adapter received the request. */
  receivedAt: number;
}

/**
 * Identity headers the adapter sets on allowed requests for the upstream. Always overwritten (or
 * removed when not applicable) so a client cannot inject its own.
 */
export const IDENTITY_HEADERS = {
  apiId: 'x-mesh-apim-api-id',
  apiName: 'x-mesh-apim-api-name',
  apiVersion: 'x-mesh-apim-api-version',
  applicationId: 'x-mesh-apim-application-id',
  applicationName: 'x-mesh-apim-application-name',
  applicationOwner: 'x-mesh-apim-application-owner',
  subscriptionTier: 'x-mesh-apim-subscription-tier',
  keyType: 'x-mesh-apim-key-type',
  user: 'x-mesh-apim-user',
  overQuota: 'x-mesh-apim-over-quota',
} as const;

export const ALL_IDENTITY_HEADERS: readonly string[] = Object.values(IDENTITY_HEADERS);

/** Credential carriers removed before the request goes upstream. */
export const APIKEY_HEADER = 'apikey';
export const APIKEY_QUERY = 'apikey';

export type DecisionKind =
  | 'allow'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'rate-limited'
  | 'unavailable';

/** What the check matched, as far as it got. Feeds the RequestContext and the identity headers. */
export interface MatchInfo {
  api: ApiInfo | null;
  resource: { method: string; template: string } | null;
  application: ApplicationInfo | null;
  subscriptionTier: string | null;
  keyType: 'PRODUCTION' | 'SANDBOX' | null;
  credentialType: 'apikey' | 'oauth2-jwt' | 'oauth2-opaque' | 'mtls' | 'none';
  subject: string | null;
}

export interface ApplicationInfo {
  id: string;
  name: string;
  owner: string;
  tier: string;
}

/** Where a count was decided: on the cluster-wide budget, on the broker-down share, or on this instance alone. */
export type ThrottleScope = 'cluster' | 'fallback' | 'instance';

/** Rate-limit state of the tightest counter, sent as x-ratelimit-* headers. */
export interface RateLimitInfo {
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

export interface AllowDecision {
  kind: 'allow';
  httpStatus: 200;
  code: null;
  /** Machine-readable reason: OK, or OVER_QUOTA when allowed past a soft quota. */
  reason: string;
  match: MatchInfo;
  /** Allowed although over quota (subscription policy stopOnQuotaReach: false). */
  overQuota: boolean;
  throttleKey: string | null;
  rateLimit: RateLimitInfo | null;
  /** Set with overwrite semantics. */
  headersToSet: Readonly<Record<string, string>>;
  headersToRemove: readonly string[];
  queryParamsToRemove: readonly string[];
}

export interface DenyDecision<K extends Exclude<DecisionKind, 'allow'>> {
  kind: K;
  httpStatus: number;
  /** WSO2 error code (body `code`). */
  code: number;
  /** WSO2 error message (body `message`). */
  message: string;
  /** Human-readable detail (body `description`). */
  description: string;
  /** Machine-readable reason, e.g. SUBSCRIPTION_LIMIT_EXCEEDED. */
  reason: string;
  match: MatchInfo;
  throttleKey: string | null;
  /**
   * A throttled request: whether its level tripped on the cluster-wide count (adapter/quota), on
   * the broker-down share of it, or on this instance's own counter. Absent on other denials.
   */
  throttleScope?: ThrottleScope;
  /** Response headers for the client (Retry-After, x-ratelimit-*, WWW-Authenticate). */
  headers: Readonly<Record<string, string>>;
}

export type Decision =
  | AllowDecision
  | DenyDecision<'unauthenticated'>
  | DenyDecision<'forbidden'>
  | DenyDecision<'not-found'>
  | DenyDecision<'rate-limited'>
  | DenyDecision<'unavailable'>;

export function emptyMatch(): MatchInfo {
  return {
    api: null,
    resource: null,
    application: null,
    subscriptionTier: null,
    keyType: null,
    credentialType: 'none',
    subject: null,
  };
}
