/**
 * analytics-publisher: request-attributes -> WSO2 API Manager analytics events (`apim:response`,
 * `apim:faulty`) -> the configured sinks (ELK log file, Elasticsearch/OpenSearch `_bulk`, Kafka).
 * Trigger: mesh-apim.request-attributes.v1 (MSK or self-managed Kafka).
 *
 * At-least-once contract: Lambda / the local runner may deliver a batch more than once; this is
 * harmless because every sink write is idempotent per correlationId (see analytics/publisher.ts
 * IDEMPOTENCY). Poison records (undecodable, schema-invalid, rejected by a sink for good) go to the
 * dead-letter topic; a sink being unavailable fails the invocation so the batch is retried.
 */
import { TOPICS } from '../../events/topics.ts';
import { type FunctionDeps, kafkaBatchHandler } from '../lib/index.ts';
import type { FunctionInstance, FunctionModule } from '../registry.ts';
import {
  analyticsFunction,
  createSinks,
  FUNCTION_NAME,
  mappingFromConfig,
  type SinkOverrides,
} from './publisher.ts';
import type { AnalyticsSink } from './sinks/types.ts';

export const name = FUNCTION_NAME;

/** An instance over the given deps; sinks default to the configured ones (overrides: replay). */
export function create(
  deps: FunctionDeps,
  options: { sinks?: readonly AnalyticsSink[]; overrides?: SinkOverrides } = {},
): FunctionInstance & { sinks: readonly AnalyticsSink[] } {
  const sinks = options.sinks ?? createSinks(deps.config, deps, options.overrides);
  const fn = analyticsFunction({ sinks, mapping: mappingFromConfig(deps.config) });
  return {
    sinks,
    handler: kafkaBatchHandler(fn, deps),
    close: async () => {
      await Promise.allSettled(sinks.map((s) => s.close()));
    },
  };
}

export const module: FunctionModule = {
  name,
  description:
    'request-attributes -> WSO2 analytics events (apim:response / apim:faulty) -> file, _bulk, Kafka sinks',
  topics: [TOPICS.requestAttributes],
  create: (deps) => create(deps),
};
