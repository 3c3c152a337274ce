import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { createLogger } from '../../../common/log.ts';
import { AnalyticsEvent } from '../../../events/analytics.ts';
import { TOPICS } from '../../../events/topics.ts';
import { create } from '../../../functions/analytics-publisher/index.ts';
import { SAMPLES_DIR } from '../../../functions/analytics-publisher/samples.ts';
import { parseElkLine } from '../../../functions/analytics-publisher/sinks/elk-line.ts';
import { BatchRetryError, busDeps, type LambdaKafkaEvent } from '../../../functions/lib/index.ts';
import { type FakeBulk, startFakeBulk } from '../../support/fakes/fake-bulk.ts';

let dataDir: string;
let fake: FakeBulk;
beforeEach(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-analytics-'));
  fake = await startFakeBulk();
});
afterEach(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  await fake.close();
});

const sample = (f: string) => JSON.parse(readFileSync(path.join(SAMPLES_DIR, f), 'utf8')) as LambdaKafkaEvent;
const fileLines = () =>
  readFileSync(path.join(dataDir, 'analytics', 'apim_metrics.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => parseElkLine(l)!);

function setup(sinks = 'file,http,kafka') {
  const config = loadConfig({
    env: {
      DATA_DIR: dataDir,
      MESH_APIM_FUNCTIONS_ANALYTICS_SINKS: sinks,
      MESH_APIM_FUNCTIONS_ANALYTICS_HTTP_URL: fake.url,
      MESH_APIM_FUNCTIONS_ANALYTICS_HTTP_BACKOFF_MS: '1',
      MESH_APIM_FUNCTIONS_ANALYTICS_HTTP_MAX_ATTEMPTS: '2',
      MESH_APIM_FUNCTIONS_ANALYTICS_FILE_FSYNC: 'false',
    },
  });
  const bus = new MemoryBus();
  const { handler } = create(busDeps(bus, config, createLogger('test')));
  return { bus, handler };
}

describe('analytics-publisher handler on the Lambda-shaped samples', () => {
  const files = readdirSync(SAMPLES_DIR).filter((f) => !f.startsWith('batch-with-poison'));
  for (const shape of ['msk', 'self-managed']) {
    it(`${shape}: every case reaches the file, _bulk and Kafka sinks (or is skipped)`, async () => {
      const { bus, handler } = setup();
      const mine = files.filter((f) => f.endsWith(`.${shape}.json`));
      let published = 0;
      for (const f of mine) {
        const s = await handler(sample(f));
        expect(s.records, f).toBe(1);
        expect(s.deadLettered, f).toBe(0);
        if (f.startsWith('skipped-')) expect(s.skipped, f).toBe(1);
        else {
          expect(s.processed, f).toBe(1);
          published++;
        }
      }
      const lines = fileLines();
      expect(lines).toHaveLength(published);
      expect(fake.docs.size).toBe(published);
      const onTopic = bus
        .records(TOPICS.analytics.name)
        .map((r) => AnalyticsEvent.parse(JSON.parse(r.value!.toString())));
      expect(onTopic).toHaveLength(published);
      expect(onTopic.map((e) => e.data)).toEqual(lines.map((l) => l.data));
    });
  }

  it('a batch with poison: valid records published, the rest dead-lettered with source coordinates', async () => {
    const { bus, handler } = setup('file');
    const s = await handler(sample('batch-with-poison.msk.json'));
    expect(s).toMatchObject({ records: 4, processed: 2, deadLettered: 2 });
    const dl = bus.records(TOPICS.deadLetter.name).map((r) => JSON.parse(r.value!.toString()));
    expect(dl.map((d) => [d.consumer, d.source.offset, d.error.stage])).toEqual([
      ['analytics-publisher', '2001', 'decode'],
      ['analytics-publisher', '2002', 'validate'],
    ]);
    expect(fileLines()).toHaveLength(2);
  });

  it('a document the index rejects for good is dead-lettered; the others are published', async () => {
    const { bus, handler } = setup('http');
    const ev = sample('faulty-throttled-subscription.msk.json');
    const id = JSON.parse(Buffer.from(Object.values(ev.records)[0]![0]!.value!, 'base64').toString())
      .eventId as string;
    fake.itemStatus.set(`analytics:${id}`, 400); // the document id derives from the request event's id
    const s = await handler(ev);
    expect(s.deadLettered).toBe(1);
    expect(JSON.parse(bus.records(TOPICS.deadLetter.name)[0]!.value!.toString()).error.code).toBe(
      'ANALYTICS_SINK_REJECTED',
    );
  });

  it('an unavailable sink fails the invocation (retry); the retry publishes without duplicates', async () => {
    const { bus, handler } = setup('file,http');
    fake.failNext = [503, 503];
    const ev = sample('response-served.self-managed.json');
    await expect(handler(ev)).rejects.toBeInstanceOf(BatchRetryError);
    expect(bus.records(TOPICS.deadLetter.name)).toHaveLength(0);
    await handler(ev);
    expect(fileLines()).toHaveLength(1); // the file got it on the first attempt too: dedup kept one
    expect(fake.docs.size).toBe(1);
  });
});
