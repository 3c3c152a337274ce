/**
 * request-attributes -> WSO2 analytics event: the pure mapping (no I/O, no clock). One decision
 * table: the decision kind picks the metric and the WSO2 fault category, the WSO2 error code picks
 * the sub-category exactly as WSO2's FaultCodeClassifier does.
 */
import {
  ANONYMOUS,
  type ApimFaultyEvent,
  type ApimResponseEvent,
  FAULT_SUB_CATEGORIES,
  FAULTY_METRIC,
  RESPONSE_METRIC,
  UNKNOWN,
  UNKNOWN_INT,
} from '../../events/analytics.ts';
import type { RequestAttributes } from '../../events/request-attributes.ts';
import { parseUserAgent } from './user-agent.ts';

export type FaultType = ApimFaultyEvent['errorType'];
export type FaultSubCategory = ApimFaultyEvent['errorMessage'];

export type Mapped =
  | { metric: typeof RESPONSE_METRIC; data: ApimResponseEvent }
  | { metric: typeof FAULTY_METRIC; data: ApimFaultyEvent }
  | { metric: null; reason: string };

export interface MappingOptions {
  /** WSO2 regionId of this deployment. */
  regionId: string;
  /** WSO2 gatewayType; Envoy-based gateways publish ENVOY. */
  gatewayType: string;
}

export const DEFAULT_MAPPING: MappingOptions = { regionId: 'default', gatewayType: 'ENVOY' };

/** WSO2 APISecurityConstants / APIThrottleConstants / Synapse codes -> sub-category. */
export const WSO2_ERROR_CODES: Record<number, { type: FaultType; sub: FaultSubCategory }> = {
  900900: { type: 'AUTH', sub: 'AUTHENTICATION_FAILURE' }, // general auth error
  900901: { type: 'AUTH', sub: 'AUTHENTICATION_FAILURE' }, // invalid credentials
  900902: { type: 'AUTH', sub: 'AUTHENTICATION_FAILURE' }, // missing credentials
  900903: { type: 'AUTH', sub: 'AUTHENTICATION_FAILURE' }, // access token expired
  900904: { type: 'AUTH', sub: 'AUTHENTICATION_FAILURE' }, // access token inactive
  900905: { type: 'AUTH', sub: 'AUTHORIZATION_FAILURE' }, // incorrect access token type
  900910: { type: 'AUTH', sub: 'AUTHORIZATION_FAILURE' }, // invalid scope
  900907: { type: 'AUTH', sub: 'SUBSCRIPTION_VALIDATION_FAILURE' }, // API blocked
  900908: { type: 'AUTH', sub: 'SUBSCRIPTION_VALIDATION_FAILURE' }, // forbidden (no subscription)
  900909: { type: 'AUTH', sub: 'SUBSCRIPTION_VALIDATION_FAILURE' }, // subscription inactive
  900800: { type: 'THROTTLED', sub: 'API_LEVEL_LIMIT_EXCEEDED' },
  900801: { type: 'THROTTLED', sub: 'HARD_LIMIT_EXCEEDED' },
  900802: { type: 'THROTTLED', sub: 'RESOURCE_LEVEL_LIMIT_EXCEEDED' },
  900803: { type: 'THROTTLED', sub: 'APPLICATION_LEVEL_LIMIT_EXCEEDED' },
  900804: { type: 'THROTTLED', sub: 'SUBSCRIPTION_LIMIT_EXCEEDED' },
  900805: { type: 'THROTTLED', sub: 'BLOCKED' },
  900806: { type: 'THROTTLED', sub: 'CUSTOM_POLICY_LIMIT_EXCEEDED' },
  900807: { type: 'THROTTLED', sub: 'BURST_CONTROL_LIMIT_EXCEEDED' },
  101503: { type: 'TARGET_CONNECTIVITY', sub: 'OTHER' }, // connection failed
  101504: { type: 'TARGET_CONNECTIVITY', sub: 'CONNECTION_TIMEOUT' },
  101508: { type: 'TARGET_CONNECTIVITY', sub: 'CONNECTION_TIMEOUT' },
  303001: { type: 'TARGET_CONNECTIVITY', sub: 'CONNECTION_SUSPENDED' },
  404: { type: 'OTHER', sub: 'RESOURCE_NOT_FOUND' },
  405: { type: 'OTHER', sub: 'METHOD_NOT_ALLOWED' },
};

/** Sub-category name -> its canonical code, for decisions that carry the reason but no code. */
const CODE_BY_SUB: Partial<Record<FaultSubCategory, number>> = {};
for (const [code, { sub }] of Object.entries(WSO2_ERROR_CODES)) CODE_BY_SUB[sub] ??= Number(code);

interface Fault {
  type: FaultType;
  code: number;
  sub: FaultSubCategory;
}

function isSub(reason: string): reason is FaultSubCategory {
  return (FAULT_SUB_CATEGORIES as readonly string[]).includes(reason);
}

