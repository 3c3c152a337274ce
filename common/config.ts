/**
 * The one typed configuration module. Sources, lowest precedence first:
 *   1. defaults declared here (every setting has one and a description; docs/configuration.md lists them),
 *   2. a YAML/JSON file: `--config <file>` or MESH_APIM_CONFIG,
 *   3. environment variables: MESH_APIM_<PATH> with each path segment in SCREAMING_SNAKE joined by `_`
 *      (adapter.grpcAddress -> MESH_APIM_ADAPTER_GRPC_ADDRESS), plus the aliases in ENV_ALIASES.
 * Validated once at start; an invalid value fails fast with the setting's path and the problem.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port');

export const ConfigSchema = z.object({
  dataDir: z
    .string()
    .default('.data')
    .describe(
      'Directory for durable local state: signing key, embedded log, spool, snapshots, analytics files.',
    ),
  logLevel: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
    .default('info')
    .describe('Log level of the structured JSON logs (stderr).'),
  instanceId: z
    .string()
    .default('')
    .describe('Identity of this process (queue names, event producer id); empty = hostname + pid.'),

  adapter: z
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
      grpcMaxMessageBytes: z
        .number()
        .int()
        .min(1024)
        .default(4 * 1024 * 1024)
        .describe('Largest gRPC request message accepted (after decompression); larger: RESOURCE_EXHAUSTED.'),
      grpcMaxConcurrentStreams: z
        .number()
        .int()
        .min(1)
        .default(1000)
        .describe('Concurrent gRPC calls per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).'),
      grpcRequestTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe(
          'http2 transport: a unary call (Check, health) not received and answered within this is ended DEADLINE_EXCEEDED, with or without grpc-timeout.',
        ),
      grpcKeepaliveIntervalMs: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe(
          'http2 transport: interval of server PINGs on each connection (0 = off; client PINGs are always answered).',
        ),
      grpcKeepaliveTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(20_000)
        .describe('http2 transport: a server PING unanswered this long closes the connection.'),
    })
    .prefault({}),

  apim: z
    .object({
      url: z
        .string()
        .default('')
        .describe('WSO2 API Manager base URL, e.g. https://apim:9443 (empty = not used).'),
      username: z.string().default('').describe('Basic-auth user for the internal data API / DCR.'),
      password: z.string().default('').describe('Basic-auth password for the internal data API / DCR.'),
      secretArn: z
        .string()
        .default('')
        .describe(
          'Secrets Manager ARN of the API Manager credentials, JSON {"username","password"}; read at Lambda cold start into apim.username/password (empty = not used).',
        ),
      tenant: z.string().default('carbon.super').describe('Tenant domain sent as xWSO2Tenant.'),
      publisherUrl: z
        .string()
        .default('')
        .describe(
          "Base URL of the Publisher REST API v4, DCR and /oauth2/token, where mutual-TLS APIs' client certificates are read (scope apim:client_certificates_view; empty = apim.url).",
        ),
      publisherUsername: z
        .string()
        .default('')
        .describe(
          'User the Publisher token is requested for (password grant; needs apim:client_certificates_view; empty = apim.username).',
        ),
      publisherPassword: z
        .string()
        .default('')
        .describe('Password of apim.publisherUsername (empty = apim.password).'),
      caFile: z
        .string()
        .default('')
        .describe('PEM CA bundle to trust for API Manager TLS (empty = system CAs).'),
      certFile: z.string().default('').describe('Client certificate (PEM) for mutual TLS (empty = none).'),
      keyFile: z.string().default('').describe('Client key (PEM) for mutual TLS (empty = none).'),
      refreshIntervalMs: z
        .number()
        .int()
        .positive()
        .default(30_000)
        .describe('Period of the full control-plane pull.'),
      requestTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe('Timeout of one API Manager request.'),
      gatewayLabel: z
        .string()
        .default('')
        .describe('Pull only the APIs deployed to this gateway environment label (empty = all APIs).'),
      apiKeyCertificateFile: z
        .string()
        .default('')
        .describe(
          'PEM certificate of the key API Manager signs API keys with (control plane apim; empty = API keys not accepted).',
        ),
      apiKeyKid: z
        .string()
        .default('gateway_certificate_alias')
        .describe('`kid` of API Manager-issued API keys (WSO2 uses the certificate alias).'),
    })
    .prefault({}),

  oauth: z
    .object({
      issuers: z
        .array(
          z.object({
            issuer: z.string().min(1).describe('Expected `iss` claim.'),
            keyManager: z
              .string()
              .default('Resident Key Manager')
              .describe('Key manager name in the application key mappings (consumer key -> application).'),
            jwksUrl: z.string().default('').describe('JWKS endpoint (this or certificateFile).'),
            certificateFile: z.string().default('').describe('PEM certificate whose key signs the tokens.'),
            audience: z
              .array(z.string())
              .default([])
              .describe('Accepted `aud` values (empty = audience not checked).'),
            algorithms: z.array(z.string()).default(['RS256']).describe('Accepted JWS algorithms.'),
            clockSkewSeconds: z.number().int().nonnegative().default(60),
            consumerKeyClaim: z
              .string()
              .default('azp')
              .describe('Claim carrying the consumer key (WSO2: azp; others: client_id, consumerKey).'),
          }),
        )
        .default([])
        .describe(
          'Trusted OAuth2 JWT issuers (config file only): issuer, keyManager, jwksUrl or certificateFile, audience, algorithms, clockSkewSeconds, consumerKeyClaim.',
        ),
      jwksMaxAgeMs: z
        .number()
        .int()
        .positive()
        .default(600_000)
        .describe('JWKS served from memory without refresh for this long.'),
      jwksStaleWindowMs: z
        .number()
        .int()
        .nonnegative()
        .default(86_400_000)
        .describe('After max age, cached keys stay usable this long while the JWKS endpoint fails.'),
      jwksCooldownMs: z
        .number()
        .int()
        .positive()
        .default(30_000)
        .describe('Minimum time between JWKS refreshes (unknown kid floods cause at most one per cooldown).'),
      introspectionUrl: z
        .string()
        .default('')
        .describe(
          'RFC 7662 endpoint for opaque tokens, e.g. https://apim:9443/oauth2/introspect (empty = opaque tokens rejected).',
        ),
      introspectionKeyManager: z
        .string()
        .default('Resident Key Manager')
        .describe('Key manager name of introspected tokens (consumer key -> application).'),
      introspectionClientId: z.string().default('').describe('Client id for introspection.'),
      introspectionClientSecret: z.string().default('').describe('Client secret for introspection.'),
      introspectionClientAuth: z
        .enum(['basic', 'client_secret_post'])
        .default('basic')
        .describe('How the client authenticates to the introspection endpoint (RFC 6749 2.3.1).'),
      introspectionCacheMaxMs: z
        .number()
        .int()
        .positive()
        .default(300_000)
        .describe('Active tokens are cached until exp, at most this long.'),
      introspectionNegativeCacheMs: z
        .number()
        .int()
        .nonnegative()
        .default(30_000)
        .describe('Inactive tokens are cached this long.'),
      introspectionCacheMaxEntries: z
        .number()
        .int()
        .positive()
        .default(100_000)
        .describe('Bound of the introspection cache (oldest dropped first).'),
      introspectionTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(3_000)
        .describe('Timeout of one introspection call.'),
      introspectionFailOpenApis: z
        .array(z.string())
        .default([])
        .describe(
          'APIs (context, e.g. /petstore/v1) that allow requests while introspection is unavailable; all others fail closed (503).',
        ),
    })
    .prefault({}),

  bus: z
    .object({
      kind: z
        .enum(['embedded', 'kafka'])
        .default('embedded')
        .describe(
          'Event bus: the embedded durable log (standalone) or Kafka. Setting KAFKA_BROKERS selects kafka.',
        ),
      topicPrefix: z
        .string()
        .default('')
        .describe('Prefix prepended to every topic name (multi-tenant clusters).'),
      kafka: z
        .object({
          brokers: z
            .array(z.string())
            .default([])
            .describe('Kafka bootstrap brokers (comma-separated in env: KAFKA_BROKERS).'),
          clientId: z.string().default('mesh-apim').describe('Kafka client id.'),
          ssl: z.boolean().default(false).describe('Use TLS to the brokers.'),
          sslCa: z
            .string()
            .default('')
            .describe('PEM CA bundle trusted for broker TLS (empty = system CAs).'),
          sslCert: z
            .string()
            .default('')
            .describe('Client certificate chain (PEM) for mutual TLS to the brokers (empty = none).'),
          sslKey: z.string().default('').describe('Client private key (PEM) for mutual TLS to the brokers.'),
          sslKeyPassword: z
            .string()
            .default('')
            .describe('Passphrase of bus.kafka.sslKey when it is encrypted (empty = not encrypted).'),
          secretArn: z
            .string()
            .default('')
            .describe(
              'Secrets Manager ARN of the Kafka client credentials, read at Lambda cold start: SASL/SCRAM JSON {"username","password"} (MSK AmazonMSK_* secret) into saslUsername/saslPassword, or mTLS JSON {"certificate","privateKey"[,"privateKeyPassword"]} into sslCert/sslKey (empty = not used).',
            ),
          caSecretArn: z
            .string()
            .default('')
            .describe(
              'Secrets Manager ARN of the brokers\' root CA: JSON {"certificate":"<PEM>"} (Lambda SERVER_ROOT_CA_CERTIFICATE format) or the PEM itself; read at Lambda cold start into sslCa and turns ssl on (empty = not used).',
            ),
          saslMechanism: z
            .enum(['none', 'plain', 'scram-sha-256', 'scram-sha-512', 'aws'])
            .default('none')
            .describe(
              'SASL mechanism; aws = Amazon MSK IAM access control (SASL/OAUTHBEARER with a token signed by aws-msk-iam-sasl-signer-js from the default AWS credential chain; MSK port 9098, with bus.kafka.ssl true).',
            ),
          awsRegion: z
            .string()
            .default('')
            .describe(
              'Region the MSK IAM auth token is signed for (saslMechanism aws; empty = AWS_REGION / AWS_DEFAULT_REGION, else the region in the MSK broker host names).',
            ),
          awsTokenRefreshMarginMs: z
            .number()
            .int()
            .positive()
            .default(60_000)
            .describe(
              'MSK IAM: the cached auth token (15 min, or shorter when the credentials expire sooner) is signed again this long before it expires.',
            ),
          saslUsername: z.string().default('').describe('SASL username.'),
          saslPassword: z.string().default('').describe('SASL password.'),
          replicationFactor: z
            .number()
            .int()
            .positive()
            .default(1)
            .describe(
              'Replication factor of topics created by `topics apply` (use 3 on production clusters).',
            ),
          connectionTimeoutMs: z
            .number()
            .int()
            .positive()
            .default(3000)
            .describe('TCP/TLS connect timeout to a broker.'),
          requestTimeoutMs: z
            .number()
            .int()
            .positive()
            .default(30_000)
            .describe('Timeout of one broker request (produce waits for acks=all within it).'),
          sessionTimeoutMs: z
            .number()
            .int()
            .positive()
            .default(30_000)
            .describe(
              'Consumer group session timeout: a consumer silent this long is dropped from its group. After a broker restart, a group resumes only once its old members expired.',
            ),
          retries: z
            .number()
            .int()
            .nonnegative()
            .default(5)
            .describe(
              'Client-side retries of a failed request (exponential backoff from 300 ms) before produce() rejects with a retriable error.',
            ),
        })
        .prefault({}),
      embedded: z
        .object({
          pollIntervalMs: z
            .number()
            .int()
            .positive()
            .default(50)
            .describe(
              'How often embedded-log consumers look for records written by another process (same-process writes wake them at once).',
            ),
          retentionCheckIntervalMs: z
            .number()
            .int()
            .positive()
            .default(60_000)
            .describe('Period of the embedded log retention (age/size per topic) and compaction pass.'),
          fsync: z
            .boolean()
            .default(true)
            .describe(
              'fsync every produce (SQLite synchronous=FULL): survives power loss. False: survives a process crash only, faster.',
            ),
          busyTimeoutMs: z
            .number()
            .int()
            .positive()
            .default(5000)
            .describe('How long a write waits for another process holding the embedded log lock.'),
        })
        .prefault({}),
    })
    .prefault({}),

  emitter: z
    .object({
      batchSize: z.number().int().positive().default(500).describe('Events per producer batch.'),
      lingerMs: z
        .number()
        .int()
        .nonnegative()
        .default(20)
        .describe('Max wait before a partial batch is sent.'),
      bufferMax: z
        .number()
        .int()
        .positive()
        .default(50_000)
        .describe(
          'In-memory bound of events waiting for a batch. Past emitter.spoolAtBuffered they are spooled eagerly; at this bound new events are dropped (counted, reason buffer-full): only when the disk cannot keep up.',
        ),
      spoolMaxBytes: z
        .number()
        .int()
        .positive()
        .default(256 * 1024 * 1024)
        .describe('On-disk spool bound; when full, the oldest spooled events are dropped (counted).'),
      spoolSegmentBytes: z
        .number()
        .int()
        .nonnegative()
        .default(0)
        .describe(
          'Size at which a spool segment file is closed and a new one begun; 0 = spoolMaxBytes/8, at most 16 MiB.',
        ),
      spoolAtBuffered: z
        .number()
        .int()
        .nonnegative()
        .default(0)
        .describe(
          'Buffered events that make the emitter spool at once instead of waiting for a slow bus (bounds what a crash can lose); 0 = bufferMax/10.',
        ),
      produceTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(2_000)
        .describe(
          'A producer call not settled within this is treated as failed and its batch spooled (may duplicate: consumers dedupe on eventId).',
        ),
      stopTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(5_000)
        .describe(
          'On stop (SIGTERM), how long the final flush may wait for the bus before spooling the rest.',
        ),
      journal: z
        .boolean()
        .default(true)
        .describe(
          'Write every event to <dataDir>/spool/journal-*.wal as it is emitted (before the check is answered), so a SIGKILL loses ~nothing; off: a crash loses the events still in memory (one linger period plus one in-flight produce).',
        ),
    })
    .prefault({}),

  functions: z
    .object({
      runLocal: z.boolean().default(true).describe('`start` runs the functions in-process against the bus.'),
      batchSize: z.number().int().positive().default(100).describe('Records per local invocation.'),
      batchWindowMs: z.number().int().nonnegative().default(500).describe('Max wait to fill a local batch.'),
      analyticsSinks: z
        .array(z.enum(['file', 'http', 'kafka']))
        .default(['file'])
        .describe('Analytics sinks (comma-separated in env).'),
      analyticsHttpUrl: z
        .string()
        .default('')
        .describe('Elasticsearch/OpenSearch base URL for the `_bulk` sink.'),
      analyticsIndex: z
        .string()
        .default('apim_event')
        .describe(
          'Index prefix for the `_bulk` sink: documents go to <prefix>_response / <prefix>_faulty (WSO2 dashboards read apim_event_*).',
        ),
      analyticsHttpUsername: z
        .string()
        .default('')
        .describe('Basic-auth user for the `_bulk` sink (empty = none).'),
      analyticsHttpPassword: z.string().default('').describe('Basic-auth password for the `_bulk` sink.'),
      analyticsHttpTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe('Timeout of one `_bulk` request.'),
      analyticsHttpMaxAttempts: z
        .number()
        .int()
        .positive()
        .default(5)
        .describe(
          '`_bulk` attempts per batch (429/5xx/timeouts, retriable item errors) before the batch is retried.',
        ),
      analyticsHttpBackoffMs: z
        .number()
        .int()
        .positive()
        .default(200)
        .describe(
          'Base of the exponential backoff between `_bulk` attempts (p-retry, 0.5x-1x of base x 2^n, at most 10 s; a whole-request Retry-After is waited first, at most 10 s).',
        ),
      analyticsFileDir: z
        .string()
        .default('')
        .describe('Directory of the ELK log-file sink (empty = <dataDir>/analytics).'),
      analyticsFileMaxBytes: z
        .number()
        .int()
        .positive()
        .default(100 * 1024 * 1024)
        .describe('Size at which apim_metrics.log is rotated to apim_metrics.log.1.'),
      analyticsFileMaxFiles: z
        .number()
        .int()
        .nonnegative()
        .default(10)
        .describe('Rotated analytics files kept (apim_metrics.log.1 ... .N).'),
      analyticsFileFsync: z
        .boolean()
        .default(true)
        .describe('fsync the analytics file after each batch (durable before the offset is committed).'),
      analyticsFileDedupWindow: z
        .number()
        .int()
        .nonnegative()
        .default(100_000)
        .describe('correlationIds remembered by the file sink to drop redelivered events (0 = off).'),
      analyticsRegionId: z
        .string()
        .default('default')
        .describe('WSO2 regionId published in analytics events.'),
      analyticsGatewayType: z
        .string()
        .default('ENVOY')
        .describe('WSO2 gatewayType published in analytics events.'),
      usageLatenessMs: z
        .number()
        .int()
        .nonnegative()
        .default(300_000)
        .describe(
          'usage-metering: an hour closes when the newest request time of its partition is this far past its end; later events amend the window with a new revision.',
        ),
      usageRetainClosedMs: z
        .number()
        .int()
        .positive()
        .default(172_800_000)
        .describe(
          'usage-metering: how long a closed hour stays amendable and deduplicated (48 h); events of an older hour are dead-lettered (USAGE_BEYOND_RETENTION).',
        ),
      usageLegacyDedupePerHour: z
        .number()
        .int()
        .nonnegative()
        .default(100_000)
        .describe(
          'usage-metering: event ids remembered per hour and partition for events without a checkId (older adapters); beyond it windows are marked exact: false.',
        ),
      usageCloseIdleMs: z
        .number()
        .int()
        .nonnegative()
        .default(60_000)
        .describe(
          'usage-metering: period of the wall-clock close of idle partitions (an hour whose end + usageLatenessMs has passed by the clock closes without further events); 0 = off (the Lambda schedule is separate: serverless.yml usageCloseSchedule).',
        ),
      usageStateTopic: z
        .boolean()
        .default(false)
        .describe(
          'usage-metering: keep the meter state in the compacted mesh-apim.usage-meter-state.v1 topic (restored at a cold start) instead of the changelog <dataDir>/usage/meter-state[-<runner>].jsonl; on for Lambda (serverless.yml).',
        ),
      usageRunnerId: z
        .string()
        .regex(/^[A-Za-z0-9._-]*$/)
        .default('')
        .describe(
          "usage-metering: names the local runner's state file <dataDir>/usage/meter-state-<id>.jsonl (empty = meter-state.jsonl). The file is locked while a runner holds it: a second runner on the same data dir and id refuses to start.",
        ),
      billingProvider: z
        .enum(['none', 'stripe'])
        .default('none')
        .describe(
          'usage-billing: where closed usage windows are billed; none = the local runner does not start usage-billing (serverless.yml sets stripe: give the stage billingStripeSecretArn and billingMapping).',
        ),
      billingStripeUrl: z
        .string()
        .default('https://api.stripe.com')
        .describe('usage-billing: Stripe API base URL (a local fake in tests).'),
      billingStripeSecretKey: z
        .string()
        .default('')
        .describe(
          'usage-billing: Stripe secret key (sk_...), sent as Authorization: Bearer; on Lambda resolved from billingStripeSecretArn.',
        ),
      billingStripeSecretArn: z
        .string()
        .default('')
        .describe('usage-billing: Secrets Manager ARN holding the Stripe secret key (Lambda).'),
      billingStripeVersion: z
        .string()
        .default('')
        .describe('usage-billing: Stripe-Version header (empty = the account default).'),
      billingMappingFile: z
        .string()
        .default('')
        .describe(
          'usage-billing: YAML file mapping (application, API, tier, key type) to Stripe subscription items (docs/usage-metering.md); required with billingProvider stripe unless billingMapping is set.',
        ),
      billingMapping: z
        .string()
        .default('')
        .describe('usage-billing: the same mapping inline (YAML or JSON text; Lambda environment).'),
      billingMaxAttempts: z
        .number()
        .int()
        .positive()
        .default(5)
        .describe(
          'usage-billing: attempts per usage record on 409/429/5xx/network errors before the batch is retried.',
        ),
      billingBackoffMs: z
        .number()
        .int()
        .positive()
        .default(500)
        .describe(
          'usage-billing: first backoff between attempts (doubles; a Retry-After header wins when longer).',
        ),
      billingTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe('usage-billing: timeout of one Stripe request.'),
    })
    .prefault({}),

  controller: z
    .object({
      adminAddress: z
        .union([z.literal(''), hostPort])
        .default('')
        .describe(
          'Admin HTTP listen address (host:port) of `mesh-apim controller`: /healthz, /readyz (first Service list done), /metrics; empty = off.',
        ),
      cluster: z
        .string()
        .default('default')
        .describe('Cluster name put into service-lifecycle events (several clusters can share a stream).'),
      namespace: z
        .string()
        .default('')
        .describe('Namespace whose Services are watched; empty = all namespaces.'),
      kubeconfig: z
        .string()
        .default('')
        .describe(
          'Kubeconfig file; empty = in-cluster service account when in a pod, else the default kubeconfig.',
        ),
      resyncMs: z
        .number()
        .int()
        .positive()
        .default(300_000)
        .describe('Period at which every cached Service is re-evaluated (unchanged ones emit nothing).'),
      watchTimeoutSeconds: z
        .number()
        .int()
        .positive()
        .default(300)
        .describe(
          'Server-side timeout of one watch request; the watch is resumed from the last resourceVersion.',
        ),
      pageSize: z.number().int().positive().default(500).describe('Services per list page (limit/continue).'),
      backoffInitialMs: z
        .number()
        .int()
        .positive()
        .default(500)
        .describe('First reconnect delay after a failed list/watch; doubles up to backoffMaxMs.'),
      backoffMaxMs: z.number().int().positive().default(30_000).describe('Longest reconnect delay.'),
      endpointTemplate: z
        .string()
        .default('http://{name}.{namespace}.svc.cluster.local:{port}')
        .describe('In-mesh upstream URL of an exposed Service; {name}, {namespace}, {port} are substituted.'),
      defaultEnvironments: z
        .array(z.string())
        .default(['Default'])
        .describe('Gateway environments when a Service has no mesh-apim.io/environments annotation.'),
      defaultTiers: z
        .array(z.string())
        .default(['Unlimited'])
        .describe('Subscription tiers when a Service has no mesh-apim.io/tiers annotation.'),
      defaultOpenapiPath: z
        .string()
        .default('/openapi.json')
        .describe('OpenAPI source when a Service has no mesh-apim.io/openapi annotation (a path it serves).'),
      defaultApiVersion: z
        .string()
        .default('v1')
        .describe('API version when a Service has no mesh-apim.io/api-version annotation.'),
    })
    .prefault({}),

  autoCreator: z
    .object({
      target: z
        .enum(['standalone', 'apim'])
        .default('standalone')
        .describe(
          'Where api-auto-creator puts APIs: standalone control-plane fragments (<dataDir>/standalone.d) or WSO2 API Manager (apim.url).',
        ),
      onDelete: z
        .enum(['undeploy', 'retire', 'delete'])
        .default('undeploy')
        .describe(
          'API Manager action on service-deleted: undeploy its revisions, also retire it, or delete it.',
        ),
      openapiTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(5_000)
        .describe('Timeout of fetching an OpenAPI definition over HTTP.'),
      openapiMaxBytes: z
        .number()
        .int()
        .positive()
        .default(5 * 1024 * 1024)
        .describe('Largest OpenAPI definition accepted over HTTP.'),
      vhost: z.string().default('localhost').describe('Gateway vhost of revision deployments.'),
      displayOnDevportal: z.boolean().default(true).describe('Show deployments on the Developer Portal.'),
      maxRevisions: z
        .number()
        .int()
        .positive()
        .default(5)
        .describe(
          'Revisions API Manager keeps per API; at the limit the oldest undeployed one is deleted first.',
        ),
      maxAttempts: z
        .number()
        .int()
        .positive()
        .default(4)
        .describe(
          'Attempts per API Manager call on 5xx/429/timeouts before the batch is failed for redelivery.',
        ),
      retryBaseMs: z
        .number()
        .int()
        .positive()
        .default(500)
        .describe('First retry delay of an API Manager call; doubles per attempt.'),
      clientName: z
        .string()
        .default('mesh-apim-api-auto-creator')
        .describe('OAuth client name registered through DCR.'),
      standaloneSubscribers: z
        .array(z.string())
        .default([])
        .describe(
          'Standalone target: applications (declared in the standalone file) subscribed to every auto-created API.',
        ),
    })
    .prefault({}),

  revocation: z
    .object({
      transport: z
        .enum(['local', 'sqs'])
        .default('local')
        .describe(
          'How revocations reach adapters: local = the adapter consumes token-revoked from the bus itself (standalone); sqs = per-adapter SQS queues fed by the revocation-fanout function.',
        ),
      queuePrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,60}$/, 'SQS queue name characters only, at most 60')
        .default('mesh-apim-adapter')
        .describe('Name prefix of the per-adapter revocation queues (`<prefix>-<instance id>`).'),
      queueUrl: z
        .string()
        .default('')
        .describe(
          'Use this existing queue instead of creating `<prefix>-<instance id>` (not deleted on shutdown).',
        ),
      sqsEndpoint: z
        .string()
        .default('')
        .describe('SQS endpoint override, e.g. http://127.0.0.1:9324 for ElasticMQ (empty = AWS).'),
      sqsRegion: z.string().default('us-east-1').describe('AWS region of the revocation queues.'),
      heartbeatIntervalMs: z
        .number()
        .int()
        .positive()
        .default(60_000)
        .describe('How often an adapter refreshes the `heartbeat` tag of its queue.'),
      staleQueueGraceMs: z
        .number()
        .int()
        .positive()
        .default(600_000)
        .describe('The fan-out function deletes queues whose heartbeat is older than this.'),
      queueListCacheMs: z
        .number()
        .int()
        .nonnegative()
        .default(5_000)
        .describe('How long the fan-out function reuses its ListQueues result.'),
      staleCheckIntervalMs: z
        .number()
        .int()
        .nonnegative()
        .default(60_000)
        .describe('Minimum time between two stale-queue sweeps of the fan-out function.'),
    })
    .prefault({}),

  bridge: z
    .object({
      adminAddress: z
        .union([z.literal(''), hostPort])
        .default('')
        .describe(
          'Admin HTTP listen address (host:port) of `mesh-apim bridge`: /healthz, /readyz (AMQP consumer attached, when amqpUrl is set), /metrics; empty = off.',
        ),
      amqpUrl: z
        .string()
        .default('amqp://guest:guest@127.0.0.1:5672')
        .describe('API Manager event hub (AMQP 0-9-1) URL; empty = do not connect.'),
      exchange: z.string().default('amq.topic').describe('Exchange API Manager publishes to.'),
      queueName: z
        .string()
        .default('mesh-apim-bridge')
        .describe(
          'Durable queue the bridge binds to the exchange (shared by bridge replicas: each message is bridged once).',
        ),
      reconnectMaxMs: z
        .number()
        .int()
        .positive()
        .default(30_000)
        .describe('Upper bound of the reconnect backoff.'),
      httpAddress: z
        .string()
        .default('')
        .describe(
          'Listen address (host:port) of the HTTP receiver for the persistent revocation notifier; empty = off.',
        ),
      httpBasePath: z
        .string()
        .default('/revocations')
        .describe('Base path of the HTTP receiver (API Manager notifier endpoint = <url><base>).'),
      httpUsername: z.string().default('').describe('Basic-auth user the notifier must send.'),
      httpPassword: z.string().default('').describe('Basic-auth password the notifier must send.'),
      tenantDomain: z
        .string()
        .default('carbon.super')
        .describe('Tenant of events whose message carries none.'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;

/** Environment variables accepted besides the derived MESH_APIM_* names. */
export const ENV_ALIASES: Record<string, string> = {
  KAFKA_BROKERS: 'bus.kafka.brokers',
  APIM_URL: 'apim.url',
  DATA_DIR: 'dataDir',
};

