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
import { analyticsFunction, createSinks, mappingFromConfig } from './analytics/publisher.ts';
import type { AnalyticsSink } from './analytics/sinks/types.ts';
import { type FunctionDeps, type KafkaHandler, kafkaBatchHandler, lambdaDeps } from './lib/index.ts';

export { FUNCTION_NAME as name } from './analytics/publisher.ts';

/** Handler over the given deps; sinks default to the configured ones. */
export function createHandler(
  deps: FunctionDeps | (() => FunctionDeps | Promise<FunctionDeps>),
  sinks?: (deps: FunctionDeps) => readonly AnalyticsSink[],
): KafkaHandler {
  return kafkaBatchHandler(
    (d: FunctionDeps) =>
      analyticsFunction({
        sinks: sinks ? sinks(d) : createSinks(d.config, d),
        mapping: mappingFromConfig(d.config),
      }),
    deps,
  );
}

/** Lambda entry point (serverless.yml: functions/analytics-publisher.handler). */
export const handler = createHandler(lambdaDeps());
