/**
 * Topic registry: the one place that says which event goes to which (versioned) topic, with which
 * schema and which partition key. Producers and consumers import from here. Operational settings
 * (partitions, retention, compaction) live in infra/topics.yaml under the same logical names.
 */
import type { z } from 'zod';
import { AnalyticsEvent } from './analytics.ts';
import { ControlPlaneChanged } from './control-plane-changed.ts';
import { DeadLetter } from './dead-letter.ts';
import { RequestAttributes } from './request-attributes.ts';
import { ServiceLifecycle } from './service-lifecycle.ts';
import { ThrottleCounts } from './throttle-counts.ts';
import { TokenRevoked } from './token-revoked.ts';
import { Usage } from './usage.ts';
import { UsageMeterState, usageMeterStateKey } from './usage-meter-state.ts';

export interface TopicContract<S extends z.ZodType = z.ZodType> {
  /** Logical name (key in infra/topics.yaml). */
  logical: string;
  /** Versioned wire name; a breaking schema change gets a new version (a new topic). */
  name: string;
  schema: S;
  /** Partition key: events with the same key are ordered. */
  key(event: z.infer<S>): string;
  description: string;
}

function topic<S extends z.ZodType>(t: TopicContract<S>): TopicContract<S> {
  return t;
}

export const TOPICS = {
  requestAttributes: topic({
    logical: 'request-attributes',
    name: 'mesh-apim.request-attributes.v1',
    schema: RequestAttributes,
    // The check's and the access log's event for one request land on one partition (dedup is local).
    key: (e) => e.requestId,
    description: 'One event per request through the mesh (decision, identity, response)',
  }),
  serviceLifecycle: topic({
    logical: 'service-lifecycle',
    name: 'mesh-apim.service-lifecycle.v1',
    schema: ServiceLifecycle,
    key: (e) => `${e.service.namespace}/${e.service.name}`,
    description: 'service-deployed / service-deleted from the Kubernetes controller',
  }),
  tokenRevoked: topic({
    logical: 'token-revoked',
    name: 'mesh-apim.token-revoked.v1',
    schema: TokenRevoked,
    key: (e) => `${e.kind}:${e.value}`,
    description: 'Revoked API keys, tokens, consumer keys and users',
  }),
  controlPlaneChanged: topic({
    logical: 'control-plane-changed',
    name: 'mesh-apim.control-plane-changed.v1',
    schema: ControlPlaneChanged,
    key: (e) => e.entity,
    description: 'API Manager change notifications: adapters refresh their snapshot',
  }),
  analytics: topic({
    logical: 'analytics',
    name: 'mesh-apim.analytics.v1',
    schema: AnalyticsEvent,
    // Same key as the request-attributes it came from: a request's events stay on one partition.
    key: (e) => e.data.correlationId,
    description: 'WSO2 analytics events (apim:response / apim:faulty) published by analytics-publisher',
  }),
  usage: topic({
    logical: 'usage',
    name: 'mesh-apim.usage.v1',
    schema: Usage,
    // Compacted on windowId: the latest revision of every window survives.
    key: (e) => e.windowId,
    description: 'Closed hourly usage windows per application, API, tier and key type (usage-metering)',
  }),
  usageMeterState: topic({
    logical: 'usage-meter-state',
    name: 'mesh-apim.usage-meter-state.v1',
    schema: UsageMeterState,
    // Compacted: the latest head (key = consumer) and the latest record of every segment
    // (`<consumer>/<hour>`) survive; a cold start reads them back. One partition: head after segments.
    key: usageMeterStateKey,
    description:
      "usage-metering's meter state, saved incrementally after every batch: changed hour segments, then the head",
  }),
  throttle: topic({
    logical: 'throttle',
    name: 'mesh-apim.throttle.v1',
    schema: ThrottleCounts,
    // One partition, keyed by instance: each instance's reports stay in order; every instance reads all.
    key: (e) => `${e.instance.id}~${e.instance.boot}`,
    description:
      'Per-instance throttle counts and leases every sync interval: cluster-wide quotas (adapter/quota)',
  }),
  deadLetter: topic({
    logical: 'dead-letter',
    name: 'mesh-apim.dead-letter.v1',
    schema: DeadLetter,
    key: (e) => `${e.source.topic}-${e.source.partition}`,
    description: 'Records a consumer gave up on, with the reason and source coordinates',
  }),
} as const;

export type TopicKey = keyof typeof TOPICS;

/** Wire name with the configured prefix (bus.topicPrefix). */
export function topicName(t: TopicContract, prefix = ''): string {
  return `${prefix}${t.name}`;
}
