/**
 * `kafkaBatchHandler`: the batch handler every Kafka-triggered function runs behind. It decodes the
 * Lambda event (both shapes), runs the shared batch core and returns the batch summary; it throws
 * (failing the invocation, so Lambda retries the batch) on retriable failures. On Lambda it is
 * wrapped by functions/lib/lambda.ts (middy: deps lifecycle, error logging).
 */

import { randomUUID } from 'node:crypto';
import type { InRecord } from '../../bus/types.ts';
import type { BatchContext, BatchSummary, KafkaFunction } from './batch.ts';
import { settleBatch } from './batch.ts';
import type { FunctionDeps } from './deps.ts';
import { type DecodedEntry, decodeKafkaEvent, type LambdaKafkaEvent } from './kafka-event.ts';

/** The subset of Lambda's context we use; the local runner and `invoke` pass a compatible object. */
export interface InvocationContext {
  awsRequestId?: string;
  functionName?: string;
  getRemainingTimeInMillis?: () => number;
}

export type KafkaHandler = ((
  event: LambdaKafkaEvent,
  context?: InvocationContext,
) => Promise<BatchSummary>) & {
  /**
   * The same batch core over records already read from the bus (replay): skips only the Lambda
   * transport encoding (base64 out, base64 back in), which is most of a replay's own cost.
   */
  records?: (records: readonly InRecord[], context?: InvocationContext) => Promise<BatchSummary>;
};

/**
 * Builds the handler. `fn` is the function definition or a factory of it from the deps (for
 * functions holding clients/sinks built from config); the factory runs once per deps object.
 * `deps` is a value or a (lazy) provider resolved on each invocation (Lambda: `lambdaDeps()`).
 */
export function kafkaBatchHandler<E>(
  fn: KafkaFunction<E> | ((deps: FunctionDeps) => KafkaFunction<E>),
  deps: FunctionDeps | (() => FunctionDeps | Promise<FunctionDeps>),
): KafkaHandler {
  const built = new WeakMap<FunctionDeps, KafkaFunction<E>>();
  const resolve = (d: FunctionDeps): KafkaFunction<E> => {
    if (typeof fn !== 'function') return fn;
    let f = built.get(d);
    if (!f) {
      f = fn(d);
      built.set(d, f);
    }
    return f;
  };
  const settle = async (
    entries: readonly DecodedEntry[],
    context: InvocationContext,
  ): Promise<BatchSummary> => {
    const d = typeof deps === 'function' ? await deps() : deps;
    const fn = resolve(d);
    const requestId = context.awsRequestId ?? randomUUID();
    const ctx: BatchContext = {
      functionName: fn.name,
      logger: d.logger.child({ function: fn.name, requestId }),
      topicPrefix: d.config.bus.topicPrefix,
      now: d.now,
      requestId,
    };
    return settleBatch(fn, entries, ctx, d.deadLetters);
  };
  const out: KafkaHandler = (event, context = {}) => settle(decodeKafkaEvent(event), context);
  out.records = (records, context = {}) =>
    settle(
      records.map((record) => ({ ok: true, record })),
      context,
    );
  return out;
}
