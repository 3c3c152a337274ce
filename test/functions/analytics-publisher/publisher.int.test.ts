/**
 * End to end on a real bus: N request-attributes produced, the local runner publishes N analytics
 * events to the file sink and a fake `_bulk` endpoint; replaying the same range (twice) leaves N
 * distinct documents. Runs on the embedded log always, and on Kafka when KAFKA_BROKERS is set
 * (infra/kafka/kafka.sh start; topics get a unique prefix so parallel runs do not meet).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBEDDED_BUS_DEFAULTS } from '../../../bus/config.ts';
import { EmbeddedBus } from '../../../bus/embedded/index.ts';
import { KafkaBus } from '../../../bus/kafka/index.ts';
import type { Bus } from '../../../bus/types.ts';
import { type Config, loadConfig } from '../../../common/config/index.ts';
import { createLogger } from '../../../common/log.ts';
import { TOPICS, topicName } from '../../../events/topics.ts';
import { create } from '../../../functions/analytics-publisher/index.ts';
import { parseElkLine } from '../../../functions/analytics-publisher/sinks/elk-line.ts';
import { replayFileName } from '../../../functions/analytics-publisher/sinks/file.ts';
import { busDeps } from '../../../functions/lib/index.ts';
import { startFunctions } from '../../../functions/runner/index.ts';
import { replay } from '../../../functions/runner/replay.ts';
import { type FakeBulk, startFakeBulk } from '../../support/fakes/fake-bulk.ts';
import { requestAttributes } from '../fixtures.ts';

const N = 500;
const brokers = process.env.KAFKA_BROKERS;
if (!brokers)
  console.warn('KAFKA_BROKERS is not set: the Kafka variant of the functions integration test is SKIPPED');

function fileIds(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => parseElkLine(l)?.data.correlationId as string);
}

async function until(cond: () => boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function suite(kind: 'embedded' | 'kafka') {
  describe.skipIf(kind === 'kafka' && !brokers)(`analytics pipeline on the ${kind} bus`, () => {
    let dataDir: string;
    let fake: FakeBulk;
    let bus: Bus;
    let config: Config;

    beforeAll(async () => {
      dataDir = mkdtempSync(path.join(tmpdir(), `mesh-apim-fn-int-${kind}-`));
      fake = await startFakeBulk();
      const prefix = `it.fn.${process.pid}.${Date.now()}.`;
      config = loadConfig({
        env: kind === 'kafka' ? { KAFKA_BROKERS: brokers! } : {},
        overrides: {
          dataDir,
          'bus.topicPrefix': prefix,
          'functions.analytics.sinks': ['file', 'http'],
          'functions.analytics.http.url': fake.url,
          'functions.batchSize': 50,
          'functions.batchWindowMs': 100,
        },
      });
      bus =
        kind === 'kafka'
          ? new KafkaBus(config.bus.kafka, createLogger('test.kafka'))
          : new EmbeddedBus({
              ...EMBEDDED_BUS_DEFAULTS,
              dir: path.join(dataDir, 'bus'),
              logger: createLogger('test.embedded'),
            });
      await bus.ensureTopics(
        [TOPICS.requestAttributes, TOPICS.analytics, TOPICS.deadLetter].map((t) => ({
          name: topicName(t, prefix),
          partitions: 3,
          retentionMs: -1,
          cleanupPolicy: 'delete' as const,
        })),
      );
    });

    afterAll(async () => {
      await bus?.close();
      await fake?.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it(`N=${N} request-attributes -> N analytics events in the file and _bulk sinks; replaying the range twice keeps N`, async () => {
      const topic = topicName(TOPICS.requestAttributes, config.bus.topicPrefix);
      const t0 = Date.now() - 60_000;
      const events = Array.from({ length: N }, (_, i) =>
        requestAttributes({ requestId: `int-${kind}-${i}` }),
      );
      for (let i = 0; i < N; i += 100) {
        await bus.produce(
          topic,
          events
            .slice(i, i + 100)
            .map((e, j) => ({ key: e.requestId, value: JSON.stringify(e), timestamp: t0 + i + j })),
        );
      }
      const liveFile = path.join(dataDir, 'analytics', 'apim_metrics.log');
      const running = await startFunctions(config, bus, { only: ['analytics-publisher'] });
      try {
        await until(
          () => fake.docs.size === N && fileIds(liveFile).length === N,
          90_000,
          'N analytics events',
        );
      } finally {
        await running.stop();
      }
      expect(new Set(fileIds(liveFile)).size).toBe(N);
      expect(fake.docs.size).toBe(N);

      const from = new Date(t0).toISOString();
      const to = new Date(t0 + N).toISOString();
      for (let round = 0; round < 2; round++) {
        const inst = create(busDeps(bus, config, createLogger('test.replay')), {
          overrides: { fileName: replayFileName(from, to), truncateFile: true },
        });
        const s = await replay({
          bus,
          topic,
          fromMs: Date.parse(from),
          toMs: Date.parse(to),
          handler: inst.handler,
          functionName: 'analytics-publisher',
          batchSize: 100,
        });
        await inst.close();
        expect(s).toMatchObject({ read: N, published: N, deadLettered: 0 });
      }
      expect(fake.docs.size).toBe(N); // overwritten by correlationId, not added
      const replayIds = fileIds(path.join(dataDir, 'analytics', `${replayFileName(from, to)}.log`));
      expect(replayIds).toHaveLength(N);
      expect(new Set(replayIds)).toEqual(new Set(events.map((e) => e.requestId)));
      expect(fileIds(liveFile)).toHaveLength(N); // replay never touched the live file
    });
  });
}

suite('embedded');
suite('kafka');