/**
 * MESH_APIM_* variables that are not settings: read by the CLI, the bench or the test harness. Any
 * other MESH_APIM_* name that is no setting is a misspelling and fails the start (as an unknown key
 * in the config file does), instead of the setting quietly keeping its default.
 */
export const NON_SETTING_ENV = new Set([
  'MESH_APIM_CONFIG',
  'MESH_APIM_LOG_FORMAT',
  'MESH_APIM_CACHE',
  'MESH_APIM_BENCH_BIN',
  'MESH_APIM_WSO2_CONTRACTS',
]);

/**
 * Kubernetes injects `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_9191_TCP_ADDR`, ... for every Service
 * in the namespace (enableServiceLinks); the chart's `mesh-apim-adapter` Service yields MESH_APIM_ADAPTER_*
 * names of exactly these shapes, which are not misspellings.
 */
const SERVICE_LINK_ENV =
  /_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)$/;

/** MESH_APIM_* variables that name no setting, as `NAME (did you mean ...?)`. */
export function unknownEnv(env: NodeJS.ProcessEnv, leaves: readonly Leaf[] = configLeaves()): string[] {
  const known = leaves.map((l) => envName(l.path));
  const knownSet = new Set(known);
  const out: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('MESH_APIM_') || knownSet.has(name) || NON_SETTING_ENV.has(name)) continue;
    if (env[name] === undefined || SERVICE_LINK_ENV.test(name)) continue;
    const near = known.find((k) => distance(k, name) <= 3);
    out.push(`${name}${near ? ` (did you mean ${near}?)` : ''}`);
  }
  return out.sort();
}

