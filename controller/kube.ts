/**
 * The controller's view of the Kubernetes API, on @kubernetes/client-node: paginated list, watch
 * (chunked stream, bookmarks), ConfigMap reads and core/v1 Event creation. Errors are mapped to
 * KubeApiError / ResourceVersionExpired so the reflector can decide between backoff and relist.
 */
import { existsSync } from 'node:fs';
import { ApiException, CoreV1Api, type CoreV1Event, KubeConfig, Watch } from '@kubernetes/client-node';
import { ConfigError, errorMessage } from '../common/errors.ts';
import type { ServiceObject } from './annotations.ts';
import { KubeApiError, ResourceVersionExpired } from './errors.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchHandle {
  /** Resolves when the server ends the stream, rejects on a transport or HTTP error. */
  done: Promise<void>;
  abort(): void;
}

export interface KubeApi {
  listServices(
    namespace: string | null,
    pageSize: number,
  ): Promise<{ items: ServiceObject[]; resourceVersion: string }>;
  watchServices(
    namespace: string | null,
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (type: WatchEventType, object: Record<string, unknown>) => void,
  ): Promise<WatchHandle>;
  readConfigMap(namespace: string, name: string): Promise<Record<string, string> | null>;
  createEvent(namespace: string, event: CoreV1Event): Promise<void>;
}

/** In-cluster (service account) when running in a pod, else the given or default kubeconfig. */
export function loadKubeConfig(kubeconfig: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) {
    try {
      kc.loadFromFile(kubeconfig);
    } catch (cause) {
      throw new ConfigError(`controller.kubeconfig ${kubeconfig}: ${errorMessage(cause)}`, { cause });
    }
  } else if (
    process.env.KUBERNETES_SERVICE_HOST &&
    existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')
  )
    kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

function statusOf(err: unknown): number {
  if (err instanceof ApiException) return err.code;
  const s = (err as { statusCode?: unknown; code?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : 0;
}

export class ClientNodeKubeApi implements KubeApi {
  private readonly core: CoreV1Api;
  private readonly watcher: Watch;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.watcher = new Watch(kc);
  }

  async listServices(namespace: string | null, pageSize: number) {
    const items: ServiceObject[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      try {
        const page = namespace
          ? await this.core.listNamespacedService({ namespace, limit: pageSize, _continue: cont })
          : await this.core.listServiceForAllNamespaces({ limit: pageSize, _continue: cont });
        items.push(...(page.items as ServiceObject[]));
        resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
        cont = page.metadata?._continue || undefined;
      } catch (err) {
        const status = statusOf(err);
        // An expired continue token: the paginated list must start over.
        if (status === 410) throw new ResourceVersionExpired('list continue token expired');
        throw new KubeApiError('list services', status, { cause: err });
      }
    } while (cont);
    return { items, resourceVersion };
  }

  async watchServices(
    namespace: string | null,
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (type: WatchEventType, object: Record<string, unknown>) => void,
  ): Promise<WatchHandle> {
    const path = namespace
      ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/services`
      : '/api/v1/services';
    let settle!: (err: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = (err) => {
        if (!err) return resolve();
        const status = statusOf(err);
        reject(
          status === 410
            ? new ResourceVersionExpired(`watch from ${resourceVersion}: 410 Gone`)
            : new KubeApiError('watch services', status, { cause: err }),
        );
      };
    });
    const controller = await this.watcher.watch(
      path,
      { resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
      (type: string, object: Record<string, unknown>) => onEvent(type as WatchEventType, object),
      (err: unknown) => settle(err),
    );
    return { done, abort: () => controller.abort() };
  }

  async readConfigMap(namespace: string, name: string): Promise<Record<string, string> | null> {
    try {
      const cm = await this.core.readNamespacedConfigMap({ namespace, name });
      return cm.data ?? {};
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return null;
      throw new KubeApiError(`read configmap ${namespace}/${name}`, status, { cause: err });
    }
  }

  async createEvent(namespace: string, event: CoreV1Event): Promise<void> {
    try {
      await this.core.createNamespacedEvent({ namespace, body: event });
    } catch (err) {
      throw new KubeApiError(`create event in ${namespace}`, statusOf(err), { cause: err });
    }
  }
}
