import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from '../../../../events/analytics.ts';
import { SinkRejectedError, SinkUnavailableError } from '../../../../functions/analytics-publisher/errors.ts';
import { toAnalyticsEvent } from '../../../../functions/analytics-publisher/publisher.ts';
import { analyticsCases } from '../../../../functions/analytics-publisher/samples.ts';
import { HttpBulkSink, retryAfterMs } from '../../../../functions/analytics-publisher/sinks/http.ts';
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

const sink = (maxAttempts = 4, waits: number[] = []) =>
  new HttpBulkSink({
    url: fake.url,
    indexPrefix: 'apim_event',
    timeoutMs: 2000,
    maxAttempts,
    backoffMs: 1,
    maxBackoffMs: 5_000,
    wait: async (ms) => {
      waits.push(ms);
    },
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

  it('a whole-request Retry-After (seconds or an HTTP date) is waited before the next attempt, capped at maxBackoffMs', async () => {
    const waits: number[] = [];
    fake.failNext = [429, 503];
    fake.retryAfter = '2';
    expect((await sink(4, waits).write(events.slice(0, 1)))[0]).toEqual({ ok: true });
    expect(waits).toEqual([2_000, 2_000]);
    fake.failNext = [429];
    fake.retryAfter = '3600';
    await sink(4, waits).write(events.slice(0, 1));
    expect(waits.at(-1)).toBe(5_000);
    fake.failNext = [500];
    fake.retryAfter = undefined;
    await sink(4, waits).write(events.slice(0, 1));
    expect(waits).toHaveLength(3); // none without the header: p-retry's backoff alone
    expect(retryAfterMs('Wed, 02 Dec 2026 17:00:10 GMT', Date.parse('2026-12-02T17:00:00Z'))).toBe(10_000);
    expect(retryAfterMs('soon')).toBeNull();
    expect(retryAfterMs('-1')).toBeNull();
  });

  it('the last attempt does not wait for a Retry-After', async () => {
    const waits: number[] = [];
    fake.failNext = [429, 429];
    fake.retryAfter = '1';
    const [r] = await sink(2, waits).write(events.slice(0, 1));
    expect(r?.ok).toBe(false);
    expect((r as { error: SinkUnavailableError }).error.message).toMatch(
      /gave up after 2 attempts: _bulk answered 429/,
    );
    expect(waits).toEqual([1_000]);
    expect(fake.requests).toBe(2);
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

  it('splits a batch bigger than maxDocsPerRequest into requests; results stay in item order', async () => {
    const many = Array.from({ length: 7 }, (_, i) => ({
      ...events[i % events.length]!,
      eventId: `analytics:split-${i}`,
    }));
    fake.itemStatus.set('analytics:split-5', 400);
    const s = new HttpBulkSink({
      url: fake.url,
      indexPrefix: 'apim_event',
      timeoutMs: 2000,
      maxAttempts: 2,
      backoffMs: 1,
      maxDocsPerRequest: 3,
      concurrency: 2,
    });
    const results = await s.write(many);
    await s.close();
    expect(fake.requests).toBe(3);
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true, false, true]);
    expect((results[5] as { error: unknown }).error).toBeInstanceOf(SinkRejectedError);
    expect(fake.docs.size).toBe(6);
  });
});
