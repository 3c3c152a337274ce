/**
 * `lambdaHandler(definition)`: the Lambda entry of a function (functions/<name>/handler.ts), a middy
 * handler over the shared batch handler with two middlewares:
 *  - deps lifecycle: the deps (config from the environment, secrets resolved by ARN, lazy Kafka) and
 *    the function's core are built on the first invocation and reused while the container is warm; a
 *    failed build (a secret unavailable) is forgotten, so the next invocation builds again;
 *  - error logging: a failed invocation is logged once, with the function, the request id and
 *    whether Lambda's retry of the batch can help, before the error fails the invocation.
 * An EventBridge schedule invocation (serverless.yml `schedule` event) runs the core's `tick()`.
 */
import middy from '@middy/core';
import { errorMessage, isRetriable } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import type { BatchSummary } from './batch.ts';
import { type FunctionCore, type FunctionDefinition, kafkaFunctionOf } from './define.ts';
import { type FunctionDeps, lambdaDeps } from './deps.ts';
import { type InvocationContext, type KafkaHandler, kafkaBatchHandler } from './handler.ts';
import type { LambdaKafkaEvent } from './kafka-event.ts';

/** An EventBridge schedule invocation (serverless.yml `schedule` event) rather than a Kafka batch. */
export function isScheduledEvent(event: unknown): boolean {
  const e = event as { source?: unknown; 'detail-type'?: unknown } | null;
  return e?.source === 'aws.events' && e['detail-type'] === 'Scheduled Event';
}

export type LambdaEvent = LambdaKafkaEvent | Record<string, unknown>;
export type LambdaResult = BatchSummary | { scheduled: true; published: number };

/** What the deps middleware hands the handler: the warm container's deps, core and batch handler. */
interface Warm<E> {
  deps: FunctionDeps;
  core: FunctionCore<E>;
  kafka: KafkaHandler;
}

type Context = InvocationContext & { warm?: Warm<unknown> };

/** Builds deps and core once per deps object (lambdaDeps returns the same one while it is good). */
export function depsLifecycle<E, O>(
  definition: FunctionDefinition<E, O>,
  getDeps: () => FunctionDeps | Promise<FunctionDeps>,
): middy.MiddlewareObj<LambdaEvent, LambdaResult, Error, Context> {
  const built = new WeakMap<FunctionDeps, Warm<E>>();
  return {
    before: async (request) => {
      const deps = await getDeps();
      let warm = built.get(deps);
      if (!warm) {
        const core = definition.create(deps, definition.lambdaOptions?.(deps));
        warm = { deps, core, kafka: kafkaBatchHandler(kafkaFunctionOf(definition, core), deps) };
        built.set(deps, warm);
      }
      request.context.warm = warm as Warm<unknown>;
    },
  };
}

/** Logs a failed invocation once (the deps' logger when they were built, a bare one otherwise). */
export function errorLogging(
  name: string,
  fallback: Pick<Logger, 'warn' | 'error'> = createLogger('functions'),
): middy.MiddlewareObj<LambdaEvent, LambdaResult, Error, Context> {
  return {
    onError: async (request) => {
      const err = request.error;
      const logger = request.context.warm?.deps.logger ?? fallback;
      const retriable = isRetriable(err);
      logger[retriable ? 'warn' : 'error'](
        {
          function: name,
          requestId: request.context.awsRequestId,
          code: (err as { code?: unknown } | null)?.code,
          retriable,
          err: errorMessage(err),
        },
        retriable ? 'invocation failed; Lambda retries the batch' : 'invocation failed',
      );
      // No response set: middy rethrows the error, failing the invocation.
    },
  };
}

/**
 * The Lambda handler of a definition; `getDeps` defaults to the environment's (tests inject theirs).
 * The context is optional so `invoke` and tests can call it like the batch handler.
 */
export function lambdaHandler<E, O>(
  definition: FunctionDefinition<E, O>,
  getDeps: () => FunctionDeps | Promise<FunctionDeps> = lambdaDeps(),
  options: { logger?: Pick<Logger, 'warn' | 'error'> } = {},
): (event: LambdaEvent, context?: InvocationContext) => Promise<LambdaResult> {
  const handler = middy<LambdaEvent, LambdaResult, Error, Context>()
    .use(errorLogging(definition.name, options.logger))
    .use(depsLifecycle(definition, getDeps))
    .handler(async (event, context) => {
      const warm = context.warm!;
      if (isScheduledEvent(event)) {
        if (!warm.core.tick) throw new Error(`${definition.name} has no scheduled work`);
        return { scheduled: true, published: await warm.core.tick() };
      }
      const { warm: _w, ...invocation } = context;
      return warm.kafka(event as LambdaKafkaEvent, invocation);
    });
  return (event, context = {}) => handler(event, { ...context } as Context & middy.Request['context']);
}
