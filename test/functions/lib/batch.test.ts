import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { MeshApimError } from '../../../common/errors.ts';
import { createLogger } from '../../../common/log.ts';
import { DeadLetter } from '../../../events/dead-letter.ts';
import type { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import {
  BatchRetryError,
  buildLambdaKafkaEvent,
  busDeps,
  type FunctionDeps,
  inRecordsFromValues,
  type KafkaFunction,
  kafkaBatchHandler,
  MemoryDeadLetterPublisher,
} from '../../../functions/lib/index.ts';
import { requestAttributes } from '../fixtures.ts';

const topic = TOPICS.requestAttributes.name;
const config = loadConfig({ env: {} });

/** A test function that records what it saw and fails on demand by requestId. */
function recorder(failures: Record<string, Error> = {}) {
  const seen: string[] = [];
  const fn: KafkaFunction<RequestAttributes> = {
    name: 'test-fn',
    topics: [TOPICS.requestAttributes],
    async process(records) {
      return records.map(({ event }) => {
        const f = failures[event.requestId];
        if (f) return { status: 'failed', error: f };
        if (event.requestId.startsWith('skip')) return { status: 'skipped', reason: 'not interesting' };
        seen.push(event.requestId);
        return { status: 'ok' };
      });
    },
  };
  return { fn, seen };
}

function deps(dl = new MemoryDeadLetterPublisher()): FunctionDeps & { dl: MemoryDeadLetterPublisher } {
  return {
    config,
    deadLetters: dl,
    producer: new MemoryBus(),
    logger: createLogger('test'),
    now: () => new Date(),
    dl,
  };
}

describe('kafkaBatchHandler poison handling', () => {
  it('valid records proceed; undecodable and schema-invalid ones are dead-lettered with coordinates', async () => {
    const { fn, seen } = recorder();
    const values = [
      requestAttributes({ requestId: 'a' }),
      '{not json',
      { ...requestAttributes({ requestId: 'b' }), decision: { kind: 'maybe' } },
      requestAttributes({ requestId: 'skip-1' }),
      requestAttributes({ requestId: 'c' }),
    ];
    const records = inRecordsFromValues(topic, values, { partition: 2, firstOffset: 100 });
    const event = buildLambdaKafkaEvent(records, { shape: 'msk' });
    // and one record whose base64 is corrupt
    event.records[`${topic}-2`]!.push({ topic, partition: 2, offset: 105, timestamp: 1, value: '%%%%' });
    const d = deps();
    const summary = await kafkaBatchHandler(fn, d)(event);
    expect(seen).toEqual(['a', 'c']);
    expect(summary).toMatchObject({ records: 6, processed: 2, skipped: 1, deadLettered: 3, failures: 0 });
    expect(d.dl.letters.map((l) => [l.source.offset, l.error.stage, l.error.code])).toEqual([
      ['101', 'decode', 'RECORD_UNDECODABLE'],
      ['102', 'validate', 'RECORD_SCHEMA_INVALID'],
      ['105', 'decode', 'RECORD_UNDECODABLE'],
    ]);
    for (const l of d.dl.letters) {
      expect(DeadLetter.parse(l)).toBeTruthy();
      expect(l.consumer).toBe('test-fn');
      expect(l.source).toMatchObject({ topic, partition: 2 });
    }
    expect(Buffer.from(d.dl.letters[0]!.original.value!, 'base64').toString()).toBe('{not json');
    expect((d.dl.letters[1]!.error.details as { issues: { path: string }[] }).issues[0]?.path).toBe(
      'decision.kind',
    );
    expect(Object.keys(d.dl.letters[2]!.source).sort()).toEqual([
      'offset',
      'partition',
      'timestamp',
      'topic',
    ]);
  });

  it('a non-retriable processing failure dead-letters that record only', async () => {
    const { fn, seen } = recorder({ b: new MeshApimError('BAD', 'cannot map', { retriable: false }) });
    const d = deps();
    const records = inRecordsFromValues(
      topic,
      ['a', 'b', 'c'].map((id) => requestAttributes({ requestId: id })),
    );
    const summary = await kafkaBatchHandler(fn, d)(buildLambdaKafkaEvent(records));
    expect(seen).toEqual(['a', 'c']);
    expect(summary.deadLettered).toBe(1);
    expect(d.dl.letters[0]).toMatchObject({
      error: { stage: 'process', code: 'BAD' },
      source: { offset: '1' },
    });
  });

  it('a retriable failure fails the invocation and dead-letters nothing (the retry will)', async () => {
    const { fn } = recorder({ b: new MeshApimError('DOWN', 'sink down', { retriable: true }) });
    const d = deps();
    const values = [requestAttributes({ requestId: 'a' }), 'garbage', requestAttributes({ requestId: 'b' })];
    const handler = kafkaBatchHandler(fn, d);
    const err = await handler(buildLambdaKafkaEvent(inRecordsFromValues(topic, values))).catch((e) => e);
    expect(err).toBeInstanceOf(BatchRetryError);
    expect(err.failures).toEqual([{ topic, partition: 0, offset: '2', error: 'sink down' }]);
    expect(d.dl.letters).toHaveLength(0);
  });

  it('unknown errors are retriable (safe default for I/O)', async () => {
    const { fn } = recorder({ a: new Error('ECONNRESET') });
    const h = kafkaBatchHandler(fn, deps());
    await expect(
      h(buildLambdaKafkaEvent(inRecordsFromValues(topic, [requestAttributes({ requestId: 'a' })]))),
    ).rejects.toThrow(BatchRetryError);
  });

  it('records of a topic the function does not consume are poison', async () => {
    const { fn } = recorder();
    const d = deps();
    await kafkaBatchHandler(fn, d)(buildLambdaKafkaEvent(inRecordsFromValues('other.topic', [{}])));
    expect(d.dl.letters[0]?.error.code).toBe('UNKNOWN_TOPIC');
  });

  it('publishes dead letters to the bus dead-letter topic; a failing publish fails the batch', async () => {
    const bus = new MemoryBus();
    const { fn } = recorder();
    const h = kafkaBatchHandler(fn, busDeps(bus, config, createLogger('test')));
    const event = buildLambdaKafkaEvent(inRecordsFromValues(topic, ['x']));
    await h(event);
    const dl = bus.records(TOPICS.deadLetter.name);
    expect(dl).toHaveLength(1);
    expect(DeadLetter.parse(JSON.parse(dl[0]!.value!.toString())).source.offset).toBe('0');
    bus.failProduce = new Error('broker down');
    await expect(h(event)).rejects.toMatchObject({ code: 'DEAD_LETTER_PUBLISH_FAILED', retriable: true });
  });

  it('dead-letter ids are deterministic across redeliveries', async () => {
    const { fn } = recorder();
    const d = deps();
    const event = buildLambdaKafkaEvent(inRecordsFromValues(topic, ['x']));
    await kafkaBatchHandler(fn, d)(event);
    await kafkaBatchHandler(fn, d)(event);
    expect(d.dl.letters[0]!.eventId).toBe(d.dl.letters[1]!.eventId);
  });

  it('deps may be a lazy provider (Lambda: nothing is built until the first invocation)', async () => {
    const { fn } = recorder();
    let built = 0;
    const h = kafkaBatchHandler(fn, () => {
      built++;
      return deps();
    });
    expect(built).toBe(0);
    await h(buildLambdaKafkaEvent([]));
    expect(built).toBe(1);
  });
});

describe('kafkaBatchHandler with a definition factory', () => {
  it('builds the definition once per deps object', async () => {
    let builds = 0;
    const d = deps();
    const h = kafkaBatchHandler((fd: FunctionDeps) => {
      builds++;
      expect(fd).toBe(d);
      return recorder().fn;
    }, d);
    await h(buildLambdaKafkaEvent([]));
    await h(buildLambdaKafkaEvent([]));
    expect(builds).toBe(1);
  });
});
