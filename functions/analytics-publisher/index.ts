/**
 * analytics-publisher: request-attributes -> WSO2 API Manager analytics events (`apim:response`,
 * `apim:faulty`) -> the configured sinks (ELK log file, Elasticsearch/OpenSearch `_bulk`, Kafka).
 * Trigger: mesh-apim.request-attributes.v1 (MSK or self-managed Kafka).
 *
 * At-least-once contract: Lambda / the local runner may deliver a batch more than once; this is
 * harmless because every sink write is idempotent per correlationId (see publisher.ts IDEMPOTENCY).
 * Poison records (undecodable, schema-invalid, rejected by a sink for good) go to the dead-letter
 * topic; a sink being unavailable fails the invocation so the batch is retried.
 */
import type { RequestAttributes } from '../../events/request-attributes.ts';
import { TOPICS } from '../../events/topics.ts';
import { defineFunction, type FunctionDeps, type FunctionInstance, instantiate } from '../lib/define.ts';
import {
  analyticsFunction,
  createSinks,
  FUNCTION_NAME,
  IDEMPOTENCY,
  mappingFromConfig,
  type SinkOverrides,
} from './publisher.ts';
import type { AnalyticsSink } from './sinks/types.ts';

export interface AnalyticsPublisherOptions {
  /** Instead of the configured sinks (tests, replay --dry-run). */
  sinks?: readonly AnalyticsSink[];
  /** Changes to the configured sinks (replay: only some sinks, the replay file). */
  overrides?: SinkOverrides;
}

const analyticsPublisher = defineFunction<RequestAttributes, AnalyticsPublisherOptions>({
  name: FUNCTION_NAME,
  description:
    'request-attributes -> WSO2 analytics events (apim:response / apim:faulty) -> file, _bulk, Kafka sinks',
  topics: [TOPICS.requestAttributes],
  idempotency: IDEMPOTENCY,
  create(deps, options = {}) {
    const sinks = options.sinks ?? createSinks(deps.config, deps, options.overrides);
    const core = analyticsFunction({ sinks, mapping: mappingFromConfig(deps.config) });
    return {
      process: (records, ctx) => core.process(records, ctx),
      close: async () => {
        await Promise.allSettled(sinks.map((s) => s.close()));
      },
    };
  },
});
export default analyticsPublisher;

/** An instance over the given deps (tests, replay); sinks default to the configured ones. */
export function create(deps: FunctionDeps, options: AnalyticsPublisherOptions = {}): FunctionInstance {
  return instantiate(analyticsPublisher, deps, options);
}
