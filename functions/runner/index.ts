/**
 * The local runner: the functions in-process against any Bus (embedded log, Kafka consumer group,
 * MemoryBus in tests). Per function, one consumer group `<prefix>mesh-apim.functions.<name>` on its
 * trigger topics; each delivered batch goes through the same handler and batch core Lambda runs, by
 * the handler's record entry point (`handler.records`: no base64 encode + decode of every value, which
 * only exists because Lambda delivers base64), or as the Lambda-shaped event when a shape is asked
 * for (tests exercise both shapes) or the handler has no record entry point. The bus commits the batch only when the handler resolves; a thrown
 * BatchRetryError (or any error) leaves it uncommitted and the bus delivers it again after its
 * backoff (100 ms doubling to 5 s), exactly Lambda's retry-the-batch behaviour. Poison records are
 * dead-lettered by the handler itself, through the bus.
 *
 * Batching: up to functions.batchSize records of one partition per invocation; functions.batchWindowMs
 * is the consumer's max wait for a batch to fill (Kafka fetch max wait; the embedded log hands over
 * what is there at once, so it only bounds latency, like Lambda's MaximumBatchingWindowInSeconds).
 */
import { randomUUID } from 'node:crypto';
import type { Batch, Bus, Subscription } from '../../bus/types.ts';
import type { Config } from '../../common/config/index.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import { topicName } from '../../events/topics.ts';
import { type AnyFunctionDefinition, type FunctionInstance, instantiateLocal } from '../lib/define.ts';
import { busDeps } from '../lib/deps.ts';
import { buildLambdaKafkaEvent, type LambdaEventShape } from '../lib/kafka-event.ts';
import { functionNames, loadFunction } from '../registry.ts';

export interface RunningFunctions {
  readonly names: string[];
  stop(): Promise<void>;
}

export interface StartFunctionsOptions {
  /** Which functions (default: every registered one). */
  only?: readonly string[];
  /** Instead of the registry (tests). */
  modules?: readonly AnyFunctionDefinition[];
  logger?: Logger;
  /**
   * Hand handlers this Lambda event shape instead of the records (default: the records, through
   * `handler.records`; both shapes are exercised by tests).
   */
  shape?: LambdaEventShape;
}

export function consumerGroup(config: Config, fn: string): string {
  return `${config.bus.topicPrefix}mesh-apim.functions.${fn}`;
}

/**
 * Runs one function over one batch the way Lambda would: same batch core, context, throw = retry;
 * the Lambda-shaped event only when `shape` is given or the handler has no record entry point.
 */
export function batchInvoker(
  instance: FunctionInstance,
  fn: string,
  options: { shape?: LambdaEventShape; bootstrapServers?: string } = {},
) {
  const direct = options.shape === undefined ? instance.handler.records : undefined;
  return async (batch: Batch): Promise<void> => {
    const context = { awsRequestId: randomUUID(), functionName: fn };
    if (direct) {
      await direct(batch.records, context);
      return;
    }
    const event = buildLambdaKafkaEvent(batch.records, {
      shape: options.shape ?? 'self-managed',
      ...(options.bootstrapServers ? { bootstrapServers: options.bootstrapServers } : {}),
    });
    await instance.handler(event, context);
  };
}

/** `start` calls this when functions.runLocal is true: every function consuming from `bus`. */
export async function startFunctions(
  config: Config,
  bus: Bus,
  options: StartFunctionsOptions = {},
): Promise<RunningFunctions> {
  const log = options.logger ?? createLogger('functions.runner');
  const modules =
    options.modules ??
    (
      await Promise.all(
        (options.only ?? functionNames()).map(async (n) => {
          const m = await loadFunction(n);
          if (!m) throw new Error(`unknown function "${n}" (known: ${functionNames().join(', ')})`);
          return m;
        }),
      )
    ).filter((m) => options.only !== undefined || m.enabled?.(config) !== false);
  // The caller's logger, when given, for the functions too (the bench silences per-batch lines).
  const deps = busDeps(bus, config, options.logger ?? createLogger('functions'));
  const running: { sub: Subscription; instance: FunctionInstance; name: string }[] = [];
  try {
    for (const m of modules) {
      const instance = instantiateLocal(m, deps);
      const topics = m.topics.map((t) => topicName(t, config.bus.topicPrefix));
      const sub = await bus.consume({
        groupId: consumerGroup(config, m.name),
        topics,
        fromBeginning: true,
        maxBatchSize: config.functions.batchSize,
        maxWaitMs: config.functions.batchWindowMs,
        handler: batchInvoker(instance, m.name, {
          ...(options.shape ? { shape: options.shape } : {}),
          bootstrapServers: config.bus.kind === 'kafka' ? config.bus.kafka.brokers.join(',') : 'embedded',
        }),
      });
      running.push({ sub, instance, name: m.name });
      log.info({ function: m.name, topics, groupId: consumerGroup(config, m.name) }, 'function started');
    }
  } catch (err) {
    await Promise.allSettled(
      running.map(async (r) => {
        await r.sub.stop();
        await r.instance.close();
      }),
    );
    throw err;
  }
  return {
    names: running.map((r) => r.name),
    async stop() {
      // Stop consuming first (an in-flight batch finishes or stays uncommitted), then release sinks.
      await Promise.allSettled(running.map((r) => r.sub.stop()));
      await Promise.allSettled(running.map((r) => r.instance.close()));
      log.info({ functions: running.map((r) => r.name) }, 'functions stopped');
    },
  };
}
