/**
 * createBus(config): the configured bus (bus.kind; setting KAFKA_BROKERS selects kafka). The result is
 * also a BusAdmin (describeTopics) for `mesh-apim topics`.
 */
import { join } from 'node:path';
import type { Config } from '../common/config/index.ts';
import type { Logger } from '../common/log.ts';
import { EmbeddedBus } from './embedded/index.ts';
import { KafkaBus } from './kafka/index.ts';
import type { Bus, BusAdmin } from './types.ts';

export type AdminBus = Bus & BusAdmin;

export function createBus(config: Config, logger?: Logger): AdminBus {
  if (config.bus.kind === 'kafka') return new KafkaBus(config.bus.kafka, logger);
  return new EmbeddedBus({
    dir: join(config.dataDir, 'bus'),
    ...config.bus.embedded,
    ...(logger ? { logger } : {}),
  });
}

export type { Bus, BusAdmin } from './types.ts';
