/**
 * The bus conformance suite against a real Kafka broker (KAFKA_BROKERS, started by
 * infra/kafka/kafka.sh; .ci/run does it). The outage case stops and restarts that broker.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { KafkaBus } from '../../bus/kafka/index.ts';
import { loadConfig } from '../../common/config/index.ts';
import { ConfigError } from '../../common/errors.ts';
import { busConformance } from './conformance.ts';

const brokers = process.env.KAFKA_BROKERS;
const script = fileURLToPath(new URL('../../infra/kafka/kafka.sh', import.meta.url));
const run = promisify(execFile);

function kafkaSh(command: string) {
  // The script manages the broker on the port KAFKA_BROKERS names.
  const port = /:(\d+)$/.exec(brokers!.split(',')[0]!.trim())?.[1] ?? '19092';
  return run('bash', [script, command], { env: { ...process.env, KAFKA_PORT: port }, timeout: 180_000 });
}

if (!brokers) {
  console.warn(
    'KAFKA_BROKERS is not set: the Kafka bus integration tests are SKIPPED (infra/kafka/kafka.sh start)',
  );
}

describe.skipIf(!brokers)('kafka bus (real broker)', () => {
  // A short session: after the broker restart the group waits for its old members to expire.
  const config = () =>
    loadConfig({ env: { KAFKA_BROKERS: brokers! }, overrides: { 'bus.kafka.sessionTimeoutMs': 8000 } }).bus
      .kafka;

  busConformance('kafka', {
    open: async () => new KafkaBus(config()),
    interrupt: async () => {
      await kafkaSh('status').catch(() => {
        throw new Error(
          `the broker at ${brokers} is not one infra/kafka/kafka.sh started with this KAFKA_RUN_DIR/KAFKA_PORT: cannot stop it`,
        );
      });
      await kafkaSh('stop');
      await new Promise((r) => setTimeout(r, 2000));
      await kafkaSh('start');
    },
    // Kafka enforces retention on its own timer (log.retention.check.interval.ms=2000 in kafka.sh).
    retentionPass: async () => {},
  });

  it('kafka: describeTopics reports the settings ensureTopics created', async () => {
    const bus = new KafkaBus(config());
    try {
      const name = `test.kafka.describe.${Date.now()}`;
      await bus.ensureTopics([
        { name, partitions: 2, retentionMs: 3_600_000, retentionBytes: 1_000_000, cleanupPolicy: 'delete' },
      ]);
      await bus.ensureTopics([{ name, partitions: 5, retentionMs: 1, cleanupPolicy: 'compact' }]);
      const [d] = await bus.describeTopics([name]);
      expect(d).toMatchObject({
        name,
        partitions: 2,
        retentionMs: 3_600_000,
        retentionBytes: 1_000_000,
        cleanupPolicy: 'delete',
      });
      expect(d!.offsets).toEqual([
        { partition: 0, start: '0', end: '0' },
        { partition: 1, start: '0', end: '0' },
      ]);
    } finally {
      await bus.close();
    }
  });

  it('kafka: MSK IAM without a region to sign for is a clear configuration error', () => {
    const env = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      expect(() => new KafkaBus({ ...config(), saslMechanism: 'aws', awsRegion: '' })).toThrow(ConfigError);
    } finally {
      for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
    }
  });
});
