import { z } from 'zod';
import { hostPort } from '../common/config/fields.ts';

/** `mesh-apim controller` (Kubernetes Services): the `controller` section of the configuration (docs/configuration.md). */
export const ControllerConfigSchema = z
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
  .prefault({});
