import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EmbeddedBus } from '../../bus/embedded/index.ts';
import { TopicError } from '../../bus/errors.ts';
import { createBus } from '../../bus/index.ts';
import { KafkaBus } from '../../bus/kafka/index.ts';
import { loadConfig } from '../../common/config/index.ts';
import { ConfigError } from '../../common/errors.ts';

describe('createBus', () => {
  it('defaults to the embedded log under <dataDir>/bus', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'createbus-'));
    try {
      const bus = createBus(loadConfig({ env: { DATA_DIR: dataDir } }));
      expect(bus).toBeInstanceOf(EmbeddedBus);
      expect(bus.kind).toBe('embedded');
      expect(existsSync(join(dataDir, 'bus', 'log.db'))).toBe(true);
      await expect(bus.read('auto-created', 3, '0', 1)).rejects.toThrow(TopicError);
      await bus.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('KAFKA_BROKERS selects Kafka without connecting; MSK IAM is set up without signing or connecting', async () => {
    const bus = createBus(loadConfig({ env: { KAFKA_BROKERS: '127.0.0.1:1' } }));
    expect(bus).toBeInstanceOf(KafkaBus);
    await bus.close();
    const iam = createBus(
      loadConfig({
        env: {
          KAFKA_BROKERS: '127.0.0.1:1',
          MESH_APIM_BUS_KAFKA_SASL_MECHANISM: 'aws',
          MESH_APIM_BUS_KAFKA_AWS_REGION: 'eu-west-1',
        },
      }),
    );
    expect(iam).toBeInstanceOf(KafkaBus);
    await iam.close();
    // A misspelt mechanism still fails at load.
    expect(() =>
      loadConfig({ env: { KAFKA_BROKERS: '127.0.0.1:1', MESH_APIM_BUS_KAFKA_SASL_MECHANISM: 'iam' } }),
    ).toThrow(ConfigError);
  });
});
