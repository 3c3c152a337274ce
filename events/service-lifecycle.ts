/**
 * A Kubernetes Service that opted in to API exposure was deployed/changed or deleted. Both types
 * share one topic keyed by namespace/name, so a delete is never processed before its deploy.
 */
import { z } from 'zod';
import { envelope } from './common.ts';

const ServiceRef = z.object({
  cluster: z.string().describe('Cluster name from configuration'),
  namespace: z.string(),
  name: z.string(),
  uid: z.string(),
  resourceVersion: z.string(),
  generation: z.number().int().nullable(),
});

export const OpenApiSource = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('inline'),
    content: z.string().describe('OpenAPI document (JSON or YAML text)'),
  }),
  z.object({ kind: z.literal('url'), url: z.url() }),
  z.object({
    kind: z.literal('service-path'),
    path: z.string().describe('Path served by the service itself'),
  }),
  z.object({ kind: z.literal('configmap'), name: z.string(), key: z.string() }),
]);

export const ServiceDeployed = z.object({
  ...envelope('service-deployed'),
  idempotencyKey: z
    .string()
    .describe('uid + generation/resourceVersion: redelivery of one change has one key'),
  service: ServiceRef,
  api: z.object({
    name: z.string().min(1),
    version: z.string().min(1),
    // regex, not startsWith: zod exports startsWith as a non-standard JSON Schema `format` nobody enforces.
    context: z.string().regex(/^\//, 'must start with /'),
    endpoint: z.string().describe('In-mesh upstream URL, e.g. http://petstore.shop.svc.cluster.local:8080'),
    openapi: OpenApiSource,
    environments: z.array(z.string()).describe('Gateway environments to deploy to'),
    tiers: z.array(z.string()).describe('Subscription policies offered'),
  }),
});
export type ServiceDeployed = z.infer<typeof ServiceDeployed>;

export const ServiceDeleted = z.object({
  ...envelope('service-deleted'),
  idempotencyKey: z.string(),
  service: ServiceRef,
  api: z.object({ name: z.string(), version: z.string(), context: z.string() }),
});
export type ServiceDeleted = z.infer<typeof ServiceDeleted>;

export const ServiceLifecycle = z.discriminatedUnion('type', [ServiceDeployed, ServiceDeleted]);
export type ServiceLifecycle = z.infer<typeof ServiceLifecycle>;
