/**
 * What a handler needs from the outside, injectable: tests and the local runner pass a Bus-backed
 * publisher; on Lambda the dead-letter producer is built from the environment on first use, so
 * importing a function module (unit tests, `invoke --dry-run`) never opens a broker connection.
 */
import type { Bus, OutRecord } from '../../bus/types.ts';
import { type Config, loadConfig } from '../../common/config/index.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import { busDeadLetterPublisher, type DeadLetterPublisher } from './dead-letter.ts';
import { type ResolveSecretsOptions, resolveSecrets } from './secrets.ts';

export interface FunctionDeps {
  config: Config;
  deadLetters: DeadLetterPublisher;
  /** Producer for functions that publish (analytics Kafka sink); same lazy rules as deadLetters. */
  producer: Pick<Bus, 'produce'>;
  logger: Logger;
  now(): Date;
}

/** Deps over an existing Bus (local runner, tests). */
export function busDeps(bus: Pick<Bus, 'produce'>, config: Config, logger?: Logger): FunctionDeps {
  return {
    config,
    deadLetters: busDeadLetterPublisher(bus, config.bus.topicPrefix),
    producer: bus,
    logger: logger ?? createLogger('functions'),
    now: () => new Date(),
  };
}

/**
 * A produce-only view of bus/kafka's KafkaBus, created on first use and reused across warm
 * invocations. The module (and kafkajs) is imported lazily so a cold start that never produces never
 * loads it; KafkaBus itself connects its producer lazily and reconnects after a failure.
 */
export function lazyKafkaProducer(config: Config): Pick<Bus, 'produce'> & { close(): Promise<void> } {
  let bus: Promise<Bus> | null = null;
  const get = () => {
    bus ??= import('../../bus/kafka/index.ts').then(({ KafkaBus }) => new KafkaBus(config.bus.kafka));
    return bus;
  };
  return {
    async produce(topic: string, records: OutRecord[]) {
      await (await get()).produce(topic, records);
    },
    async close() {
      if (bus) await (await bus).close();
      bus = null;
    },
  };
}

/**
 * Deps on Lambda: configuration from the environment (KAFKA_BROKERS, MESH_APIM_*) with the secrets it
 * names by ARN resolved from Secrets Manager (functions/lib/secrets.ts) before anything builds the
 * Kafka bus or the API Manager client; Kafka created lazily. Built once per container; a failed
 * build (secret unavailable or malformed) is retried on the next invocation.
 */
export function lambdaDeps(
  env: NodeJS.ProcessEnv = process.env,
  secrets: ResolveSecretsOptions = {},
): () => Promise<FunctionDeps> {
  let deps: Promise<FunctionDeps> | null = null;
  const build = async (): Promise<FunctionDeps> => {
    const logger = createLogger('functions');
    const config = await resolveSecrets(loadConfig({ env }), { logger, ...secrets });
    const producer = lazyKafkaProducer(config);
    return {
      config,
      deadLetters: busDeadLetterPublisher(producer, config.bus.topicPrefix),
      producer,
      logger,
      now: () => new Date(),
    };
  };
  return () => {
    if (!deps) {
      deps = build();
      deps.catch(() => {
        deps = null;
      });
    }
    return deps;
  };
}
