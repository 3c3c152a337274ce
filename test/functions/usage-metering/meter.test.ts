import { describe, expect, it } from 'vitest';
import type { RequestAttributes } from '../../../events/request-attributes.ts';
import { Usage } from '../../../events/usage.ts';
import { type MeterOptions, UsageMeter } from '../../../functions/usage-metering/meter.ts';
import { SeqSet } from '../../../functions/usage-metering/seq-set.ts';
import { requestAttributes } from '../fixtures.ts';

const TOPIC = 'mesh-apim.request-attributes.v1';
const OPTS: MeterOptions = {
  latenessMs: 5 * 60_000,
  retainClosedMs: 2 * 3_600_000,
  legacyDedupePerHour: 1000,
};
const NOW = new Date('2026-11-26T06:00:00.000Z');

interface Ev {
  seq: number;
  at: string;
  source?: 'check' | 'access-log';
  kind?: RequestAttributes['decision']['kind'];
  bytes?: number | null;
  app?: string;
  boot?: string;
  tier?: string;
}

/** One request-attributes event of check `<boot>:<seq>`, received at `at`. */
function ev(e: Ev): RequestAttributes {
  const source = e.source ?? 'access-log';
  const checkId = `${e.boot ?? 'adapter-0~boot1'}:${e.seq}`;
  const base = requestAttributes({
    requestId: `req-${e.seq}`,
    receivedAt: e.at,
    source,
    decision: {
      kind: e.kind ?? 'allow',
      httpStatus: e.kind === 'rate-limited' ? 429 : 200,
      reason: e.kind === 'rate-limited' ? 'SUBSCRIPTION_LIMIT_EXCEEDED' : 'OK',
    },
  });
  return {
    ...base,
    checkId,
    eventId: `${source === 'check' ? 'chk' : 'als'}:${checkId}`,
    application: { ...base.application!, id: e.app ?? 'app-1' },
    subscriptionTier: e.tier ?? 'Gold',
    response:
      source === 'check' ? null : { ...base.response!, responseBytes: e.bytes === undefined ? 100 : e.bytes },
  };
}

function feed(m: UsageMeter, events: RequestAttributes[], partition = 0) {
  const results = events.map((e) => m.ingest(TOPIC, partition, e));
  m.advance();
  const pending = m.pending(NOW);
  m.ack(pending);
  return { results, published: pending.map((p) => Usage.parse(p.event)) };
}

/** 10 allowed requests in the 04:00 hour, then one at 05:10 that moves the watermark past 05:00. */
const hour4 = Array.from({ length: 10 }, (_, i) =>
  ev({ seq: i, at: `2026-11-26T04:${String(i * 5).padStart(2, '0')}:00.000Z` }),
);
const closer = ev({ seq: 100, at: '2026-11-26T05:10:00.000Z' });

