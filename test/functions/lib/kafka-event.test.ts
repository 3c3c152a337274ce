import { describe, expect, it } from 'vitest';
import type { InRecord } from '../../../bus/types.ts';
import {
  buildLambdaKafkaEvent,
  decodeKafkaEvent,
  InvalidLambdaEventError,
  splitTopicPartition,
} from '../../../functions/lib/index.ts';

const rec = (over: Partial<InRecord> = {}): InRecord => ({
  topic: 'mesh-apim.request-attributes.v1',
  partition: 3,
  offset: '41',
  timestamp: 1_764_129_600_000,
  key: Buffer.from('req-1'),
  value: Buffer.from('{"a":1}'),
  headers: { traceparent: Buffer.from('00-abc-01'), bin: Buffer.from([0, 255, 128]) },
  ...over,
});

describe('splitTopicPartition', () => {
  it('splits at the last dash (topic names contain dashes)', () => {
    expect(splitTopicPartition('mesh-apim.request-attributes.v1-12')).toEqual({
      topic: 'mesh-apim.request-attributes.v1',
      partition: 12,
    });
  });
  it('rejects keys without a numeric partition', () => {
    expect(() => splitTopicPartition('topic')).toThrow(InvalidLambdaEventError);
    expect(() => splitTopicPartition('topic-x')).toThrow(InvalidLambdaEventError);
  });
});

describe('Lambda Kafka events, both shapes', () => {
  for (const shape of ['msk', 'self-managed'] as const) {
    it(`${shape}: build -> decode round-trips key, value, headers and coordinates`, () => {
      const records = [rec(), rec({ offset: '42', key: null }), rec({ partition: 0, offset: '7' })];
      const event = buildLambdaKafkaEvent(records, { shape });
      expect(event.eventSource).toBe(shape === 'msk' ? 'aws:kafka' : 'SelfManagedKafka');
      if (shape === 'msk')
        expect('eventSourceArn' in event && event.eventSourceArn).toMatch(/^arn:aws:kafka:/);
      expect(Object.keys(event.records).sort()).toEqual([
        'mesh-apim.request-attributes.v1-0',
        'mesh-apim.request-attributes.v1-3',
      ]);
      const first = event.records['mesh-apim.request-attributes.v1-3']![0]!;
      expect(first.key).toBe(Buffer.from('req-1').toString('base64'));
      expect(first.headers).toEqual([{ traceparent: [...Buffer.from('00-abc-01')] }, { bin: [0, 255, 128] }]);
      const decoded = decodeKafkaEvent(event);
      expect(decoded.every((d) => d.ok)).toBe(true);
      const back = decoded.map((d) => (d.ok ? d.record : null));
      const byCoords = (a: InRecord | null, b: InRecord | null) =>
        a!.partition - b!.partition || Number(a!.offset) - Number(b!.offset);
      expect([...back].sort(byCoords)).toEqual([...records].sort(byCoords));
    });
  }

  it('decodes a hand-written MSK event as AWS documents it (signed Java header bytes too)', () => {
    const event = {
      eventSource: 'aws:kafka',
      eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/demo/abc',
      bootstrapServers: 'b-1.demo:9092',
      records: {
        'my-topic-with-dashes-0': [
          {
            topic: 'my-topic-with-dashes',
            partition: 0,
            offset: 15,
            timestamp: 1545084650987,
            timestampType: 'CREATE_TIME',
            value: Buffer.from('hello').toString('base64'),
            headers: [{ h: [104, 105] }, { s: [-1, -128] }],
          },
        ],
      },
    };
    const [d] = decodeKafkaEvent(event);
    expect(d?.ok).toBe(true);
    if (!d?.ok) return;
    expect(d.record.topic).toBe('my-topic-with-dashes');
    expect(d.record.offset).toBe('15');
    expect(d.record.key).toBeNull();
    expect(d.record.value?.toString()).toBe('hello');
    expect(d.record.headers.h?.toString()).toBe('hi');
    expect([...d.record.headers.s!]).toEqual([255, 128]);
  });

  it('a corrupt record is returned as a failure, not thrown', () => {
    const event = buildLambdaKafkaEvent([rec()]);
    const r = event.records['mesh-apim.request-attributes.v1-3']![0]!;
    r.value = 'not*base64!';
    const [d] = decodeKafkaEvent(event);
    expect(d?.ok).toBe(false);
    if (d?.ok === false) {
      expect(d.failure.error.code).toBe('RECORD_UNDECODABLE');
      expect(d.failure.offset).toBe('41');
    }
  });

  it('strict base64: base64url characters, padding in the middle and whitespace are corrupt; canonical values decode', () => {
    const decodeValue = (value: string) => {
      const event = buildLambdaKafkaEvent([rec()]);
      event.records['mesh-apim.request-attributes.v1-3']![0]!.value = value;
      return decodeKafkaEvent(event)[0]!;
    };
    for (const bad of ['ab-_', 'QQ==QQ==', 'QUJD RA==', '=QUJ', 'QUJDRA=', 'Q===']) {
      expect(decodeValue(bad).ok, bad).toBe(false);
    }
    for (const [text, plain] of [
      ['', ''],
      ['QQ==', 'A'],
      ['QUI=', 'AB'],
      ['QUJD', 'ABC'],
      [Buffer.from('ÿþ{"a":1}').toString('base64'), 'ÿþ{"a":1}'],
    ] as const) {
      const d = decodeValue(text);
      expect(d.ok && d.record.value?.toString(), text).toBe(plain);
    }
  });

  it('rejects events that are not Kafka events', () => {
    expect(() => decodeKafkaEvent({ Records: [] })).toThrow(/eventSource/);
    expect(() => decodeKafkaEvent({ eventSource: 'aws:kafka', records: {} })).toThrow(/eventSourceArn/);
    expect(() => decodeKafkaEvent({ eventSource: 'SelfManagedKafka', records: [] })).toThrow(/records/);
  });
});