export type Leaf = {
  path: string[];
  kind: 'string' | 'number' | 'boolean' | 'array';
  description: string;
  defaultValue: unknown;
};

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = (s as unknown as { _zod: { def: { type: string; innerType?: z.ZodType } } })._zod.def;
    if ((def.type === 'default' || def.type === 'prefault' || def.type === 'optional') && def.innerType) {
      s = def.innerType;
    } else return s;
  }
}

/** Every settable leaf of the schema with its value kind (drives env parsing and the docs test). */
export function configLeaves(schema: z.ZodType = ConfigSchema, path: string[] = []): Leaf[] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape).flatMap(([k, v]) => configLeaves(v as z.ZodType, [...path, k]));
  }
  const description = schema.description ?? '';
  const def = (schema as unknown as { _zod: { def: { defaultValue?: unknown } } })._zod.def;
  const base = { path, description, defaultValue: def.defaultValue };
  if (inner instanceof z.ZodNumber) return [{ ...base, kind: 'number' }];
  if (inner instanceof z.ZodBoolean) return [{ ...base, kind: 'boolean' }];
  if (inner instanceof z.ZodArray) return [{ ...base, kind: 'array' }];
  return [{ ...base, kind: 'string' }];
}

/** Edit distance, for "did you mean" on an unknown key (keys are short: the quadratic cost is nothing). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * Every key of a config file the schema does not declare, as `path (did you mean ...?)`: zod would
 * drop it silently, and a misspelt setting then quietly keeps its default.
 */
