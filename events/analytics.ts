/**
 * WSO2 API Manager analytics events, as WSO2's ELK reporter writes them (apim-analytics-publisher
 * ELKCounterMetric + ELKMetricEventBuilder): metric `apim:response` for served requests and
 * `apim:faulty` for failed ones, with WSO2's field names and types. The raw userAgentHeader is
 * replaced by its parsed `userAgent` + `platform` (browser and OS family), and `apiContext` /
 * `userName` sit at the root of apim:response, exactly as the ELK builder emits them; apim:faulty
 * carries only the ELK_ERROR attributes. Unknown values use WSO2's
 * placeholders: "UNKNOWN" for strings, -1 for numbers, "anonymous" for unauthenticated users.
 */
import { z } from 'zod';
import { envelope } from './common.ts';

export const UNKNOWN = 'UNKNOWN';
export const UNKNOWN_INT = -1;
export const ANONYMOUS = 'anonymous';

/** WSO2 FaultCategory. */
export const FAULT_TYPES = ['AUTH', 'THROTTLED', 'TARGET_CONNECTIVITY', 'OTHER'] as const;

/** WSO2 FaultSubCategories, published as errorMessage. */
export const FAULT_SUB_CATEGORIES = [
  // Authentication
  'AUTHENTICATION_FAILURE',
  'AUTHORIZATION_FAILURE',
  'SUBSCRIPTION_VALIDATION_FAILURE',
  // Throttling
  'API_LEVEL_LIMIT_EXCEEDED',
  'HARD_LIMIT_EXCEEDED',
  'RESOURCE_LEVEL_LIMIT_EXCEEDED',
  'APPLICATION_LEVEL_LIMIT_EXCEEDED',
  'SUBSCRIPTION_LIMIT_EXCEEDED',
  'BLOCKED',
  'CUSTOM_POLICY_LIMIT_EXCEEDED',
  'BURST_CONTROL_LIMIT_EXCEEDED',
  'QUERY_TOO_DEEP',
  'QUERY_TOO_COMPLEX',
  // Target connectivity
  'CONNECTION_TIMEOUT',
  'CONNECTION_SUSPENDED',
  // Other
  'MEDIATION_ERROR',
  'RESOURCE_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'UNCLASSIFIED',
  'OTHER',
] as const;

const int = z.number().int();

const responseShape = {
  requestTimestamp: z.string().describe('ISO-8601 UTC time the request arrived'),
  correlationId: z.string().describe('Request id (x-request-id); the idempotency key of sinks'),
  keyType: z.string().describe('PRODUCTION / SANDBOX / UNKNOWN'),
  apiId: z.string(),
  apiType: z.string(),
  apiName: z.string(),
  apiVersion: z.string(),
  apiCreator: z.string(),
  apiCreatorTenantDomain: z.string(),
  apiMethod: z.string(),
  apiContext: z.string(),
  apiResourceTemplate: z.string(),
  destination: z.string().describe('Upstream the request was routed to'),
  applicationId: z.string(),
  applicationName: z.string(),
  applicationOwner: z.string(),
  regionId: z.string(),
  gatewayType: z.string(),
  userAgent: z.string().describe('Browser/client family parsed from the User-Agent header'),
  platform: z.string().describe('OS family parsed from the User-Agent header'),
  userName: z.string(),
  userIp: z.string(),
  proxyResponseCode: int.describe('Status the client received'),
  targetResponseCode: int.describe('Status the upstream answered (-1: never reached)'),
  responseCacheHit: z.boolean(),
  responseLatency: int.describe('ms, first request byte to last response byte'),
  backendLatency: int.describe('ms spent in the upstream'),
  requestMediationLatency: int.describe('ms spent in the mesh before the upstream'),
  responseMediationLatency: int.describe('ms spent in the mesh after the upstream'),
  properties: z
    .record(z.string(), z.unknown())
    .describe(
      "WSO2's properties (SynapseAnalyticsDataProvider.getProperties): userName (absent when unknown), apiContext, responseSize (0 when unknown), responseContentType (UNKNOWN when unknown)",
    ),
};

export const ApimResponseEvent = z.strictObject(responseShape);
export type ApimResponseEvent = z.infer<typeof ApimResponseEvent>;

/**
 * apim:faulty carries exactly GenericInputValidator's ELK_ERROR attributes: ELKMetricEventBuilder
 * keeps only those keys, so no latencies, user agent, userIp, apiContext or userName at the root
 * (apiContext and userName stay inside `properties`).
 */
export const ApimFaultyEvent = z.strictObject({
  requestTimestamp: responseShape.requestTimestamp,
  correlationId: responseShape.correlationId,
  keyType: responseShape.keyType,
  errorType: z.enum(FAULT_TYPES),
  errorCode: int.describe('WSO2 error code (Synapse ERROR_CODE), e.g. 900901, 900804, 101504, 404'),
  errorMessage: z.enum(FAULT_SUB_CATEGORIES).describe('WSO2 fault sub-category'),
  apiId: responseShape.apiId,
  apiType: responseShape.apiType,
  apiName: responseShape.apiName,
  apiVersion: responseShape.apiVersion,
  apiCreator: responseShape.apiCreator,
  apiCreatorTenantDomain: responseShape.apiCreatorTenantDomain,
  applicationId: responseShape.applicationId,
  applicationName: responseShape.applicationName,
  applicationOwner: responseShape.applicationOwner,
  regionId: responseShape.regionId,
  gatewayType: responseShape.gatewayType,
  proxyResponseCode: responseShape.proxyResponseCode,
  targetResponseCode: int.describe('Always -1 for a fault (WSO2 FaultyRequestDataCollector)'),
  properties: responseShape.properties,
});
export type ApimFaultyEvent = z.infer<typeof ApimFaultyEvent>;

export const RESPONSE_METRIC = 'apim:response';
export const FAULTY_METRIC = 'apim:faulty';

/** The analytics topic's event: the WSO2 metric name and its properties, in our envelope. */
export const AnalyticsEvent = z.discriminatedUnion('metric', [
  z.object({
    ...envelope('apim-analytics'),
    metric: z.literal(RESPONSE_METRIC),
    data: ApimResponseEvent,
  }),
  z.object({
    ...envelope('apim-analytics'),
    metric: z.literal(FAULTY_METRIC),
    data: ApimFaultyEvent,
  }),
]);
export type AnalyticsEvent = z.infer<typeof AnalyticsEvent>;