describe('UsageMeter', () => {
  it('closes an hour only when the watermark (max request time − lateness) passes its end', () => {
    const m = new UsageMeter(OPTS);
    expect(feed(m, hour4).published).toEqual([]);
    // 05:04:59 − 5 min < 05:00: still open.
    expect(feed(m, [ev({ seq: 50, at: '2026-11-26T05:04:59.000Z' })]).published).toEqual([]);
    const { published } = feed(m, [ev({ seq: 51, at: '2026-11-26T05:05:00.000Z' })]);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      revision: 1,
      window: { start: '2026-11-26T04:00:00.000Z', end: '2026-11-26T05:00:00.000Z' },
      watermark: '2026-11-26T05:00:00.000Z',
      counts: { allowed: 10, throttled: 0, denied: 0 },
      responseBytes: 1000,
      responseBytesKnown: 10,
      lateEvents: 0,
      exact: true,
      source: { topic: TOPIC, partition: 0 },
    });
    expect(published[0]!.eventId).toBe(`usage:${published[0]!.windowId}:r1`);
  });

  it('duplicate batch: the same events delivered twice give the same counts', () => {
    const once = new UsageMeter(OPTS);
    const twice = new UsageMeter(OPTS);
    const a = feed(once, [...hour4, closer]).published;
    feed(twice, hour4);
    const again = feed(twice, hour4);
    expect(again.results.every((r) => r.kind === 'duplicate')).toBe(true);
    const b = feed(twice, [closer]).published;
    expect(b.map((u) => u.counts)).toEqual(a.map((u) => u.counts));
    expect(b[0]!.counts.allowed).toBe(10);
    expect(b[0]!.responseBytes).toBe(1000);
  });

  it('a replayed range after the window closed never double-counts nor publishes a revision', () => {
    const m = new UsageMeter(OPTS);
    const first = feed(m, [...hour4, closer]).published;
    expect(first).toHaveLength(1);
    const replay = feed(m, [...hour4.slice(3, 8), closer]);
    expect(replay.results.every((r) => r.kind === 'duplicate')).toBe(true);
    expect(replay.published).toEqual([]);
  });

  it('a late event amends the closed window with revision 2 (full totals), never dropped', () => {
    const m = new UsageMeter(OPTS);
    const [r1] = feed(m, [...hour4, closer]).published;
    const late = feed(m, [ev({ seq: 11, at: '2026-11-26T04:59:00.000Z', bytes: 7 })]);
    expect(late.results).toEqual([{ kind: 'counted', late: true }]);
    expect(late.published).toHaveLength(1);
    const r2 = late.published[0]!;
    expect(r2.windowId).toBe(r1!.windowId);
    expect(r2).toMatchObject({ revision: 2, counts: { allowed: 11 }, responseBytes: 1007, lateEvents: 1 });
    expect(r2.eventId).toBe(`usage:${r1!.windowId}:r2`);
    // The late event delivered again: no revision 3.
    expect(feed(m, [ev({ seq: 11, at: '2026-11-26T04:59:00.000Z', bytes: 7 })]).published).toEqual([]);
  });

  it('a late event for a new window of a closed hour publishes that window as revision 1', () => {
    const m = new UsageMeter(OPTS);
    feed(m, [...hour4, closer]);
    const { published } = feed(m, [ev({ seq: 12, at: '2026-11-26T04:30:00.000Z', app: 'app-2' })]);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ revision: 1, application: { id: 'app-2' }, lateEvents: 1 });
  });

  it('classifies allowed, throttled and other denials; splits windows by tier', () => {
    const m = new UsageMeter(OPTS);
    const { published } = feed(m, [
      ev({ seq: 1, at: '2026-11-26T04:01:00.000Z' }),
      ev({ seq: 2, at: '2026-11-26T04:02:00.000Z', source: 'check', kind: 'rate-limited' }),
      ev({ seq: 3, at: '2026-11-26T04:03:00.000Z', source: 'check', kind: 'rate-limited' }),
      ev({ seq: 4, at: '2026-11-26T04:04:00.000Z', source: 'check', kind: 'forbidden' }),
      ev({ seq: 5, at: '2026-11-26T04:05:00.000Z', tier: 'Bronze' }),
      closer,
    ]);
    const gold = published.find((u) => u.subscriptionTier === 'Gold')!;
    const bronze = published.find((u) => u.subscriptionTier === 'Bronze')!;
    expect(gold.counts).toEqual({ allowed: 1, throttled: 2, denied: 1, overQuota: 0 });
    expect(gold.responseBytes).toBe(100);
    expect(gold.responseBytesKnown).toBe(1);
    expect(bronze.counts).toEqual({ allowed: 1, throttled: 0, denied: 0, overQuota: 0 });
    expect(gold.windowId).not.toBe(bronze.windowId);
  });

  it('response bytes come from the access-log event: check then access log counts once and adds the bytes', () => {
    const m = new UsageMeter(OPTS);
    const chk = ev({ seq: 7, at: '2026-11-26T04:10:00.000Z', source: 'check' });
    const als = ev({ seq: 7, at: '2026-11-26T04:10:00.000Z', bytes: 4096 });
    const unknownBytes = ev({ seq: 8, at: '2026-11-26T04:11:00.000Z', bytes: null });
    const { results, published } = feed(m, [chk, als, als, chk, unknownBytes, closer]);
    expect(results.map((r) => r.kind)).toEqual([
      'counted',
      'bytes-added',
      'duplicate',
      'duplicate',
      'counted',
      'counted',
    ]);
    expect(published[0]).toMatchObject({
      counts: { allowed: 2 },
      responseBytes: 4096,
      responseBytesKnown: 1,
    });
    // Access log first, check after: the check is the same request.
    const m2 = new UsageMeter(OPTS);
    expect(feed(m2, [als, chk]).results.map((r) => r.kind)).toEqual(['counted', 'duplicate']);
  });

  it('keeps each source partition apart (own watermark, own windows)', () => {
    const m = new UsageMeter(OPTS);
    m.ingest(TOPIC, 1, ev({ seq: 500, at: '2026-11-26T04:20:00.000Z', boot: 'adapter-1~b' }));
    const { published } = feed(m, [...hour4, closer], 0);
    expect(published.map((u) => u.source.partition)).toEqual([0]);
    const p1 = feed(m, [ev({ seq: 501, at: '2026-11-26T05:30:00.000Z', boot: 'adapter-1~b' })], 1).published;
    expect(p1).toHaveLength(1);
    expect(p1[0]).toMatchObject({ source: { partition: 1 }, counts: { allowed: 1 } });
    expect(p1[0]!.windowId).not.toBe(published[0]!.windowId);
  });

  it('a failed publish (no ack) keeps the window pending with the same revision', () => {
    const m = new UsageMeter(OPTS);
    for (const e of [...hour4, closer]) m.ingest(TOPIC, 0, e);
    m.advance();
    const first = m.pending(NOW);
    expect(first).toHaveLength(1);
    const retry = m.pending(NOW);
    expect(retry.map((p) => p.event.eventId)).toEqual(first.map((p) => p.event.eventId));
    m.ack(retry);
    expect(m.pending(NOW)).toEqual([]);
  });

  it('forgets hours after retainClosedMs and refuses (does not recount) their events', () => {
    const m = new UsageMeter(OPTS);
    feed(m, [...hour4, closer]);
    // 07:06 − 5 min ≥ 05:00 + 2 h: hour 04 is forgotten.
    feed(m, [ev({ seq: 200, at: '2026-11-26T07:06:00.000Z' })]);
    const r = m.ingest(TOPIC, 0, hour4[0]!);
    expect(r).toEqual({
      kind: 'beyond-retention',
      hourStart: '2026-11-26T04:00:00.000Z',
      retainedFrom: '2026-11-26T05:00:00.000Z',
    });
  });

  it('skips requests with no application or no API (nothing to bill)', () => {
    const m = new UsageMeter(OPTS);
    expect(m.ingest(TOPIC, 0, { ...hour4[0]!, application: null }).kind).toBe('not-metered');
    expect(m.ingest(TOPIC, 0, { ...hour4[1]!, api: null }).kind).toBe('not-metered');
    expect(m.stats().windows).toBe(0);
  });

  it('events without checkId: deduplicated on eventId up to the bound, then exact: false', () => {
    const m = new UsageMeter({ ...OPTS, legacyDedupePerHour: 2 });
    const legacy = (i: number) => ({ ...hour4[i]!, checkId: undefined, eventId: `als:legacy-${i}` });
    const { results, published } = feed(m, [legacy(0), legacy(0), legacy(1), legacy(2), legacy(2), closer]);
    expect(results.map((r) => r.kind)).toEqual([
      'counted',
      'duplicate',
      'counted',
      'counted',
      'counted',
      'counted',
    ]);
    // Three distinct requests, plus legacy(2)'s duplicate counted once the bound (2 ids) was full.
    expect(published[0]).toMatchObject({ counts: { allowed: 4 }, exact: false });
  });

  it('memory is bounded by windows, not events: 100,000 requests over 6 partitions keep one range per boot', () => {
    const m = new UsageMeter(OPTS);
    for (let i = 0; i < 100_000; i++) {
      const e = ev({ seq: i, at: '2026-11-26T04:30:00.000Z', app: `app-${i % 5}` });
      // Every 7th request is unauthenticated (not metered): it must not punch holes into the runs.
      m.ingest(TOPIC, (i * 7919) % 6, i % 7 === 0 ? { ...e, application: null } : e);
    }
    expect(m.stats()).toEqual({ partitions: 6, hours: 6, windows: 30, seqRanges: 1, legacyIds: 0 });
  });
});

