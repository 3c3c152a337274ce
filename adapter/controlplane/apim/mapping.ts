/**
 * Pure mapping: one pull of WSO2's internal data API -> the plain control-plane data model every
 * snapshot source produces. Entities that reference something outside the pull (a subscription to
 * an API not deployed on this gateway, a resource with a WebSocket verb, a policy name nobody
 * defines) are left out and listed in `skipped`, so one odd row never blocks the whole control plane.
 */
import type { z } from 'zod';
import type { ApimData, ThrottleLimit } from '../../../apim/internal-data-types.ts';
import type {
  ApiData,
  ControlPlaneInput,
  KeyIssuerData,
  ResourceData,
  SubscriptionData,
} from '../../snapshot/model.ts';
import { SECURITY_SCHEMES } from '../../snapshot/model.ts';
import {
  DEFAULT_API_POLICIES,
  DEFAULT_APPLICATION_POLICIES,
  DEFAULT_SUBSCRIPTION_POLICIES,
} from '../../snapshot/tiers.ts';

type TimeUnit = 'sec' | 'min' | 'hour' | 'day';
type Quota = { requestCount: number | null; unitTime: number; timeUnit: TimeUnit };

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
const LIFECYCLES = new Set(['CREATED', 'PUBLISHED', 'PROTOTYPED', 'BLOCKED', 'DEPRECATED', 'RETIRED']);
const STATES = new Set([
  'UNBLOCKED',
  'BLOCKED',
  'PROD_ONLY_BLOCKED',
  'ON_HOLD',
  'REJECTED',
  'TIER_UPDATE_PENDING',
]);
/** WSO2 stores "unlimited" as Integer.MAX_VALUE requests. */
const INT_MAX = 2147483647;

const UNITS: Record<string, { unit: TimeUnit; factor: number }> = {
  sec: { unit: 'sec', factor: 1 },
  second: { unit: 'sec', factor: 1 },
  min: { unit: 'min', factor: 1 },
  minute: { unit: 'min', factor: 1 },
  hour: { unit: 'hour', factor: 1 },
  day: { unit: 'day', factor: 1 },
  week: { unit: 'day', factor: 7 },
  month: { unit: 'day', factor: 30 },
  year: { unit: 'day', factor: 365 },
};

export interface MappingResult {
  data: ControlPlaneInput;
  /** What was left out, and why (logged by the source). */
  skipped: string[];
}

export interface MappingOptions {
  /** Key issuers for API keys (API Manager's signing certificate), from configuration. */
  keyIssuers?: z.input<typeof KeyIssuerData>[];
}

/** Request-count quota of a WSO2 ThrottleLimit; bandwidth/event limits cannot be counted per request. */
export function quotaOf(limit: ThrottleLimit | undefined, where: string, skipped: string[]): Quota {
  const rc = limit?.requestCount;
  if (!rc) {
    if (limit?.bandwidth || limit?.eventCount)
      skipped.push(`${where}: only request-count limits are enforced`);
    return { requestCount: null, unitTime: 1, timeUnit: 'min' };
  }
  const u = UNITS[rc.timeUnit.toLowerCase().replace(/s$/, '')];
  if (!u || rc.unitTime <= 0) {
    skipped.push(`${where}: time unit ${rc.unitTime} ${rc.timeUnit} not understood; unlimited`);
    return { requestCount: null, unitTime: 1, timeUnit: 'min' };
  }
  const count = rc.requestCount <= 0 || rc.requestCount >= INT_MAX ? null : rc.requestCount;
  return { requestCount: count, unitTime: rc.unitTime * u.factor, timeUnit: u.unit };
}

/**
 * Per-API security when API Manager sends it (`securityScheme`, `apiKeyHeader`: the Publisher's
 * names; the published internal data spec does not list them, so absent = our defaults). Unknown
 * scheme names are reported and dropped; no known scheme left = the defaults, never "open".
 */
