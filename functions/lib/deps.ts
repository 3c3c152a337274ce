/**
 * What a handler needs from the outside, injectable: tests and the local runner pass a Bus-backed
 * publisher; on Lambda the dead-letter producer is built from the environment on first use, so
 * importing a function module (unit tests, `invoke --dry-run`) never opens a broker connection.
 */
import type { Bus, OutRecord } from '../../bus/types.ts';
import { type Config, loadConfig } from '../../common/config.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import { busDeadLetterPublisher, type DeadLetterPublisher } from './dead-letter.ts';

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
 * A produce-only Bus over kafkajs, connected on first use and reused across warm invocations.
 * kafkajs is imported lazily so a cold start that never dead-letters never loads it.
 */
export function lazyKafkaProducer(config: Config): Pick<Bus, 'produce'> & { close(): Promise<void> } {
  let producer: Promise<{ send: (r: unknown) => Promise<unknown>; disconnect: () => Promise<void> }> | null =
    null;
  const connect = async () => {
    const { Kafka, logLevel } = await import('kafkajs');
    const k = config.bus.kafka;
    const sasl =
      k.saslMechanism === 'plain' ||
      k.saslMechanism === 'scram-sha-256' ||
      k.saslMechanism === 'scram-sha-512'
        ? { mechanism: k.saslMechanism, username: k.saslUsername, password: k.saslPassword }
        : undefined;
    const kafka = new Kafka({
      clientId: `${k.clientId}-functions`,
      brokers: k.brokers,
      ssl: k.ssl,
      ...(sasl ? { sasl: sasl as never } : {}),
      logLevel: logLevel.WARN,
    });
    const p = kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    return p as unknown as { send: (r: unknown) => Promise<unknown>; disconnect: () => Promise<void> };
  };
  return {
    async produce(topic: string, records: OutRecord[]) {
      producer ??= connect().catch((err) => {
        producer = null; // next invocation tries again
        throw err;
      });
      const p = await producer;
      await p.send({
        topic,
        acks: -1,
        messages: records.map((r) => ({
          key: r.key,
          value: r.value,
          headers: r.headers,
          timestamp: r.timestamp === undefined ? undefined : String(r.timestamp),
        })),
      });
    },
    async close() {
      if (producer) await (await producer).disconnect();
      producer = null;
    },
  };
}

/** Deps on Lambda: configuration from the environment (KAFKA_BROKERS, MESH_APIM_*), Kafka created lazily. */
export function lambdaDeps(env: NodeJS.ProcessEnv = process.env): () => FunctionDeps {
  let deps: FunctionDeps | null = null;
  return () => {
    if (deps) return deps;
    const config = loadConfig({ env });
    const producer = lazyKafkaProducer(config);
    deps = {
      config,
      deadLetters: busDeadLetterPublisher(producer, config.bus.topicPrefix),
      producer,
      logger: createLogger('functions'),
      now: () => new Date(),
    };
    return deps;
  };
}
