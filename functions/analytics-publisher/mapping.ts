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

/** Synapse's ERROR_CODE for a resource miss inside a matched API (gateway analytics Constants). */
export const RESOURCE_NOT_FOUND_ERROR_CODE = 404;
export const METHOD_NOT_ALLOWED_ERROR_CODE = 405;
const ENDPOINT_SUSPENDED_ERROR_CODE = 303001;

interface Fault {
  type: FaultType;
  code: number;
  sub: FaultSubCategory;
}

/** WSO2 SynapseAnalyticsDataProvider.getFaultType: the category is the error code's range. */
export function faultCategory(code: number): FaultType {
  if (code >= 900900 && code < 901000) return 'AUTH';
  if (code >= 900800 && code < 900900) return 'THROTTLED';
  if ((code >= 101500 && code < 101600) || code === ENDPOINT_SUSPENDED_ERROR_CODE)
    return 'TARGET_CONNECTIVITY';
  return 'OTHER';
}

/** WSO2 FaultCodeClassifier.getFaultSubCategory (an unlisted AUTH/THROTTLED/TARGET code is OTHER). */
export function faultSubCategory(type: FaultType, code: number): FaultSubCategory {
  if (type === 'OTHER') {
    if (code === METHOD_NOT_ALLOWED_ERROR_CODE) return 'METHOD_NOT_ALLOWED';
    if (code === RESOURCE_NOT_FOUND_ERROR_CODE) return 'RESOURCE_NOT_FOUND';
    return 'UNCLASSIFIED';
  }
  const known = WSO2_ERROR_CODES[code];
  return known && known.type === type ? known.sub : 'OTHER';
}

const isSub = (reason: string): reason is FaultSubCategory =>
  (FAULT_SUB_CATEGORIES as readonly string[]).includes(reason);

/** The code WSO2's gateway would carry in ERROR_CODE for this decision. */
function errorCode(ev: RequestAttributes): number | null {
  const d = ev.decision;
  switch (d.kind) {
    case 'allow': {
      const r = ev.response;
      // Envoy answered 502/503/504 itself (no upstream time): WSO2 counts that as a connectivity fault.
      if (r && r.status !== null && (r.status === 502 || r.status === 503 || r.status === 504)) {
        if (r.backendLatencyMs === null) return r.status === 504 ? 101504 : 101503;
      }
      return null;
    }
    // Synapse sets ERROR_CODE 404 for a resource miss inside a matched API (900906 is only the body's code).
    case 'not-found':
      return d.httpStatus === 405 ? METHOD_NOT_ALLOWED_ERROR_CODE : RESOURCE_NOT_FOUND_ERROR_CODE;
    case 'unauthenticated':
      return d.code ?? 900901;
    case 'forbidden':
      return d.code ?? 900908;
    case 'rate-limited':
      return d.code ?? (isSub(d.reason) ? (CODE_BY_SUB[d.reason] ?? 900800) : 900800);
    case 'unavailable':
      return d.code ?? d.httpStatus;
  }
}

function classify(ev: RequestAttributes): Fault | null {
  const code = errorCode(ev);
  if (code === null) return null;
  const type = faultCategory(code);
  return { type, code, sub: faultSubCategory(type, code) };
}