describe('SeqSet', () => {
  it('merges ranges in any insertion order and reports duplicates', () => {
    const s = new SeqSet();
    for (const n of [5, 1, 3, 2, 9, 4, 7]) expect(s.add(n)).toBe(true);
    expect(s.toJSON()).toEqual([1, 5, 7, 7, 9, 9]);
    expect(s.add(3)).toBe(false);
    expect(s.add(8)).toBe(true);
    expect(s.toJSON()).toEqual([1, 5, 7, 9]);
    expect([0, 1, 5, 6, 7, 9, 10].map((n) => s.has(n))).toEqual([
      false,
      true,
      true,
      false,
      true,
      true,
      false,
    ]);
    expect(s.add(6)).toBe(true);
    expect(s.toJSON()).toEqual([1, 9]);
    expect(s.add(0)).toBe(true);
    expect(s.toJSON()).toEqual([0, 9]);
  });
});

describe('UsageMeter.closeIdle (wall-clock close of idle partitions)', () => {
  const T = (s: string) => Date.parse(s);
  it('closes an idle partition once end + lateness passed by the clock; the state carries the clock watermark', () => {
    const m = new UsageMeter(OPTS);
    m.ingest(TOPIC, 0, ev({ seq: 1, at: '2026-11-26T04:30:00.000Z' }));
    m.touch(TOPIC, 0, T('2026-11-26T04:30:01.000Z'));
    m.advance();
    expect(m.closeIdle(T('2026-11-26T05:04:59.999Z'))).toBe(1); // watermark moved, hour still open
    m.advance();
    expect(m.pending(NOW)).toHaveLength(0);
    m.closeIdle(T('2026-11-26T05:05:00.000Z'));
    m.advance();
    expect(m.pending(NOW).map((p) => p.event.counts.allowed)).toEqual([1]);
    const restored = UsageMeter.fromState(OPTS, m.toState());
    // An event of the clock-closed hour after a restore is late (amends), not a fresh open hour.
    expect(restored.ingest(TOPIC, 0, ev({ seq: 2, at: '2026-11-26T04:59:00.000Z' }))).toEqual({
      kind: 'counted',
      late: true,
    });
  });

  it('leaves a partition alone while batches arrive (a backlog closes by event time)', () => {
    const m = new UsageMeter(OPTS);
    m.ingest(TOPIC, 0, ev({ seq: 1, at: '2026-11-26T04:30:00.000Z' }));
    m.touch(TOPIC, 0, T('2026-11-26T09:00:00.000Z')); // catching up hours late
    expect(m.closeIdle(T('2026-11-26T09:04:00.000Z'))).toBe(0);
    m.advance();
    expect(m.pending(NOW)).toHaveLength(0);
  });
});
