/**
 * Lambda entry point (serverless.yml: .build/functions/analytics-publisher/handler.handler). Deps and
 * sinks are built on the first invocation and reused while the container is warm.
 */
import { type FunctionDeps, kafkaBatchHandler, lambdaDeps } from '../lib/index.ts';
import { analyticsFunction, createSinks, mappingFromConfig } from './publisher.ts';

const lazy = lambdaDeps();
export const handler = kafkaBatchHandler((d: FunctionDeps) => {
  return analyticsFunction({ sinks: createSinks(d.config, d), mapping: mappingFromConfig(d.config) });
}, lazy);
