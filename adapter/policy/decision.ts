/**
 * Building the Decision a step ends the check with: a denial named by its WSO2 error, or the allow
 * with the identity headers and the credential carriers to strip. A step returns either its
 * continuation value (an object of the snapshot or the credential) or one of these.
 */
import {
  ALL_IDENTITY_HEADERS,
  APIKEY_HEADER,
  APIKEY_QUERY,
  type CheckRequest,
  type Decision,
  type DenyDecision,
  IDENTITY_HEADERS,
  type MatchInfo,
  type RateLimitInfo,
  type ThrottleScope,
} from '../domain.ts';
import { WSO2_ERRORS, type Wso2ErrorName } from '../wso2-errors.ts';

/** What a step returns: the value the next step continues with, or the check's final Decision. */
export type Step<T extends object> = T | Decision;

/**
 * True when a step ended the check. Only a Decision has `httpStatus`: none of the continuation
 * values (snapshot entries, the credential) has one, so a union narrows without a wrapper object.
 */
export function isFinal<T extends object>(step: Step<T>): step is Decision {
  return 'httpStatus' in step;
}

/** Credential carriers to strip before the request goes upstream. */
export interface Strip {
  headers: readonly string[];
  queryParams: readonly string[];
}

/** The API key carriers, stripped even when no credential was read (see decide()). */
export const MISSING_STRIP = { headers: [APIKEY_HEADER], queryParams: [APIKEY_QUERY] } as const;

/** What the throttle step leaves for the allow. */
export interface Admitted {
  overQuota: boolean;
  throttleKey: string | null;
  rateLimit: RateLimitInfo | null;
}

export function deny(
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

export function allow(request: CheckRequest, match: MatchInfo, outcome: Admitted, strip: Strip): Decision {
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
function rawNamesOf(request: CheckRequest, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    if (!request.query.has(name)) continue;
    for (const raw of request.rawQueryNames.get(name) ?? [name]) if (!out.includes(raw)) out.push(raw);
  }
  return out;
}
