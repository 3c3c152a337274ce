/**
 * `kafkaBatchHandler`: the thin middy 6 handler every Kafka-triggered function exports. It decodes
 * the Lambda event (both shapes), runs the shared batch core and returns the batch summary; it throws
 * (failing the invocation, so Lambda retries the batch) on retriable failures.
 */

import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import type { BatchContext, BatchSummary, KafkaFunction } from './batch.ts';
import { settleBatch } from './batch.ts';
import type { FunctionDeps } from './deps.ts';
import { decodeKafkaEvent, type LambdaKafkaEvent } from './kafka-event.ts';

/** The subset of Lambda's context we use; the local runner and `invoke` pass a compatible object. */
export interface InvocationContext {
  awsRequestId?: string;
  functionName?: string;
  getRemainingTimeInMillis?: () => number;
}

export type KafkaHandler = (event: LambdaKafkaEvent, context?: InvocationContext) => Promise<BatchSummary>;

/** Builds the handler; `deps` may be a value or a (lazy) provider resolved on each invocation. */
export function kafkaBatchHandler<E>(
  fn: KafkaFunction<E>,
  deps: FunctionDeps | (() => FunctionDeps | Promise<FunctionDeps>),
): KafkaHandler {
  const core = async (event: LambdaKafkaEvent, context: InvocationContext = {}): Promise<BatchSummary> => {
    const d = typeof deps === 'function' ? await deps() : deps;
    const requestId = context.awsRequestId ?? randomUUID();
    const ctx: BatchContext = {
      functionName: fn.name,
      logger: d.logger.child({ function: fn.name, requestId }),
      topicPrefix: d.config.bus.topicPrefix,
      now: d.now,
      requestId,
    };
    return settleBatch(fn, decodeKafkaEvent(event), ctx, d.deadLetters);
  };
  const handler = middy(core as (event: LambdaKafkaEvent, context: never) => Promise<BatchSummary>);
  // middy's handler takes (event, context); a missing context is fine for our core.
  return (event, context) => handler(event, (context ?? {}) as never) as Promise<BatchSummary>;
}
