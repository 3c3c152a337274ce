/**
 * api-auto-creator: service-deployed / service-deleted -> the API created, revised, deployed and
 * published in WSO2 API Manager (autoCreator.target = apim), or written into the standalone control
 * plane (the default). Trigger: mesh-apim.service-lifecycle.v1 (MSK or self-managed Kafka).
 *
 * At-least-once contract: a redelivered event finds the API in the state it asks for and changes
 * nothing (APIM: exact name+version search and a revision marker holding the definition/settings
 * hashes; standalone: the fragment file is rewritten only when its content differs). Within a batch,
 * records are applied in order and the first retriable failure stops the batch, so a later event of
 * the same Service is never applied before an earlier one. 4xx answers from APIM, unusable OpenAPI
 * documents and impossible requests are dead-lettered with APIM's error body.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { resolveFragmentsDir } from '../../adapter/resolved.ts';
import { PublisherClient } from '../../apim/publisher-client.ts';
import type { Config } from '../../common/config/index.ts';
import { isRetriable } from '../../common/errors.ts';
import type { ServiceLifecycle } from '../../events/service-lifecycle.ts';
import { TOPICS } from '../../events/topics.ts';
import {
  type FunctionDeps,
  type KafkaFunction,
  kafkaBatchHandler,
  type RecordOutcome,
} from '../lib/index.ts';
import type { FunctionInstance, FunctionModule } from '../registry.ts';
import { ApimTarget } from './apim-target.ts';
import { type ApiTarget, processLifecycleEvent } from './core.ts';
import { StandaloneTarget } from './standalone-target.ts';

export const name = 'api-auto-creator';

function httpsAgent(config: Config): Agent | undefined {
  const { caFile, certFile, keyFile } = config.apim;
  if (!caFile && !certFile && !keyFile) return undefined;
  return new Agent({
    ...(caFile ? { ca: readFileSync(caFile) } : {}),
    ...(certFile ? { cert: readFileSync(certFile) } : {}),
    ...(keyFile ? { key: readFileSync(keyFile) } : {}),
    keepAlive: true,
  });
}

export function createTarget(deps: FunctionDeps): ApiTarget {
  const { config, logger } = deps;
  const c = config.autoCreator;
  if (c.target === 'standalone') {
    return new StandaloneTarget(
      { fragmentsDir: resolveFragmentsDir(config), subscribers: c.standaloneSubscribers },
      logger.child({ function: name }),
    );
  }
  const agent = httpsAgent(config);
  const publisher = new PublisherClient({
    baseUrl: config.apim.url,
    username: config.apim.username,
    password: config.apim.password,
    clientName: c.clientName,
    timeoutMs: config.apim.requestTimeoutMs,
    maxAttempts: c.maxAttempts,
    retryBaseMs: c.retryBaseMs,
    log: logger.child({ function: name, component: 'publisher-client' }),
    ...(agent ? { httpsAgent: agent } : {}),
  });
  return new ApimTarget(
    publisher,
    {
      vhost: c.vhost,
      displayOnDevportal: c.displayOnDevportal,
      maxRevisions: c.maxRevisions,
      onDelete: c.onDelete,
    },
    logger.child({ function: name }),
  );
}

export function definition(
  deps: FunctionDeps,
  target: ApiTarget = createTarget(deps),
): KafkaFunction<ServiceLifecycle> {
  const openapi = {
    timeoutMs: deps.config.autoCreator.openapiTimeoutMs,
    maxBytes: deps.config.autoCreator.openapiMaxBytes,
  };
  return {
    name,
    topics: [TOPICS.serviceLifecycle],
    idempotency:
      'APIM state is compared before any change (exact name+version, revision marker with content hashes); standalone fragments are rewritten only when different',
    async process(records, ctx) {
      const outcomes: RecordOutcome[] = [];
      let stopped: unknown = null;
      for (const r of records) {
        if (stopped !== null) {
          // Keep per-Service order: nothing after a retriable failure runs before it succeeds.
          outcomes.push({ status: 'failed', error: stopped });
          continue;
        }
        try {
          await processLifecycleEvent(r.event, { target, openapi, log: ctx.logger });
          outcomes.push({ status: 'ok' });
        } catch (error) {
          outcomes.push({ status: 'failed', error });
          if (isRetriable(error)) stopped = error;
        }
      }
      return outcomes;
    },
  };
}

export function create(deps: FunctionDeps, target?: ApiTarget): FunctionInstance {
  const fn = definition(deps, target);
  return { handler: kafkaBatchHandler(fn, deps), close: async () => {} };
}

export const module: FunctionModule = {
  name,
  description:
    'service-deployed/-deleted -> API created, revised, deployed, published (WSO2 APIM or standalone)',
  topics: [TOPICS.serviceLifecycle],
  create: (deps) => create(deps),
};