const CANONICAL_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** toISOString of the time, without a Date round trip when it is already in that form (the emitter's). */
const isoUtc = (t: string): string => (CANONICAL_UTC.test(t) ? t : new Date(t).toISOString());

const orUnknown = (v: string | null | undefined): string =>
  v === null || v === undefined || v === '' ? UNKNOWN : v;
const orMinusOne = (v: number | null | undefined): number =>
  v === null || v === undefined || !Number.isFinite(v) ? UNKNOWN_INT : Math.trunc(v);

/**
 * WSO2's `properties` (SynapseAnalyticsDataProvider.getProperties): userName, apiContext,
 * responseSize (0 when unknown) and responseContentType (UNKNOWN when unknown). Gson drops null
 * map values, so an unknown userName is absent, not null.
 */
function wso2Properties(
  ev: RequestAttributes,
  userName: string | null,
  apiContext: string,
): Record<string, unknown> {
  const r = ev.response;
  const size = r?.responseBytes;
  const props: Record<string, unknown> = {};
  if (userName !== null) props.userName = userName;
  props.apiContext = apiContext;
  props.responseSize = size === null || size === undefined || !Number.isFinite(size) ? 0 : Math.trunc(size);
  props.responseContentType = orUnknown(r?.contentType);
  return props;
}

type App = Pick<ApimResponseEvent, 'keyType' | 'applicationId' | 'applicationName' | 'applicationOwner'>;

const unknownApp: App = {
  keyType: UNKNOWN,
  applicationId: UNKNOWN,
  applicationName: UNKNOWN,
  applicationOwner: UNKNOWN,
};
const anonymousApp: App = {
  keyType: ANONYMOUS,
  applicationId: ANONYMOUS,
  applicationName: ANONYMOUS,
  applicationOwner: ANONYMOUS,
};

function knownApp(ev: RequestAttributes): App {
  const app = ev.application;
  if (!app)
    return ev.credentialType === 'none' ? { ...anonymousApp, keyType: orUnknown(ev.keyType) } : unknownApp;
  return {
    keyType: orUnknown(ev.keyType),
    applicationId: orUnknown(app.id),
    applicationName: orUnknown(app.name),
    applicationOwner: orUnknown(app.owner),
  };
}

function response(ev: RequestAttributes, o: MappingOptions): ApimResponseEvent {
  const r = ev.response;
  const latency = r?.latencyMs ?? null;
  const backend = r?.backendLatencyMs ?? null;
  const reachedUpstream = r !== null && backend !== null;
  const apiContext = orUnknown(ev.api?.context);
  const userName = ev.userName || ANONYMOUS;
  const app = knownApp(ev);
  const ua = parseUserAgent(ev.client.userAgent);
  return {
    requestTimestamp: isoUtc(ev.receivedAt),
    correlationId: ev.requestId,
    keyType: app.keyType,
    apiId: orUnknown(ev.api?.id),
    apiType: orUnknown(ev.api?.type),
    apiName: orUnknown(ev.api?.name),
    apiVersion: orUnknown(ev.api?.version),
    apiCreator: orUnknown(ev.api?.creator),
    apiCreatorTenantDomain: orUnknown(ev.api?.creatorTenantDomain),
    apiMethod: orUnknown(ev.resource?.method ?? ev.request.method),
    apiContext,
    apiResourceTemplate: orUnknown(ev.resource?.template),
    destination: orUnknown(r?.upstreamHost),
    applicationId: app.applicationId,
    applicationName: app.applicationName,
    applicationOwner: app.applicationOwner,
    regionId: o.regionId,
    gatewayType: o.gatewayType,
    userAgent: ua.userAgent,
    platform: ua.platform,
    userName,
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
    properties: wso2Properties(ev, userName, apiContext),
  };
}

/**
 * apim:faulty as WSO2's ELK reporter writes it: exactly GenericInputValidator's ELK_ERROR keys
 * (ELKMetricEventBuilder filters the event to them). The application follows WSO2's fault
 * collectors: AUTH -> UNKNOWN (AuthFaultDataCollector), otherwise the authenticated application,
 * anonymous for an anonymous caller, UNKNOWN when unauthenticated.
 */
function faulty(ev: RequestAttributes, o: MappingOptions, f: Fault): ApimFaultyEvent {
  const app = f.type === 'AUTH' ? unknownApp : knownApp(ev);
  // The end user is only known once authentication passed (WSO2 sets END_USER_NAME there).
  const userName =
    f.type === 'AUTH' ? null : (ev.userName ?? (ev.credentialType === 'none' ? ANONYMOUS : null));
  return {
    requestTimestamp: isoUtc(ev.receivedAt),
    correlationId: ev.requestId,
    keyType: app.keyType,
    errorType: f.type,
    errorCode: f.code,
    errorMessage: f.sub,
    apiId: orUnknown(ev.api?.id),
    apiType: orUnknown(ev.api?.type),
    apiName: orUnknown(ev.api?.name),
    apiVersion: orUnknown(ev.api?.version),
    apiCreator: orUnknown(ev.api?.creator),
    apiCreatorTenantDomain: orUnknown(ev.api?.creatorTenantDomain),
    applicationId: app.applicationId,
    applicationName: app.applicationName,
    applicationOwner: app.applicationOwner,
    regionId: o.regionId,
    gatewayType: o.gatewayType,
    proxyResponseCode: ev.response?.status ?? ev.decision.httpStatus,
    // FaultyRequestDataCollector: the target response code of a fault is always UNKNOWN (-1).
    targetResponseCode: UNKNOWN_INT,
    properties: wso2Properties(ev, userName, orUnknown(ev.api?.context)),
  };
}

export function toAnalytics(ev: RequestAttributes, o: MappingOptions = DEFAULT_MAPPING): Mapped {
  // WSO2 publishes nothing for a request that matched no API at all; a resource miss inside an API is a fault.
  if (ev.decision.kind === 'not-found' && ev.api === null) {
    return { metric: null, reason: 'no API matched (WSO2 publishes no analytics for it)' };
  }
  const fault = classify(ev);
  if (!fault) return { metric: RESPONSE_METRIC, data: response(ev, o) };
  return { metric: FAULTY_METRIC, data: faulty(ev, o, fault) };
}
