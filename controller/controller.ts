/**
 * Turns Service changes into service-deployed / service-deleted events. Keeps, per Service, a hash
 * of what it last emitted: a resync or a change that does not touch the API (status, labels) emits
 * nothing. Annotation problems become a Warning Event on the Service (once per problem and version)
 * and a log line; the API already published stays as it is until the annotations are fixed.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { CoreV1Event } from '@kubernetes/client-node';
import { publish } from '../bus/publish.ts';
import type { Bus } from '../bus/types.ts';
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { ServiceLifecycle } from '../events/service-lifecycle.ts';
import { TOPICS, topicName } from '../events/topics.ts';
import {
  type ApiFromService,
  type ServiceDefaults,
  type ServiceObject,
  translateService,
} from './annotations.ts';
import type { KubeApi } from './kube.ts';
import { keyOf, type ReflectorHandlers } from './reflector.ts';

export interface ControllerSettings extends ServiceDefaults {
  cluster: string;
  topicPrefix: string;
  /** Name written as the Event source / reporting component. */
  component: string;
  instance: string;
}

interface Emitted {
  hash: string;
  uid: string;
  /** Last known resourceVersion (names the delete when the object is gone). */
  resourceVersion: string;
  api: { name: string; version: string; context: string };
}

const contentHash = (uid: string, api: ApiFromService) =>
  createHash('sha256')
    .update(JSON.stringify([uid, api]))
    .digest('hex');

export class ServiceController implements ReflectorHandlers {
  private readonly emitted = new Map<string, Emitted>();
  private readonly reported = new Map<string, string>();
  readonly stats = { deployed: 0, deleted: 0, unchanged: 0, invalid: 0, kubeEvents: 0 };
  /** Called after each emitted event (measurements, tests). */
  onEmit: ((ev: ServiceLifecycle) => void) | null = null;

  constructor(
    private readonly bus: Bus,
    private readonly kube: KubeApi,
    private readonly settings: ControllerSettings,
    private readonly log: Logger,
  ) {}

  private get topic(): string {
    return topicName(TOPICS.serviceLifecycle, this.settings.topicPrefix);
  }

  private serviceRef(svc: ServiceObject) {
    const m = svc.metadata ?? {};
    return {
      cluster: this.settings.cluster,
      namespace: m.namespace ?? 'default',
      name: m.name ?? '',
      uid: m.uid ?? '',
      resourceVersion: m.resourceVersion ?? '',
      generation: m.generation ?? null,
    };
  }

  private async emit(event: ServiceLifecycle): Promise<void> {
    const ev = ServiceLifecycle.parse(event);
    await publish(this.bus, { contract: TOPICS.serviceLifecycle, name: this.topic }, [ev], {
      headers: (e) => ({ 'content-type': 'application/json', 'event-type': e.type }),
    });
    this.onEmit?.(ev);
  }

  /** ConfigMap sources are inlined here: the controller may read ConfigMaps, a Lambda may not. */
  private async resolveSource(ns: string, api: ApiFromService): Promise<ApiFromService | string> {
    if (api.openapi.kind !== 'configmap') return api;
    const { name, key } = api.openapi;
    const data = await this.kube.readConfigMap(ns, name);
    if (data === null) return `ConfigMap ${ns}/${name} (OpenAPI source) not found`;
    const content = data[key];
    if (content === undefined) return `ConfigMap ${ns}/${name} has no key "${key}"`;
    return { ...api, openapi: { kind: 'inline', content } };
  }

  async upsert(svc: ServiceObject): Promise<void> {
    const key = keyOf(svc);
    const ref = this.serviceRef(svc);
    const t = translateService(svc, this.settings);
    if (t.kind === 'not-exposed') {
      this.reported.delete(key);
      const prev = this.emitted.get(key);
      // Opting out (annotation removed or set to false) withdraws the API.
      if (prev) await this.emitDeleted(key, ref, prev);
      return;
    }
    let problems = t.kind === 'invalid' ? t.errors : [];
    let api: ApiFromService | null = null;
    if (t.kind === 'exposed') {
      const resolved = await this.resolveSource(ref.namespace, t.api);
      if (typeof resolved === 'string') problems = [resolved];
      else api = resolved;
    }
    if (!api) {
      this.stats.invalid++;
      await this.report(svc, key, problems);
      return;
    }
    this.reported.delete(key);
    const hash = createHash('sha256')
      .update(JSON.stringify([ref.uid, api]))
      .digest('hex');
    if (this.emitted.get(key)?.hash === hash) {
      this.stats.unchanged++;
      return;
    }
    await this.emit({
      type: 'service-deployed',
      schemaVersion: 1,
      eventId: randomUUID(),
      occurredAt: new Date().toISOString(),
      // Services get no generation bump for annotation changes: the resourceVersion identifies the change.
      idempotencyKey: `${ref.uid}/${ref.resourceVersion}`,
      service: ref,
      api,
    });
    this.stats.deployed++;
    this.emitted.set(key, {
      hash,
      uid: ref.uid,
      resourceVersion: ref.resourceVersion,
      api: { name: api.name, version: api.version, context: api.context },
    });
    this.log.info(
      { key, api: api.name, version: api.version, resourceVersion: ref.resourceVersion },
      'service-deployed',
    );
  }

