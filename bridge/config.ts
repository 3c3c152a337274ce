import { z } from 'zod';
import { hostPort } from '../common/config/fields.ts';

/** `mesh-apim bridge` (WSO2 event hub): the `bridge` section of the configuration (docs/configuration.md). */
export const BridgeConfigSchema = z
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
    tenantDomain: z.string().default('carbon.super').describe('Tenant of events whose message carries none.'),
  })
  .prefault({});
