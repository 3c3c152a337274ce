import { z } from 'zod';

/** Revocation delivery (local or per-adapter SQS queues): the `revocation` section of the configuration (docs/configuration.md). */
export const RevocationConfigSchema = z
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
  .prefault({});