function securityOf(
  a: Record<string, unknown>,
  where: string,
  skipped: string[],
): { securitySchemes?: (typeof SECURITY_SCHEMES)[number][]; apiKeyHeader?: string } {
  const out: { securitySchemes?: (typeof SECURITY_SCHEMES)[number][]; apiKeyHeader?: string } = {};
  if (Array.isArray(a.securityScheme)) {
    const known = new Set<string>(SECURITY_SCHEMES);
    const schemes = a.securityScheme.filter((x): x is (typeof SECURITY_SCHEMES)[number] => {
      if (typeof x === 'string' && known.has(x)) return true;
      skipped.push(`${where}: security scheme ${String(x)} not supported`);
      return false;
    });
    if (schemes.length > 0) out.securitySchemes = schemes;
  }
  if (typeof a.apiKeyHeader === 'string' && /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(a.apiKeyHeader))
    out.apiKeyHeader = a.apiKeyHeader;
  return out;
}

/**
 * The Publisher's client certificates of an API (fetched by the source only for mutualssl APIs).
 * A certificate whose tier is not a known subscription policy is left out (reported), so one bad
 * upload costs that certificate, not the snapshot.
 */
function certificatesOf(
  certs: { alias: string; tier: string; certificate: string }[] | undefined,
  subNames: Set<string>,
  where: string,
  skipped: string[],
): { clientCertificates?: { alias: string; tier: string; certificate: string }[] } {
  if (!certs?.length) return {};
  const kept = certs.filter((c) => {
    if (subNames.has(c.tier)) return true;
    skipped.push(`${where}: client certificate ${c.alias} has unknown tier ${c.tier}`);
    return false;
  });
  return kept.length ? { clientCertificates: kept } : {};
}

/** WSO2 contexts include the version (`/petstore/v1`); the model wants the base context. */
export function baseContext(context: string, version: string): string {
  const c = context.replace(/\/+$/, '');
  if (c.includes('{version}')) return c;
  return c.endsWith(`/${version}`) ? c.slice(0, -(version.length + 1)) || '/' : c;
}

