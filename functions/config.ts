import { z } from 'zod';

/** The functions (analytics, usage metering, billing): the `functions` section of the configuration (docs/configuration.md). */
export const FunctionsConfigSchema = z
  .object({
    runLocal: z.boolean().default(true).describe('`start` runs the functions in-process against the bus.'),
    batchSize: z.number().int().positive().default(100).describe('Records per local invocation.'),
    batchWindowMs: z.number().int().nonnegative().default(500).describe('Max wait to fill a local batch.'),
    analytics: z
      .object({
        sinks: z
          .array(z.enum(['file', 'http', 'kafka']))
          .default(['file'])
          .describe('Analytics sinks (comma-separated in env).'),
        index: z
          .string()
          .default('apim_event')
          .describe(
            'Index prefix for the `_bulk` sink: documents go to <prefix>_response / <prefix>_faulty (WSO2 dashboards read apim_event_*).',
          ),
        regionId: z.string().default('default').describe('WSO2 regionId published in analytics events.'),
        gatewayType: z.string().default('ENVOY').describe('WSO2 gatewayType published in analytics events.'),
        http: z
          .object({
            url: z.string().default('').describe('Elasticsearch/OpenSearch base URL for the `_bulk` sink.'),
            username: z.string().default('').describe('Basic-auth user for the `_bulk` sink (empty = none).'),
            password: z.string().default('').describe('Basic-auth password for the `_bulk` sink.'),
            timeoutMs: z
              .number()
              .int()
              .positive()
              .default(10_000)
              .describe('Timeout of one `_bulk` request.'),
            maxAttempts: z
              .number()
              .int()
              .positive()
              .default(5)
              .describe(
                '`_bulk` attempts per batch (429/5xx/timeouts, retriable item errors) before the batch is retried.',
              ),
            backoffMs: z
              .number()
              .int()
              .positive()
              .default(200)
              .describe(
                'Base of the exponential backoff between `_bulk` attempts (p-retry, 0.5x-1x of base x 2^n, at most 10 s; a whole-request Retry-After is waited first, at most 10 s).',
              ),
          })
          .prefault({})
          .describe('The Elasticsearch/OpenSearch `_bulk` sink.'),
        file: z
          .object({
            dir: z
              .string()
              .default('')
              .describe('Directory of the ELK log-file sink (empty = <dataDir>/analytics).'),
            maxBytes: z
              .number()
              .int()
              .positive()
              .default(100 * 1024 * 1024)
              .describe('Size at which apim_metrics.log is rotated to apim_metrics.log.1.'),
            maxFiles: z
              .number()
              .int()
              .nonnegative()
              .default(10)
              .describe('Rotated analytics files kept (apim_metrics.log.1 ... .N).'),
            fsync: z
              .boolean()
              .default(true)
              .describe(
                'fsync the analytics file after each batch (durable before the offset is committed).',
              ),
            dedupWindow: z
              .number()
              .int()
              .nonnegative()
              .default(100_000)
              .describe('correlationIds remembered by the file sink to drop redelivered events (0 = off).'),
          })
          .prefault({})
          .describe('The ELK log-file sink (apim_metrics.log).'),
      })
      .prefault({})
      .describe('analytics-publisher: sinks and the WSO2 fields of its events.'),
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
  .prefault({});

/** api-auto-creator: the `autoCreator` section of the configuration (docs/configuration.md). */
export const AutoCreatorConfigSchema = z
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
  .prefault({});