  /**
   * Rebuilds what was emitted before a restart from the service-lifecycle topic (last event per
   * Service of this cluster), so unchanged Services emit nothing again and Services deleted while the
   * controller was down are reported deleted once the first list shows them absent (synced()).
   */
  async restore(maxRecords = 1_000_000): Promise<number> {
    const latest = new Map<string, ServiceLifecycle>();
    let read = 0;
    for (const { partition, offset: end } of await this.bus.endOffsets(this.topic)) {
      let offset = 0n;
      const stop = BigInt(end);
      while (offset < stop && read < maxRecords) {
        const batch = await this.bus.read(this.topic, partition, offset.toString(), 500);
        if (batch.length === 0) break;
        for (const r of batch) {
          read++;
          offset = BigInt(r.offset) + 1n;
          const parsed = ServiceLifecycle.safeParse(JSON.parse(r.value?.toString() ?? 'null'));
          if (!parsed.success || parsed.data.service.cluster !== this.settings.cluster) continue;
          latest.set(`${parsed.data.service.namespace}/${parsed.data.service.name}`, parsed.data);
        }
      }
    }
    for (const [key, ev] of latest) {
      if (ev.type !== 'service-deployed') continue;
      this.emitted.set(key, {
        hash: contentHash(ev.service.uid, ev.api),
        uid: ev.service.uid,
        resourceVersion: ev.service.resourceVersion,
        api: { name: ev.api.name, version: ev.api.version, context: ev.api.context },
      });
    }
    this.log.info({ records: read, services: this.emitted.size }, 'restored emitted state from the stream');
    return this.emitted.size;
  }

  /** After a full list: Services we published an API for that no longer exist are reported deleted. */
  async synced(present: ReadonlySet<string>): Promise<void> {
    for (const [key, prev] of [...this.emitted]) {
      if (present.has(key)) continue;
      const [namespace = '', name = ''] = key.split('/');
      await this.emitDeleted(
        key,
        {
          cluster: this.settings.cluster,
          namespace,
          name,
          uid: prev.uid,
          resourceVersion: prev.resourceVersion,
          generation: null,
        },
        prev,
      );
    }
  }

  async remove(svc: ServiceObject): Promise<void> {
    const key = keyOf(svc);
    this.reported.delete(key);
    const prev = this.emitted.get(key);
    if (prev) await this.emitDeleted(key, this.serviceRef(svc), prev);
  }

  private async emitDeleted(key: string, ref: ReturnType<ServiceController['serviceRef']>, prev: Emitted) {
    await this.emit({
      type: 'service-deleted',
      schemaVersion: 1,
      eventId: randomUUID(),
      occurredAt: new Date().toISOString(),
      idempotencyKey: `${prev.uid}/${ref.resourceVersion}/deleted`,
      service: { ...ref, uid: prev.uid },
      api: prev.api,
    });
    this.stats.deleted++;
    this.emitted.delete(key);
    this.log.info({ key, api: prev.api.name }, 'service-deleted');
  }

  private async report(svc: ServiceObject, key: string, problems: string[]): Promise<void> {
    const message = problems.join('; ');
    const fingerprint = `${svc.metadata?.uid}/${svc.metadata?.resourceVersion}/${message}`;
    this.log.warn({ key, problems }, 'Service annotations invalid: API not created/updated');
    if (this.reported.get(key) === fingerprint) return;
    const now = new Date();
    const m = svc.metadata ?? {};
    const event: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${m.name ?? 'service'}.`, namespace: m.namespace ?? 'default' },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Service',
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
      type: 'Warning',
      reason: 'InvalidApiAnnotations',
      message: message.slice(0, 1024),
      source: { component: this.settings.component },
      reportingComponent: this.settings.component,
      reportingInstance: this.settings.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.kube.createEvent(m.namespace ?? 'default', event);
      this.stats.kubeEvents++;
      this.reported.set(key, fingerprint);
    } catch (err) {
      // Not being able to post the Event must not stop the controller; the log line stays.
      this.log.error({ key, err: errorMessage(err) }, 'could not create a Kubernetes Event');
    }
  }
}
