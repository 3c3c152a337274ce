/**
 * The policy snapshot every check decides on: immutable, compiled from a plain data model
 * (ControlPlaneData, see model.ts) by compileSnapshot(), swapped atomically by the SnapshotStore.
 */
import type { KeyObject } from 'node:crypto';
import type { MutualTlsPolicy } from '../credentials/mtls.ts';
import type { ControlPlaneData } from './model.ts';

export type TimeUnit = 'sec' | 'min' | 'hour' | 'day';

/** A request-count quota: `requestCount` per `unitTime` `timeUnit`; null requestCount = unlimited. */
export interface Quota {
  requestCount: number | null;
  /** Window length in ms. */
  windowMs: number;
}

export interface SubscriptionPolicy {
  name: string;
  quota: Quota;
  /** False: over-quota requests are allowed and marked (WSO2 stopOnQuotaReach). */
  stopOnQuotaReach: boolean;
  /** Spike arrest: at most `limit` per `windowMs` (sec or min); null = none. */
  burst: { limit: number; windowMs: number } | null;
}

export interface SimplePolicy {
  name: string;
  quota: Quota;
}

export type ApiLifecycle = 'CREATED' | 'PUBLISHED' | 'PROTOTYPED' | 'BLOCKED' | 'DEPRECATED' | 'RETIRED';

/** An API's identity, as the RequestContext and the identity headers name it. */
export interface ApiInfo {
  id: string;
  name: string;
  version: string;
  context: string;
  creator: string;
  creatorTenantDomain: string;
  type: string;
}

export interface ResourceEntry {
  method: string;
  template: string;
  /** Compiled matcher of the URL template, relative to the versioned context. */
  pattern: RegExp;
  /** Number of literal characters, for "most specific template wins". */
  specificity: number;
  scopes: readonly string[];
  /** Resource-level throttling policy name (an API policy), null = none. */
  policy: string | null;
  /** 'none' = unsecured resource: no credential needed, throttled by the Unauthenticated tier per IP. */
  auth: 'required' | 'none';
}

export interface ApiEntry {
  info: ApiInfo;
  /** Versioned context, e.g. /petstore/v1. */
  versionedContext: string;
  lifecycle: ApiLifecycle;
  /** API-level throttling policy name, null = none. */
  policy: string | null;
  /** Accept the credential's subscribedAPIs claim as the subscription (no snapshot entry needed). */
  trustClaims: boolean;
  /**
   * Match paths that stay ambiguous after normalisation (adapter/path.ts) instead of denying them
   * 400: for an upstream known to read encoded slashes, `;` and `//` literally. Default false.
   */
  allowAmbiguousPaths: boolean;
  /** Rollout mode of this API (standalone `enforcement`); absent = adapter.enforcement. */
  enforcement?: 'enforce' | 'shadow';
  /** isDefaultVersion: the context unversioned calls use (e.g. /petstore), null = none. */
  defaultContext: string | null;
  /** Lower-cased header (and query parameter) carrying the API key (WSO2 apiKeyHeader). */
  apiKeyHeader: string;
  /** WSO2 security schemes the API enables (oauth2, api_key, mutualssl, ...). */
  securitySchemes: ReadonlySet<string>;
  /** Mutual TLS (securitySchemes has `mutualssl`): how it combines and the certificates; null = off. */
  mutualTls: MutualTlsPolicy | null;
  /** Key types the API has an endpoint for. */
  keyTypes: { production: boolean; sandbox: boolean };
  resources: readonly ResourceEntry[];
  /** Where the API was declared (file or source), for error messages and debugging. */
  origin: string;
}

export type SubscriptionState =
  | 'UNBLOCKED'
  | 'BLOCKED'
  | 'PROD_ONLY_BLOCKED'
  | 'ON_HOLD'
  | 'REJECTED'
  | 'TIER_UPDATE_PENDING';

export interface ApplicationEntry {
  id: string;
  uuid: string;
  name: string;
  owner: string;
  /** Application throttling policy name. */
  tier: string;
}

export interface SubscriptionEntry {
  applicationId: string;
  apiId: string;
  tier: string;
  state: SubscriptionState;
}

export interface KeyMappingEntry {
  consumerKey: string;
  keyManager: string;
  applicationId: string;
  keyType: 'PRODUCTION' | 'SANDBOX';
}

export interface TrustedKey {
  kid: string;
  /** Required issuer (`iss`) for tokens signed by this key; null = any. */
  issuer: string | null;
  /** Name of the key issuer entry this key came from. */
  issuerName: string;
  key: KeyObject;
}

export interface Snapshot {
  /** Content hash of the compiled data: equal data, equal version. */
  readonly version: string;
  /** Source name, e.g. standalone. */
  readonly source: string;
  readonly apis: ReadonlyMap<string, ApiEntry>;
  /** By versioned context; lookups go longest context first (contextsByLength). */
  readonly apisByContext: ReadonlyMap<string, ApiEntry>;
  readonly contextsByLength: readonly string[];
  /** By id, by uuid and by name (standalone names are unique). */
  readonly applications: ReadonlyMap<string, ApplicationEntry>;
  /** Key: subscriptionKey(applicationId, apiId). */
  readonly subscriptions: ReadonlyMap<string, SubscriptionEntry>;
  /** Key: keyMappingKey(keyManager, consumerKey). */
  readonly keyMappings: ReadonlyMap<string, KeyMappingEntry>;
  readonly subscriptionPolicies: ReadonlyMap<string, SubscriptionPolicy>;
  readonly applicationPolicies: ReadonlyMap<string, SimplePolicy>;
  readonly apiPolicies: ReadonlyMap<string, SimplePolicy>;
  /** By kid. */
  readonly trustedKeys: ReadonlyMap<string, TrustedKey>;
  /** Revoked credential ids -> ms since epoch after which the entry may be forgotten (null = never). */
  readonly revokedJtis: ReadonlyMap<string, number | null>;
  /** The data it was compiled from (admin/debug; sources may diff it). */
  readonly data: ControlPlaneData;
}

export function subscriptionKey(applicationId: string, apiId: string): string {
  return `${applicationId}\u0000${apiId}`;
}

export function keyMappingKey(keyManager: string, consumerKey: string): string {
  return `${keyManager}\u0000${consumerKey}`;
}
