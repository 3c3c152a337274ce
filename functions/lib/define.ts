/**
 * `defineFunction`: the one description of a function. What the local runner, `invoke`, replay and
 * the Lambda entry (functions/lib/lambda.ts) need is derived from it: the trigger topics, the consumer
 * name and the core built from the deps. Definitions import this module, never functions/registry.ts
 * (the registry imports the definitions, lazily).
 */
import type { Config } from '../../common/config/index.ts';
import type { TopicContract } from '../../events/topics.ts';
import type { BatchContext, RecordOutcome, ValidRecord } from './batch.ts';
import type { FunctionDeps } from './deps.ts';
import { type KafkaHandler, kafkaBatchHandler } from './handler.ts';

export type { FunctionDeps } from './deps.ts';

/** What a function does with its deps: built once per deps (a warm Lambda container, a runner). */
export interface FunctionCore<E = unknown> {
  /**
   * The function's core over the valid records of one batch. Returns exactly one outcome per input
   * record, in order. Throwing counts as that error for every record of the batch.
   */
  process(records: readonly ValidRecord<E>[], ctx: BatchContext): Promise<RecordOutcome[]>;
  /** Releases what the core holds (sinks, clients, state stores). */
  close?(): Promise<void>;
  /**
   * Wall-clock work between batches (usage-metering's idle close): on Lambda the EventBridge schedule
   * invocation calls it (locally the core keeps its own timer).
   */
  tick?(): Promise<number>;
}

export interface FunctionDefinition<E = unknown, O = unknown> {
  /** Consumer name: dead letters' `consumer`, logs' `function`, the local runner's group suffix. */
  name: string;
  description: string;
  /** Trigger topics (a record of any other topic is poison); the runner adds bus.topicPrefix. */
  topics: readonly TopicContract[];
  /** The at-least-once contract this function relies on (why reprocessing is harmless). */
  idempotency: string;
  /** false = the local runner leaves it out unless named (usage-billing without a billing provider). */
  enabled?(config: Config): boolean;
  /** The core over the deps; `options` injects parts (tests, replay) or the host's choices below. */
  create(deps: FunctionDeps, options?: O): FunctionCore<E>;
  /** The options the local runner creates the core with (default none). */
  localOptions?(deps: FunctionDeps): O;
  /** The options the Lambda entry creates the core with (default none). */
  lambdaOptions?(deps: FunctionDeps): O;
}

export function defineFunction<E, O = undefined>(
  definition: FunctionDefinition<E, O>,
): FunctionDefinition<E, O> {
  return definition;
}

/** A definition of any event type, as the registry and the runner hold them. */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds definitions of every event/options type
export type AnyFunctionDefinition = FunctionDefinition<any, any>;

/** A core with the batch handler over it (local runner, `invoke`, replay, tests). */
export interface FunctionInstance<E = unknown> {
  handler: KafkaHandler;
  core: FunctionCore<E>;
  /** Releases what the core holds. */
  close(): Promise<void>;
}

/** The definition's core over `deps`, behind the shared batch handler. */
export function instantiate<E, O>(
  definition: FunctionDefinition<E, O>,
  deps: FunctionDeps,
  options?: O,
): FunctionInstance<E> {
  const core = definition.create(deps, options);
  return {
    core,
    handler: kafkaBatchHandler(kafkaFunctionOf(definition, core), deps),
    close: async () => {
      await core.close?.();
    },
  };
}

/** The batch core's view of a definition and its core. */
export function kafkaFunctionOf<E>(
  definition: Pick<FunctionDefinition<E>, 'name' | 'topics'>,
  core: FunctionCore<E>,
) {
  return {
    name: definition.name,
    topics: definition.topics,
    process: (records: readonly ValidRecord<E>[], ctx: BatchContext) => core.process(records, ctx),
  };
}

/** The instance the local runner starts: the definition's `localOptions`. */
export function instantiateLocal<E, O>(
  definition: FunctionDefinition<E, O>,
  deps: FunctionDeps,
): FunctionInstance<E> {
  return instantiate(definition, deps, definition.localOptions?.(deps));
}
