/**
 * TopicStateStore against a real Kafka broker (KAFKA_BROKERS, infra/kafka/kafka.sh): segment records,
 * the head, null-value tombstones through kafkajs, a cold start read back from the compacted topic.
 */
import { describe, expect, it } from 'vitest';
import { KafkaBus } from '../../../bus/kafka/index.ts';
import { loadConfig } from '../../../common/config/index.ts';
import type { RequestAttributes } from '../../../events/request-attributes.ts';
import { HOUR_MS, type MeterOptions, UsageMeter } from '../../../functions/usage-metering/meter.ts';
import { MAX_STATE_RECORD_BYTES, TopicStateStore } from '../../../functions/usage-metering/state-store.ts';
import { requestAttributes } from '../fixtures.ts';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) console.warn('KAFKA_BROKERS is not set: the usage state topic integration test is SKIPPED');

const TOPIC = 'mesh-apim.request-attributes.v1';
const OPTS: MeterOptions = { latenessMs: 300_000, retainClosedMs: HOUR_MS, legacyDedupePerHour: 1000 };
const H0 = Date.parse('2026-11-26T00:00:00.000Z');

function ev(seq: number, atMs: number, app: string): RequestAttributes {
  const checkId = `adapter-0~boot1:${seq}`;
  const base = requestAttributes({ requestId: `r-${seq}`, receivedAt: new Date(atMs).toISOString() });
  return { ...base, checkId, eventId: `als:${checkId}`, application: { ...base.application!, id: app } };
}

describe.skipIf(!brokers)('usage-metering state topic on Kafka', () => {
  it('saves per hour segment and head, deletes expired hours with tombstones, and a cold start reads the state back', async () => {
    const bus = new KafkaBus(loadConfig({ env: { KAFKA_BROKERS: brokers! } }).bus.kafka);
    const name = `test.usage-meter-state.${Date.now()}`;
    try {
      await bus.ensureTopics([{ name, partitions: 1, retentionMs: -1, cleanupPolicy: 'compact' }]);
      const store = new TopicStateStore(bus, name, 'usage-metering');
      expect(await store.load()).toBeNull();
      const m = new UsageMeter(OPTS);
      let seq = 0;
      // 5 hours x 2,000 applications (the last two retained: ~2 MB of JSON).
      for (let h = 0; h < 5; h++) {
        for (let i = 0; i < 2000; i++) {
          const at = H0 + h * HOUR_MS + i * 1000;
          m.touch(TOPIC, i % 3, at);
          m.ingest(TOPIC, i % 3, ev(seq++, at, `app-${i}`));
        }
        m.advance();
        m.ack(m.pending(new Date(H0)));
        await store.save(m.changes(), () => m.segments());
        m.markSaved();
      }
      expect(JSON.stringify(m.toState()).length).toBeGreaterThan(1_048_576);
      const end = BigInt((await bus.endOffsets(name))[0]!.offset);
      const recs = await bus.read(name, 0, '0', Number(end));
      expect(Math.max(...recs.map((r) => r.value?.length ?? 0))).toBeLessThan(MAX_STATE_RECORD_BYTES);
      const tombstones = recs.filter((r) => r.value === null).map((r) => r.key!.toString());
      // Hours 0..2 expired (retained 1 h after their close): removed after the head that dropped them.
      expect(tombstones).toEqual(expect.arrayContaining(['usage-metering/2026-11-26T00']));
      const cold = await new TopicStateStore(bus, name, 'usage-metering').load();
      expect(cold && 'head' in cold).toBe(true);
      if (!cold || !('head' in cold)) return;
      expect(UsageMeter.fromParts(OPTS, cold.head, cold.segments).toState()).toEqual(m.toState());
      expect(await store.changed()).toBe(false);
    } finally {
      await bus.close();
    }
  }, 120_000);
});
