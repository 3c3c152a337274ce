/**
 * Composition root of the controller: the bus (its own from the settings unless given, with the
 * service-lifecycle topic ensured), Kubernetes API (client-node), the ServiceController that emits
 * service-lifecycle events to the bus, the reflector feeding it and the admin HTTP server
 * (controller.adminAddress). `mesh-apim controller` and the end-to-end tests call startController().
 */
import { resolveInstanceId } from '../adapter/resolved.ts';
import { createBus } from '../bus/index.ts';
import { topicSpecs } from '../bus/topics.ts';
import type { Bus } from '../bus/types.ts';
import { type AdminServer, startProgramAdmin } from '../common/admin-http.ts';
import type { Config } from '../common/config/index.ts';
import { createLogger, type Logger } from '../common/log.ts';
import { TOPICS, topicName } from '../events/topics.ts';
import { type ControllerSettings, ServiceController } from './controller.ts';
import { ClientNodeKubeApi, type KubeApi, loadKubeConfig } from './kube.ts';
import { Reflector } from './reflector.ts';

export interface ControllerDeps {
  /** The bus to emit to; default: one from the settings (topic ensured), closed on stop. */
  bus?: Bus;
  kube?: KubeApi;
  logger?: Logger;
}

export interface ControllerHandle {
  controller: ServiceController;
  reflector: Reflector;
  /** The admin HTTP server (null when controller.adminAddress is empty). */
  admin: AdminServer | null;
  stop(): Promise<void>;
}

export function controllerSettings(config: Config): ControllerSettings {
  const c = config.controller;
  return {
    cluster: c.cluster,
    topicPrefix: config.bus.topicPrefix,
    component: 'mesh-apim-controller',
    instance: resolveInstanceId(config),
    endpointTemplate: c.endpointTemplate,
    environments: c.defaultEnvironments,
    tiers: c.defaultTiers,
    openapiPath: c.defaultOpenapiPath,
    defaultVersion: c.defaultApiVersion,
  };
}

export async function startController(config: Config, deps: ControllerDeps = {}): Promise<ControllerHandle> {
  const log = deps.logger ?? createLogger('controller');
  const ownBus = deps.bus ? null : createBus(config, log);
  const bus = deps.bus ?? ownBus!;
  let running: Omit<ControllerHandle, 'admin' | 'stop'> & { stop(): Promise<void> };
  try {
    if (ownBus) {
      const wanted = topicName(TOPICS.serviceLifecycle, config.bus.topicPrefix);
      await ownBus.ensureTopics(topicSpecs(config.bus.topicPrefix).filter((t) => t.name === wanted));
    }
    running = await startWatching(config, bus, deps.kube, log);
  } catch (err) {
    await ownBus?.close();
    throw err;
  }
  // Ready once the first Service list has been handed to the controller (its view is complete).
  let synced = false;
  void running.reflector.synced.then(() => {
    synced = true;
  });
  const admin = await startProgramAdmin(config.controller.adminAddress, 'controller', () => ({
    ready: synced,
  }));
  if (admin) log.info({ adminPort: admin.port }, 'admin listening');
  return {
    controller: running.controller,
    reflector: running.reflector,
    admin,
    async stop() {
      await admin?.close();
      await running.stop();
      await ownBus?.close();
    },
  };
}

async function startWatching(config: Config, bus: Bus, kubeApi: KubeApi | undefined, log: Logger) {
  const kube = kubeApi ?? new ClientNodeKubeApi(loadKubeConfig(config.controller.kubeconfig));
  const controller = new ServiceController(bus, kube, controllerSettings(config), log);
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
