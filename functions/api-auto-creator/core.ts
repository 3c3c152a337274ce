/**
 * The api-auto-creator's core: one service-lifecycle event in, the API put in step in the configured
 * control plane (WSO2 API Manager or the standalone control plane), an outcome out. Errors carry
 * `retriable`: the handler fails the invocation for retriable ones and dead-letters the rest.
 */
import type { Logger } from '../../common/log.ts';
import type { ServiceDeleted, ServiceDeployed, ServiceLifecycle } from '../../events/service-lifecycle.ts';
import { loadOpenApi, type OpenApiDefinition, type OpenApiFetchOptions } from './openapi.ts';

export interface ApiTarget {
  deploy(ev: ServiceDeployed, def: OpenApiDefinition): Promise<{ action: string }>;
  remove(ev: ServiceDeleted): Promise<{ action: string }>;
}

export interface AutoCreatorDeps {
  target: ApiTarget;
  openapi: OpenApiFetchOptions;
  log?: Logger;
}

export type LifecycleOutcome = { type: ServiceLifecycle['type']; key: string; action: string };

export async function processLifecycleEvent(
  ev: ServiceLifecycle,
  deps: AutoCreatorDeps,
): Promise<LifecycleOutcome> {
  const key = `${ev.service.namespace}/${ev.service.name}`;
  if (ev.type === 'service-deployed') {
    const def = await loadOpenApi(ev.api, deps.openapi);
    const out = await deps.target.deploy(ev, def);
    deps.log?.info({ key, idempotencyKey: ev.idempotencyKey, ...out }, 'service-deployed applied');
    return { type: ev.type, key, action: out.action };
  }
  const out = await deps.target.remove(ev);
  deps.log?.info({ key, idempotencyKey: ev.idempotencyKey, ...out }, 'service-deleted applied');
  return { type: ev.type, key, action: out.action };
}