export function mapApimData(pull: ApimData, options: MappingOptions = {}): MappingResult {
  const skipped: string[] = [];

  const subscriptionPolicies = pull.subscriptionPolicies.map((p) => {
    const burst =
      p.rateLimitCount &&
      p.rateLimitCount > 0 &&
      (p.rateLimitTimeUnit === 'sec' || p.rateLimitTimeUnit === 'min')
        ? { limit: p.rateLimitCount, unit: p.rateLimitTimeUnit as 'sec' | 'min' }
        : undefined;
    return {
      name: p.name,
      ...quotaOf(p.defaultLimit, `subscription policy ${p.name}`, skipped),
      stopOnQuotaReach: p.stopOnQuotaReach ?? true,
      ...(burst ? { burst } : {}),
    };
  });
  const applicationPolicies = pull.applicationPolicies.map((p) => ({
    name: p.name,
    ...quotaOf(p.defaultLimit, `application policy ${p.name}`, skipped),
  }));
  const apiPolicies = pull.apiPolicies.map((p) => ({
    name: p.name,
    ...quotaOf(p.defaultLimit, `API policy ${p.name}`, skipped),
  }));
  const names = (list: { name: string }[], defaults: readonly { name: string }[]) =>
    new Set([...defaults, ...list].map((p) => p.name));
  const subNames = names(subscriptionPolicies, DEFAULT_SUBSCRIPTION_POLICIES);
  const appNames = names(applicationPolicies, DEFAULT_APPLICATION_POLICIES);
  const apiNames = names(apiPolicies, DEFAULT_API_POLICIES);

  const apiIdByNumber = new Map<number, string>();
  const apis: z.input<typeof ApiData>[] = [];
  for (const a of pull.apis) {
    const id = a.uuid || String(a.apiId);
    const where = `API ${a.name}:${a.version} (${id})`;
    const resources: z.input<typeof ResourceData>[] = [];
    for (const m of a.urlMappings ?? []) {
      const method = m.httpMethod.toUpperCase();
      if (!METHODS.has(method) || !m.urlPattern.startsWith('/')) {
        skipped.push(`${where}: resource ${m.httpMethod} ${m.urlPattern} is not an HTTP resource`);
        continue;
      }
      const policy = m.throttlingPolicy && apiNames.has(m.throttlingPolicy) ? m.throttlingPolicy : undefined;
      if (m.throttlingPolicy && !policy)
        skipped.push(`${where}: unknown resource policy ${m.throttlingPolicy}`);
      resources.push({
        method,
        path: m.urlPattern,
        scopes: m.scopes ?? [],
        ...(policy ? { policy } : {}),
        auth: m.authScheme?.toLowerCase() === 'none' ? 'none' : 'required',
      });
    }
    if (resources.length === 0) {
      skipped.push(`${where}: no HTTP resources`);
      continue;
    }
    const status = (a.status ?? 'PUBLISHED').toUpperCase();
    const policy = a.policy && apiNames.has(a.policy) ? a.policy : undefined;
    if (a.policy && !policy) skipped.push(`${where}: unknown API policy ${a.policy}`);
    apis.push({
      id,
      name: a.name,
      version: a.version,
      context: baseContext(a.context, a.version),
      provider: a.provider ?? 'admin',
      type: a.apiType ?? 'HTTP',
      // An unknown lifecycle state is not served (CREATED) rather than guessed.
      lifecycle: (LIFECYCLES.has(status) ? status : 'CREATED') as 'CREATED',
      ...(policy ? { policy } : {}),
      isDefaultVersion: a.isDefaultVersion === true,
      ...securityOf(a, where, skipped),
      ...certificatesOf(pull.clientCertificates[id], subNames, where, skipped),
      resources,
    });
    apiIdByNumber.set(a.apiId, id);
  }

  const appIdByNumber = new Map<number, string>();
  const applications = [];
  for (const a of pull.applications) {
    const id = a.uuid || String(a.id);
    const tier = a.policy || 'Unlimited';
    if (!appNames.has(tier)) {
      skipped.push(`application ${a.name} (${id}): unknown application policy ${tier}`);
      continue;
    }
    applications.push({ id, uuid: id, name: a.name, owner: a.subName ?? '', tier });
    appIdByNumber.set(a.id, id);
  }

  const subscriptions: z.input<typeof SubscriptionData>[] = [];
  for (const s of pull.subscriptions) {
    const api = apiIdByNumber.get(s.apiId);
    const application = appIdByNumber.get(s.appId);
    // Subscriptions to APIs not deployed here (gateway label) are normal: left out silently.
    if (!api || !application) continue;
    const state = s.subscriptionState.toUpperCase();
    if (!STATES.has(state)) {
      skipped.push(`subscription ${s.subscriptionId}: unknown state ${s.subscriptionState}`);
      continue;
    }
    if (!subNames.has(s.policyId)) {
      skipped.push(`subscription ${s.subscriptionId}: unknown subscription policy ${s.policyId}`);
      continue;
    }
    subscriptions.push({ application, api, tier: s.policyId, state: state as 'UNBLOCKED' });
  }

  const keyMappings = [];
  for (const k of pull.keyMappings) {
    const application = appIdByNumber.get(k.applicationId);
    if (!application) continue;
    const keyType = (k.keyType ?? 'PRODUCTION').toUpperCase();
    if (keyType !== 'PRODUCTION' && keyType !== 'SANDBOX') {
      skipped.push(`key mapping of application ${application}: unknown key type ${k.keyType}`);
      continue;
    }
    keyMappings.push({
      consumerKey: k.consumerKey,
      keyManager: k.keyManager || 'Resident Key Manager',
      application,
      keyType: keyType as 'PRODUCTION',
    });
  }

  const revokedTokens = (pull.revoked.revokedJWTList ?? []).map((r) => {
    const t = r.expiry_time;
    // expiry_time is epoch millis; tolerate seconds.
    const ms = typeof t === 'number' && t > 0 ? (t < 1e12 ? t * 1000 : t) : null;
    return { jti: r.jwt_signature, expiresAt: ms === null ? null : new Date(ms).toISOString() };
  });

  return {
    data: {
      apis,
      applications,
      subscriptions,
      keyMappings,
      policies: { subscription: subscriptionPolicies, application: applicationPolicies, api: apiPolicies },
      keyIssuers: options.keyIssuers ?? [],
      revokedTokens,
    },
    skipped,
  };
}
