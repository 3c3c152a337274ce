/**
 * Composition of the controller: Kubernetes API (client-node), the ServiceController that emits
 * service-lifecycle events to the bus, and the reflector feeding it. `mesh-apim controller` and the
 * end-to-end tests call startController().
 */
import { hostname } from 'node:os';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../common/config.ts';
import { createLogger, type Logger } from '../common/log.ts';
import { type ControllerSettings, ServiceController } from './controller.ts';
import { ClientNodeKubeApi, type KubeApi, loadKubeConfig } from './kube.ts';
import { Reflector } from './reflector.ts';

export interface ControllerHandle {
  controller: ServiceController;
  reflector: Reflector;
  stop(): Promise<void>;
}

export function controllerSettings(config: Config): ControllerSettings {
  const c = config.controller;
  return {
    cluster: c.cluster,
    topicPrefix: config.bus.topicPrefix,
    component: 'mesh-apim-controller',
    instance: config.instanceId || `${hostname()}-${process.pid}`,
    endpointTemplate: c.endpointTemplate,
    environments: c.defaultEnvironments,
    tiers: c.defaultTiers,
    openapiPath: c.defaultOpenapiPath,
    defaultVersion: c.defaultApiVersion,
  };
}

export async function startController(
  config: Config,
  deps: { bus: Bus; kube?: KubeApi; logger?: Logger },
): Promise<ControllerHandle> {
  const log = deps.logger ?? createLogger('controller');
  const kube = deps.kube ?? new ClientNodeKubeApi(loadKubeConfig(config.controller.kubeconfig));
  const controller = new ServiceController(deps.bus, kube, controllerSettings(config), log);
  const c = config.controller;
  // Before the first list: so the list's comparison sees what was published before a restart.
  await controller.restore();
  const reflector = new Reflector(kube, controller, {
    namespace: c.namespace || null,
    resyncMs: c.resyncMs,
    watchTimeoutSeconds: c.watchTimeoutSeconds,
    backoffInitialMs: c.backoffInitialMs,
    backoffMaxMs: c.backoffMaxMs,
    pageSize: c.pageSize,
    log,
  });
  reflector.start();
  log.info({ namespace: c.namespace || '(all)', cluster: c.cluster }, 'controller started');
  return {
    controller,
    reflector,
    async stop() {
      await reflector.stop();
      log.info(controller.stats, 'controller stopped');
    },
  };
}
