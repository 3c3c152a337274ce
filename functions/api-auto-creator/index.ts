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
import type { Agent } from 'node:https';
import { resolveFragmentsDir } from '../../adapter/resolved.ts';
import { PublisherClient } from '../../apim/publisher-client.ts';
import { apimTlsFiles, hasTlsFiles, tlsAgent } from '../../apim/tls.ts';
import type { Config } from '../../common/config/index.ts';
import { isRetriable } from '../../common/errors.ts';
import type { ServiceLifecycle } from '../../events/service-lifecycle.ts';
import { TOPICS } from '../../events/topics.ts';
import type { RecordOutcome } from '../lib/batch.ts';
import { defineFunction, type FunctionDeps, type FunctionInstance, instantiate } from '../lib/define.ts';
import { ApimTarget } from './apim-target.ts';
import { type ApiTarget, processLifecycleEvent } from './core.ts';
import { StandaloneTarget } from './standalone-target.ts';

export const name = 'api-auto-creator';

/** apim/tls.ts's agent when TLS files are set (none: axios' default agent, system CAs). */
function httpsAgent(config: Config): Agent | undefined {
  const files = apimTlsFiles(config.apim);
  return hasTlsFiles(files) ? tlsAgent(files) : undefined;
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

export interface ApiAutoCreatorOptions {
  /** Instead of the configured target (tests). */
  target?: ApiTarget;
}

const apiAutoCreator = defineFunction<ServiceLifecycle, ApiAutoCreatorOptions>({
  name,
  description:
    'service-deployed/-deleted -> API created, revised, deployed, published (WSO2 APIM or standalone)',
  topics: [TOPICS.serviceLifecycle],
  idempotency:
    'APIM state is compared before any change (exact name+version, revision marker with content hashes); standalone fragments are rewritten only when different',
  create(deps, options = {}) {
    const target = options.target ?? createTarget(deps);
    const openapi = {
      timeoutMs: deps.config.autoCreator.openapiTimeoutMs,
      maxBytes: deps.config.autoCreator.openapiMaxBytes,
    };
    return {
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
  },
});
export default apiAutoCreator;

/** An instance over the given deps (tests); the target defaults to the configured one. */
export function create(deps: FunctionDeps, target?: ApiTarget): FunctionInstance {
  return instantiate(apiAutoCreator, deps, target ? { target } : {});
}
