import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from '../../../../events/analytics.ts';
import { SinkRejectedError, SinkUnavailableError } from '../../../../functions/analytics-publisher/errors.ts';
import { toAnalyticsEvent } from '../../../../functions/analytics-publisher/publisher.ts';
import { analyticsCases } from '../../../../functions/analytics-publisher/samples.ts';
import { HttpBulkSink } from '../../../../functions/analytics-publisher/sinks/http.ts';
import { dedupKey } from '../../../../functions/analytics-publisher/sinks/types.ts';
import { type FakeBulk, startFakeBulk } from '../../../support/fakes/fake-bulk.ts';

const events = Object.values(analyticsCases())
  .map((e) => toAnalyticsEvent(e))
  .filter((e): e is AnalyticsEvent => !('skip' in e));

let fake: FakeBulk;
beforeEach(async () => {
  fake = await startFakeBulk();
});
afterEach(async () => {
  await fake.close();
});

const sink = (maxAttempts = 4) =>
  new HttpBulkSink({
    url: fake.url,
    indexPrefix: 'apim_event',
    timeoutMs: 2000,
    maxAttempts,
    backoffMs: 1,
    random: () => 0.5,
  });

describe('HTTP _bulk sink', () => {
  it('indexes every event under its event id (not the shared x-request-id) in apim_event_response / apim_event_faulty', async () => {
    const results = await sink().write(events);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(fake.docs.size).toBe(events.length);
    const served = events.find((e) => e.metric === 'apim:response')!;
    const doc = fake.docs.get(`apim_event_response/${dedupKey(served)}`);
    expect(doc).toMatchObject({ ...served.data, '@timestamp': served.data.requestTimestamp });
    expect([...fake.docs.keys()].filter((k) => k.startsWith('apim_event_faulty/')).length).toBe(
      events.filter((e) => e.metric === 'apim:faulty').length,
    );
  });

  it('sending the same events again overwrites (no duplicates)', async () => {
    await sink().write(events);
    await sink().write(events);
    expect(fake.docs.size).toBe(events.length);
  });

  it('retries whole-request 429 and 503 with backoff, then succeeds', async () => {
    fake.failNext = [429, 503];
    const results = await sink().write(events.slice(0, 3));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(fake.requests).toBe(3);
  });

  it('per-item errors: 429 items are retried, 400 items are rejected for good (poison)', async () => {
    const [a, b, c] = events;
    fake.itemStatus.set(dedupKey(a!), [429, 429]);
    fake.itemStatus.set(dedupKey(b!), 400);
    const results = await sink().write([a!, b!, c!]);
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]!.ok).toBe(false);
    expect((results[1] as { error: unknown }).error).toBeInstanceOf(SinkRejectedError);
    expect(results[2]).toEqual({ ok: true });
    expect(fake.requests).toBe(3);
    expect(fake.docs.has(`apim_event_response/${dedupKey(b!)}`)).toBe(false);
  });

  it('gives up retriably when attempts run out (the batch will be retried)', async () => {
    fake.failNext = [500, 500, 500];
    const results = await sink(3).write(events.slice(0, 2));
    for (const r of results) {
      expect(r.ok).toBe(false);
      const err = (r as { error: SinkUnavailableError }).error;
      expect(err).toBeInstanceOf(SinkUnavailableError);
      expect(err.retriable).toBe(true);
    }
  });

  it('a timeout / unreachable endpoint is retriable', async () => {
    const url = fake.url;
    await fake.close();
    const s = new HttpBulkSink({ url, indexPrefix: 'x', timeoutMs: 500, maxAttempts: 2, backoffMs: 1 });
    const [r] = await s.write(events.slice(0, 1));
    expect(r?.ok).toBe(false);
    expect((r as { error: SinkUnavailableError }).error.retriable).toBe(true);
    fake = await startFakeBulk(); // for afterEach
  });
});