/** Category from the decision kind; sub-category from the code (WSO2's classifier), else the reason. */
function classify(ev: RequestAttributes): Fault | null {
  const d = ev.decision;
  const fromCode = (type: FaultType, defaultCode: number, defaultSub: FaultSubCategory): Fault => {
    const known = d.code === null ? undefined : WSO2_ERROR_CODES[d.code];
    if (known && known.type === type) return { type, code: d.code!, sub: known.sub };
    if (isSub(d.reason) && (d.code !== null || CODE_BY_SUB[d.reason] !== undefined)) {
      return { type, code: d.code ?? CODE_BY_SUB[d.reason]!, sub: d.reason };
    }
    return { type, code: d.code ?? defaultCode, sub: defaultSub };
  };
  switch (d.kind) {
    case 'allow': {
      const r = ev.response;
      // Envoy answered 502/503/504 itself (no upstream time): WSO2 counts that as a connectivity fault.
      if (r && r.status !== null && [502, 503, 504].includes(r.status) && r.backendLatencyMs === null) {
        return r.status === 504
          ? { type: 'TARGET_CONNECTIVITY', code: 101504, sub: 'CONNECTION_TIMEOUT' }
          : { type: 'TARGET_CONNECTIVITY', code: 101503, sub: 'OTHER' };
      }
      return null;
    }
    case 'unauthenticated':
      return fromCode('AUTH', 900901, 'AUTHENTICATION_FAILURE');
    case 'forbidden':
      return fromCode('AUTH', 900908, 'SUBSCRIPTION_VALIDATION_FAILURE');
    case 'rate-limited':
      return fromCode('THROTTLED', 900800, 'OTHER');
    case 'not-found':
      return fromCode('OTHER', 404, 'RESOURCE_NOT_FOUND');
    case 'unavailable':
      return { type: 'OTHER', code: d.code ?? d.httpStatus, sub: 'UNCLASSIFIED' };
  }
}

const orUnknown = (v: string | null | undefined): string =>
  v === null || v === undefined || v === '' ? UNKNOWN : v;
const orMinusOne = (v: number | null | undefined): number =>
  v === null || v === undefined || !Number.isFinite(v) ? UNKNOWN_INT : Math.trunc(v);

function common(ev: RequestAttributes, o: MappingOptions): ApimResponseEvent {
  const r = ev.response;
  const anonymous = ev.credentialType === 'none';
  const app = ev.application;
  const latency = r?.latencyMs ?? null;
  const backend = r?.backendLatencyMs ?? null;
  const reachedUpstream = r !== null && backend !== null;
  const properties: Record<string, unknown> = {
    eventId: ev.eventId,
    source: ev.source,
    host: ev.request.host,
    credentialType: ev.credentialType,
    decision: ev.decision.kind,
    decisionReason: ev.decision.reason,
    subscriptionTier: orUnknown(ev.subscriptionTier),
    applicationTier: orUnknown(app?.tier),
    overQuota: ev.decision.overQuota,
    requestSize: orMinusOne(r?.requestBytes),
    responseSize: orMinusOne(r?.responseBytes),
    adapterInstance: ev.adapterInstance,
  };
  if (ev.decision.throttleKey !== null) properties.throttleKey = ev.decision.throttleKey;
  return {
    requestTimestamp: new Date(ev.receivedAt).toISOString(),
    correlationId: ev.requestId,
    keyType: orUnknown(ev.keyType),
    apiId: orUnknown(ev.api?.id),
    apiType: orUnknown(ev.api?.type),
    apiName: orUnknown(ev.api?.name),
    apiVersion: orUnknown(ev.api?.version),
    apiCreator: orUnknown(ev.api?.creator),
    apiCreatorTenantDomain: orUnknown(ev.api?.creatorTenantDomain),
    apiMethod: orUnknown(ev.resource?.method ?? ev.request.method),
    apiContext: orUnknown(ev.api?.context),
    apiResourceTemplate: orUnknown(ev.resource?.template),
    destination: orUnknown(r?.upstreamHost),
    applicationId: app ? orUnknown(app.id) : anonymous ? ANONYMOUS : UNKNOWN,
    applicationName: app ? orUnknown(app.name) : anonymous ? ANONYMOUS : UNKNOWN,
    applicationOwner: app ? orUnknown(app.owner) : anonymous ? ANONYMOUS : UNKNOWN,
    regionId: o.regionId,
    gatewayType: o.gatewayType,
    ...parseUserAgent(ev.client.userAgent),
    userName: ev.userName || ANONYMOUS,
    userIp: orUnknown(ev.client.ip),
    proxyResponseCode: r?.status ?? ev.decision.httpStatus,
    targetResponseCode: reachedUpstream ? orMinusOne(r.status) : UNKNOWN_INT,
    responseCacheHit: false,
    responseLatency: orMinusOne(latency),
    backendLatency: orMinusOne(backend),
    // Envoy reports total and upstream time only: the mesh's share is all counted on the request side.
    requestMediationLatency:
      latency !== null && backend !== null ? Math.max(0, latency - backend) : UNKNOWN_INT,
    responseMediationLatency: latency !== null && backend !== null ? 0 : UNKNOWN_INT,
    properties,
  };
}

export function toAnalytics(ev: RequestAttributes, o: MappingOptions = DEFAULT_MAPPING): Mapped {
  // WSO2 publishes nothing for a request that matched no API at all; a resource miss inside an API is a fault.
  if (ev.decision.kind === 'not-found' && ev.api === null) {
    return { metric: null, reason: 'no API matched (WSO2 publishes no analytics for it)' };
  }
  const base = common(ev, o);
  const fault = classify(ev);
  if (!fault) return { metric: RESPONSE_METRIC, data: base };
  return {
    metric: FAULTY_METRIC,
    data: { ...base, errorType: fault.type, errorCode: fault.code, errorMessage: fault.sub },
  };
}
