/**
 * One event per request that reached the adapter: who called which API, what was decided, and,
 * when the access log is available, how the upstream answered. Emitted by the check (denials, or
 * every request when access logs are off) or by the access-log stream (allowed requests).
 */
import { z } from 'zod';
import { envelope, IsoTime } from './common.ts';

export const DECISION_KINDS = [
  'allow',
  'unauthenticated',
  'forbidden',
  'not-found',
  'rate-limited',
  'unavailable',
] as const;

export const ApiRef = z.object({
  id: z.string().describe('API id (WSO2 uuid or standalone id)'),
  name: z.string(),
  version: z.string(),
  context: z.string().describe('Versioned context, e.g. /petstore/v1'),
  creator: z.string().describe('API provider (WSO2 apiCreator)'),
  creatorTenantDomain: z.string(),
  type: z.string().describe('WSO2 API type, e.g. HTTP'),
});

export const ApplicationRef = z.object({
  id: z.string().describe('Application id (WSO2 uuid when known)'),
  name: z.string(),
  owner: z.string(),
  tier: z.string().describe('Application throttling policy'),
});

/**
 * The request context the check decided on. It travels in the CheckResponse's dynamic_metadata
 * (namespace `envoy.filters.http.ext_authz`, key REQUEST_CONTEXT_METADATA_KEY) so that the
 * access-log stream, possibly on another adapter replica, can rebuild the full event.
 */
export const RequestContext = z.object({
  requestId: z.string().describe('x-request-id (Envoy sets one on every request)'),
  receivedAt: IsoTime.describe('When the check received the request'),
  api: ApiRef.nullable(),
  resource: z
    .object({ template: z.string(), method: z.string() })
    .nullable()
    .describe('Matched resource (URL template + method)'),
  application: ApplicationRef.nullable(),
  subscriptionTier: z.string().nullable(),
  keyType: z.enum(['PRODUCTION', 'SANDBOX']).nullable(),
  credentialType: z.enum(['apikey', 'oauth2-jwt', 'oauth2-opaque', 'mtls', 'none']),
  userName: z.string().nullable().describe('End user (token subject) when known'),
  decision: z.object({
    kind: z.enum(DECISION_KINDS),
    httpStatus: z.number().int(),
    code: z.number().int().nullable().describe('WSO2 error code, null when allowed'),
    reason: z.string().describe('Machine-readable reason, e.g. SUBSCRIPTION_LIMIT_EXCEEDED'),
    throttleKey: z.string().nullable(),
    overQuota: z.boolean().describe('Allowed although over quota (stopOnQuotaReach: false)'),
    throttleScope: z
      .enum(['cluster', 'fallback', 'instance'])
      .optional()
      .describe(
        'Throttled requests only: the level (reason, throttleKey) tripped on the cluster-wide count across adapter replicas (cluster), on the share of it an instance enforces while the broker is unreachable (fallback), or on this instance alone (instance: no sync, or a window too short to share)',
      ),
  }),
  shadow: z
    .object({
      kind: z.enum(DECISION_KINDS),
      httpStatus: z.number().int(),
      code: z.number().int().nullable(),
      reason: z.string(),
      throttleKey: z.string().nullable(),
    })
    .optional()
    .describe(
      "Shadow enforcement (adapter.enforcement / the API's enforcement = shadow): the denial that was evaluated but not enforced. The request was allowed (`decision` is what was served: kind allow, reason SHADOW_ALLOW), so analytics counts it as served, not as a fault. Absent when the decision was enforced",
    ),
  client: z.object({
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    referer: z.string().nullable(),
  }),
  request: z.object({
    method: z.string(),
    host: z.string(),
    path: z.string().describe('Path without the query string (credentials never appear here)'),
  }),
  adapterInstance: z.string(),
  checkId: z
    .string()
    .min(1)
    .max(160)
    .optional()
    .describe(
      'Identity of the check: `<adapterInstance>~<boot token>:<sequence>`, unique per check and carried by both possible events of the request. The eventId derives from it; absent in events of adapters before it existed',
    ),
  traceId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional()
    .describe(
      "W3C trace id of the check's span (adapter.tracing on): continued from the request's traceparent / b3 headers, else a new trace. Absent when tracing is off",
    ),
  spanId: z
    .string()
    .regex(/^[0-9a-f]{16}$/)
    .optional()
    .describe("Span id of the check's span (with traceId)"),
});
export type RequestContext = z.infer<typeof RequestContext>;

export const RequestAttributes = z.object({
  ...envelope('request-attributes'),
  source: z.enum(['check', 'access-log']),
  ...RequestContext.shape,
  response: z
    .object({
      status: z.number().int().nullable(),
      latencyMs: z
        .number()
        .int()
        .nullable()
        .describe('Total time from first request byte to last response byte'),
      backendLatencyMs: z
        .number()
        .int()
        .nullable()
        .describe('Upstream time, first request byte to last response byte'),
      requestBytes: z.number().int().nullable().describe('Request body bytes received from the client'),
      responseBytes: z.number().int().nullable().describe('Response body bytes sent to the client'),
      upstreamHost: z.string().nullable().describe('Upstream address (ip:port) that served the request'),
      contentType: z
        .string()
        .nullable()
        .optional()
        .describe(
          'Response Content-Type, when Envoy logs it (additional_response_headers_to_log: content-type)',
        ),
    })
    .nullable()
    .describe('Known only from the access log; null when emitted from the check'),
});
export type RequestAttributes = z.infer<typeof RequestAttributes>;

export const REQUEST_CONTEXT_METADATA_NAMESPACE = 'envoy.filters.http.ext_authz';
export const REQUEST_CONTEXT_METADATA_KEY = 'mesh_apim';