export function unknownKeys(raw: unknown, schema: z.ZodType = ConfigSchema, path: string[] = []): string[] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject && typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const shape = inner.shape as Record<string, z.ZodType>;
    return Object.entries(raw).flatMap(([k, v]) => {
      if (Object.hasOwn(shape, k)) return unknownKeys(v, shape[k]!, [...path, k]);
      const near = Object.keys(shape).find((known) => distance(known.toLowerCase(), k.toLowerCase()) <= 2);
      return [`${[...path, k].join('.')}${near ? ` (did you mean ${[...path, near].join('.')}?)` : ''}`];
    });
  }
  if (inner instanceof z.ZodArray && Array.isArray(raw)) {
    return raw.flatMap((v, i) => unknownKeys(v, inner.element as z.ZodType, [...path, String(i)]));
  }
  return [];
}

/** Markdown table of every setting: docs/configuration.md is this output (a test keeps them equal). */
export function configDocs(): string {
  const aliasOf = new Map(Object.entries(ENV_ALIASES).map(([env, path]) => [path, env]));
  const rows = configLeaves().map((l) => {
    const path = l.path.join('.');
    const alias = aliasOf.get(path);
    const env = `\`${envName(l.path)}\`${alias ? ` or \`${alias}\`` : ''}`;
    return `| \`${path}\` | ${env} | \`${JSON.stringify(l.defaultValue)}\` | ${l.description.replace(/\|/g, '\\|')} |`;
  });
  return [
    '# Configuration',
    '',
    'Generated by `npx mesh-apim config --docs` from common/config.ts; do not edit by hand.',
    'Precedence: defaults < config file (`--config <file>` or `MESH_APIM_CONFIG`) < environment.',
    'Lists are comma-separated in the environment; booleans accept true/false/1/0/yes/no.',
    'An unknown key in the file, or a `MESH_APIM_*` variable that names no setting (other than `MESH_APIM_CONFIG`,',
    '`MESH_APIM_LOG_FORMAT` and the Service links Kubernetes injects), stops the start with its name and a did-you-mean.',
    '',
    '| setting | environment | default | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

export function envName(path: string[]): string {
  return `MESH_APIM_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

function parseEnvValue(leaf: Leaf, name: string, raw: string): unknown {
  switch (leaf.kind) {
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || Number.isNaN(n))
        throw new ConfigError(`${name}: expected a number, got "${raw}"`);
      return n;
    }
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new ConfigError(`${name}: expected true/false, got "${raw}"`);
    case 'array':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    default:
      return raw;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export interface LoadConfigOptions {
  /** Config file path; falls back to MESH_APIM_CONFIG. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Programmatic overrides (tests, CLI flags), applied last. */
  overrides?: Record<string, unknown>;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const file = options.file ?? env.MESH_APIM_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new ConfigError(`config file ${file}: cannot read`, { cause });
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (cause) {
      throw new ConfigError(`config file ${file}: not valid YAML/JSON`, { cause });
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ConfigError(`config file ${file}: top level must be a mapping`);
      }
      const unknown = unknownKeys(parsed);
      if (unknown.length > 0) {
        throw new ConfigError(
          `config file ${file}: unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`,
        );
      }
      Object.assign(raw, parsed);
    }
  }
  const leaves = configLeaves();
  const misspelt = unknownEnv(env, leaves);
  if (misspelt.length > 0) {
    throw new ConfigError(
      `unknown environment variable${misspelt.length > 1 ? 's' : ''} ${misspelt.join(', ')}: no such setting (docs/configuration.md lists them)`,
    );
  }
  const byPath = new Map(leaves.map((l) => [l.path.join('.'), l]));
  for (const leaf of leaves) {
    const name = envName(leaf.path);
    const value = env[name];
    if (value !== undefined) setPath(raw, leaf.path, parseEnvValue(leaf, name, value));
  }
  for (const [name, path] of Object.entries(ENV_ALIASES)) {
    const value = env[name];
    const leaf = byPath.get(path);
    if (value !== undefined && leaf && env[envName(leaf.path)] === undefined) {
      setPath(raw, leaf.path, parseEnvValue(leaf, name, value));
    }
  }
  // Naming brokers is choosing Kafka, unless the bus kind is set explicitly.
  if (env.KAFKA_BROKERS && env[envName(['bus', 'kind'])] === undefined)
    setPath(raw, ['bus', 'kind'], 'kafka');
  for (const [path, value] of Object.entries(options.overrides ?? {})) setPath(raw, path.split('.'), value);

  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new ConfigError(`invalid configuration${file ? ` (${file})` : ''}: ${problems}`);
  }
  const config = result.data;
  if (config.bus.kind === 'kafka' && config.bus.kafka.brokers.length === 0) {
    throw new ConfigError('bus.kind is kafka but bus.kafka.brokers (KAFKA_BROKERS) is empty');
  }
  if (
    config.adapter.clientCertificateSource === 'xfcc' &&
    config.adapter.xfccTrustedPrincipals.length === 0
  ) {
    throw new ConfigError(
      'adapter.clientCertificateSource is xfcc but adapter.xfccTrustedPrincipals is empty: an x-forwarded-client-cert header is only believed from a trusted gateway',
    );
  }
  if (config.adapter.controlPlane === 'apim' && !config.apim.url) {
    throw new ConfigError('adapter.controlPlane is apim but apim.url (APIM_URL) is empty');
  }
  for (const [i, issuer] of config.oauth.issuers.entries()) {
    if (!issuer.jwksUrl === !issuer.certificateFile) {
      throw new ConfigError(
        `oauth.issuers.${i} (${issuer.issuer}): set exactly one of jwksUrl or certificateFile`,
      );
    }
  }
  if (config.oauth.introspectionUrl && !config.oauth.introspectionClientId) {
    throw new ConfigError('oauth.introspectionUrl is set but oauth.introspectionClientId is empty');
  }
  return config;
}
