import { z } from 'zod';
import { ALWAYS, hostPort } from '../common/config/fields.ts';

/** gRPC server limits: `adapter.grpc`, also the transports' defaults (DEFAULT_LIMITS). */
export const GrpcConfigSchema = z
  .object({
    maxMessageBytes: z
      .number()
      .int()
      .min(1024)
      .default(4 * 1024 * 1024)
      .describe('Largest gRPC request message accepted (after decompression); larger: RESOURCE_EXHAUSTED.'),
    maxConcurrentStreams: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe('Concurrent gRPC calls per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).'),
    requestTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe(
        'http2 transport: a unary call (Check, health) not received and answered within this is ended DEADLINE_EXCEEDED, with or without grpc-timeout.',
      ),
    keepaliveIntervalMs: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'http2 transport: interval of server PINGs on each connection (0 = off; client PINGs are always answered).',
      ),
    keepaliveTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(20_000)
      .describe('http2 transport: a server PING unanswered this long closes the connection.'),
  })
  .prefault({})
  .describe('gRPC server limits and keepalive.');

/** The ext_authz adapter: the `adapter` section of the configuration (docs/configuration.md). */
export const AdapterConfigSchema = z
  .object({
    grpcAddress: hostPort
      .default('127.0.0.1:9191')
      .describe('ext_authz Check + ALS gRPC listen address; use 0.0.0.0:9191 in containers.'),
    adminAddress: hostPort
      .default('127.0.0.1:9192')
      .describe('Admin HTTP listen address: /healthz, /readyz, /metrics.'),
    drainMs: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .describe(
        'On stop (SIGTERM): /readyz answers 503 at once and checks keep being answered this long, so proxies move to other replicas first; then the adapter stops. 0 = stop at once.',
      ),
    failureMode: z
      .enum(['closed', 'open'])
      .default('closed')
      .describe('Answer when the check itself fails internally: closed = deny (503), open = allow.'),
    enforcement: z
      .enum(['enforce', 'shadow'])
      .default('enforce')
      .describe(
        "enforce = answer what the check decides; shadow = evaluate everything, log and count what would be denied (mesh_apim_shadow_decisions_total), and allow. An API's own `enforcement` (standalone YAML) overrides this.",
      ),
    tracing: z
      .boolean()
      .default(false)
      .describe(
        "OpenTelemetry: a span per check, continued from the request's traceparent / b3 headers, exported over OTLP/HTTP. The standard OTEL_* variables apply (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG; OTEL_SDK_DISABLED=true wins). Off: the SDK is never loaded.",
      ),
    controlPlane: z
      .enum(['standalone', 'apim'])
      .default('standalone')
      .describe('Policy snapshot source: the standalone YAML file or WSO2 API Manager internal data API.'),
    standaloneFile: z
      .string()
      .default('config/standalone.yaml')
      .describe(
        'Declarative APIs/applications/subscriptions/policies file for the standalone control plane.',
      ),
    standaloneFragmentsDir: z
      .string()
      .default('')
      .describe(
        'Directory of extra standalone YAML fragments merged into the standalone file (written by the API auto-creator); empty = <dataDir>/standalone.d.',
      ),
    apiKeyAllowNoExpiry: z
      .boolean()
      .default(true)
      .describe(
        'Accept API keys without `exp`: the Developer Portal issues keys with validity -1 by default and WSO2 then leaves `exp` out (its gateway accepts them). Revocation and the `jti` still apply. Set false to require `exp`.',
      ),
    xffTrustedHops: z
      .number()
      .int()
      .min(0)
      .max(16)
      .default(0)
      .describe(
        'Trusted proxies whose own X-Forwarded-For entries sit at the right end of the header (Envoy `xff_num_trusted_hops`, Istio `numTrustedProxies` of the ingress gateway). The client IP (permittedIP, analytics userIp, Unauthenticated tier) is `x-envoy-external-address` when present, else the XFF entry this many places from the right, else the source address.',
      ),
    clientCertificateSource: z
      .enum(['peer', 'xfcc'])
      .default('peer')
      .describe(
        'Where the client certificate of a mutual-TLS API (securitySchemes `mutualssl`) comes from. `peer`: the TLS peer of the Envoy that runs ext_authz (`attributes.source.certificate`, sent with `include_peer_certificate: true`); right where that Envoy terminates the client TLS (an ingress gateway). `xfcc`: the `Cert=` of `x-forwarded-client-cert`, believed only when the TLS peer is one of `xfccTrustedPrincipals`; for sidecars behind an Istio ingress gateway with `forwardClientCertDetails: SANITIZE_SET`.',
      ),
    xfccTrustedPrincipals: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'TLS peer principals (`attributes.source.principal`, in Istio the SPIFFE id, e.g. spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account) whose `x-forwarded-client-cert` is believed. Required when clientCertificateSource is `xfcc`.',
      ),
    accessLogs: z
      .boolean()
      .default(true)
      .describe(
        'True when Envoy streams access logs (ALS) to the adapter: allowed requests are emitted from the access log. False: every event is emitted from the check.',
      ),
    throttleMaxKeys: z
      .number()
      .int()
      .positive()
      .default(1_000_000)
      .describe(
        'Upper bound of throttle counters kept in memory (unauthenticated clients at most half). Ended windows are dropped to make room; a live counter is never evicted: a request that needs a new counter when none fits is denied 429 (THROTTLE_CAPACITY_EXCEEDED) and counted in mesh_apim_throttle_refused_total.',
      ),
    throttleSync: z
      .boolean()
      .default(true)
      .describe(
        'Cluster-wide quotas: with an event bus, instances share their throttle counts over the throttle topic and each enforces its lease of the remaining budget (adapter/quota; docs/deployment.md "Quotas across replicas"). False: every quota is per instance. One instance behaves the same either way.',
      ),
    throttleSyncIntervalMs: z
      .number()
      .int()
      .min(20)
      .max(10_000)
      .default(250)
      .describe(
        'How often each instance reports its counts and re-leases: the overshoot bound grows with it (at most what the cluster admits in one interval plus the delivery delay).',
      ),
    throttleSyncLeaseTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(2000)
      .describe(
        'An instance whose reports stop this long is dead (its unused lease returns to the others), and an instance whose own reports the broker has not taken this long falls back to limit / expected instances.',
      ),
    throttleSyncExpectedInstances: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'Instances the fallback (broker unreachable, topic not read yet) divides each quota by; 0 = as many as were live when last in sync (1 at a start without the broker). Set it to the replica count (HPA minReplicas) for a known bound.',
      ),
    throttleSyncLocalBelowMs: z
      .number()
      .int()
      .min(0)
      .default(5000)
      .describe(
        'Windows shorter than this (burst control, per-second tiers) are not leased: each instance enforces limit / live instances, since a budget cannot be re-shared within a few sync intervals.',
      ),
    throttleSyncCatchUpTimeoutMs: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe(
        'At start, how long the adapter waits to read the throttle topic up to its end before serving (the fallback share applies until it has).',
      ),
    credentialCacheMaxBytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024)
      .describe(
        'Bound in (estimated) bytes of each credential cache (verified API keys, verified JWT access tokens, introspection answers), beside its entry bound.',
      ),
    transport: z
      .enum(['http2', 'grpc-js'])
      .default('http2')
      .describe(
        'gRPC server of Check, ALS and health: http2 = the lean node:http2 transport (adapter/transport/http2); grpc-js = @grpc/grpc-js (fallback).',
      ),
    grpc: GrpcConfigSchema,
  })
  .superRefine((adapter, ctx) => {
    if (
      adapter.clientCertificateSource === 'xfcc' &&
      Array.isArray(adapter.xfccTrustedPrincipals) &&
      adapter.xfccTrustedPrincipals.length === 0
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['xfccTrustedPrincipals'],
        message:
          'adapter.clientCertificateSource is xfcc but adapter.xfccTrustedPrincipals is empty: an x-forwarded-client-cert header is only believed from a trusted gateway',
      });
    }
  }, ALWAYS)
  .prefault({});

/** The slice's defaults, for callers without a config (tests, benches). */
export const ADAPTER_DEFAULTS = AdapterConfigSchema.parse({});
