import { z } from 'zod';
import { ALWAYS } from '../common/config/fields.ts';

/** `bus.embedded.*`: the embedded durable log. */
export const EmbeddedBusConfigSchema = z
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
  .prefault({});

export type EmbeddedBusSettings = z.output<typeof EmbeddedBusConfigSchema>;

/** The documented defaults, for callers that open an embedded log without a loaded configuration. */
export const EMBEDDED_BUS_DEFAULTS: EmbeddedBusSettings = EmbeddedBusConfigSchema.parse(undefined);

/** The event bus (embedded log or Kafka): the `bus` section of the configuration (docs/configuration.md). */
export const BusConfigSchema = z
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
        sslCa: z.string().default('').describe('PEM CA bundle trusted for broker TLS (empty = system CAs).'),
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
          .describe('Replication factor of topics created by `topics apply` (use 3 on production clusters).'),
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
    embedded: EmbeddedBusConfigSchema,
  })
  .superRefine((bus, ctx) => {
    if (bus.kind === 'kafka' && Array.isArray(bus.kafka?.brokers) && bus.kafka?.brokers.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['kafka', 'brokers'],
        message: 'bus.kind is kafka but bus.kafka.brokers (KAFKA_BROKERS) is empty',
      });
    }
  }, ALWAYS)
  .prefault({});
