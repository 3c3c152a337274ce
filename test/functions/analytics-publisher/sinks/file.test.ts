import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from '../../../../events/analytics.ts';
import { toAnalyticsEvent } from '../../../../functions/analytics-publisher/publisher.ts';
import { analyticsCases, requestAttributes } from '../../../../functions/analytics-publisher/samples.ts';
import {
  elkLine,
  elkLineWith,
  parseElkLine,
} from '../../../../functions/analytics-publisher/sinks/elk-line.ts';
import { FileSink, replayFileName } from '../../../../functions/analytics-publisher/sinks/file.ts';
import { dedupKey } from '../../../../functions/analytics-publisher/sinks/types.ts';

const events = Object.values(analyticsCases())
  .map((e) => toAnalyticsEvent(e))
  .filter((e): e is AnalyticsEvent => !('skip' in e));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-file-sink-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const opts = { maxBytes: 1024 * 1024, maxFiles: 3, fsync: false, dedupWindow: 1000 };
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

describe('ELK log-file sink', () => {
  it("writes WSO2's line format: `apimMetrics: apim:response, properties :{json}`", async () => {
    const s = new FileSink({ dir, ...opts, now: () => new Date('2026-11-26T04:05:06.789Z') });
    await s.write(events);
    await s.close();
    const out = lines(path.join(dir, 'apim_metrics.log'));
    expect(out).toHaveLength(events.length);
    expect(out[0]).toMatch(
      /^04:05:06,789 \[analytics:[^\]]+\] \[analytics-publisher\] {2}INFO ELKCounterMetric apimMetrics: apim:(response|faulty), properties :\{/,
    );
    for (const [i, l] of out.entries()) {
      const p = parseElkLine(l);
      expect(p?.metric).toBe(events[i]!.metric);
      expect(p?.data).toEqual(events[i]!.data);
    }
  });

  it('writeRendered (lines rendered on a replay worker) writes what write does, with the same dedup', async () => {
    const now = () => new Date('2026-11-26T04:05:06.789Z');
    const a = new FileSink({ dir, ...opts, name: 'a', now });
    await a.write(events);
    await a.write(events.slice(0, 2));
    await a.close();
    const b = new FileSink({ dir, ...opts, name: 'b', now });
    const rendered = (xs: AnalyticsEvent[]) => [xs.map(dedupKey), xs.map((e) => elkLineWith('', e))] as const;
    await b.writeRendered(...rendered(events));
    await b.writeRendered(...rendered([...events.slice(0, 2), ...events.slice(0, 1)]));
    await b.close();
    expect(lines(path.join(dir, 'b.log'))).toEqual(lines(path.join(dir, 'a.log')));
    expect(lines(path.join(dir, 'b.log'))).toHaveLength(events.length);
  });

  it('drops events it wrote recently, across a restart (window seeded from the file tail)', async () => {
    const s1 = new FileSink({ dir, ...opts });
    await s1.write(events);
    await s1.write(events.slice(0, 3));
    await s1.close();
    const s2 = new FileSink({ dir, ...opts });
    await s2.write(events);
    await s2.close();
    expect(lines(path.join(dir, 'apim_metrics.log'))).toHaveLength(events.length);
  });

  it('a value with U+2028/U+2029 (raw in JSON.stringify, a line terminator to a JS regex) still parses back and seeds the window', async () => {
    const base = events[0]!;
    const odd = {
      ...base,
      eventId: 'analytics:line-separator-in-value',
      data: { ...base.data, userAgent: 'Mozilla\u2028/5.0\u2029x' },
    } as AnalyticsEvent;
    const s1 = new FileSink({ dir, ...opts });
    await s1.write([odd]);
    await s1.close();
    const [line] = lines(path.join(dir, 'apim_metrics.log'));
    expect(parseElkLine(line!)).toEqual({ id: odd.eventId, metric: odd.metric, data: odd.data });
    const s2 = new FileSink({ dir, ...opts }); // a restart: the window must hold the odd line's id
    await s2.write([odd]);
    await s2.close();
    expect(lines(path.join(dir, 'apim_metrics.log'))).toHaveLength(1);
  });

  it('rotates by size to .1 .. .maxFiles', async () => {
    const line = elkLine(events[0]!, new Date());
    const s = new FileSink({ dir, ...opts, maxBytes: line.length * 3, maxFiles: 2, dedupWindow: 0 });
    for (let i = 0; i < 10; i++) {
      const ev = toAnalyticsEvent(requestAttributes({ requestId: `r-${i}` })) as AnalyticsEvent;
      const ev2 = toAnalyticsEvent(requestAttributes({ requestId: `r-${i}-b` })) as AnalyticsEvent;
      await s.write([ev, ev2]);
    }
    await s.close();
    expect(readdirSync(dir).sort()).toEqual(['apim_metrics.log', 'apim_metrics.log.1', 'apim_metrics.log.2']);
    expect(lines(path.join(dir, 'apim_metrics.log'))).toHaveLength(2);
  });

  it('replay files are named by range and rewritten by a replay of the same range', async () => {
    const name = replayFileName('2026-11-26T04:00:00Z', '2026-11-26T05:00:00.000Z');
    expect(name).toBe('apim_metrics.replay-20261126T040000Z_20261126T050000Z');
    for (let run = 0; run < 2; run++) {
      const s = new FileSink({ dir, ...opts, name, truncate: true });
      await s.write(events);
      await s.close();
    }
    expect(lines(path.join(dir, `${name}.log`))).toHaveLength(events.length);
  });
});

describe('ELK log-file sink deduplication key', () => {
  it('writes one line per event id when many requests share an x-request-id; a redelivery adds none', async () => {
    const shared = Array.from(
      { length: 50 },
      (_, i) =>
        toAnalyticsEvent(
          requestAttributes({ requestId: 'shared-x-request-id', eventId: `chk:adapter-0~boot:${i + 1}` }),
        ) as AnalyticsEvent,
    );
    const s1 = new FileSink({ dir, ...opts });
    await s1.write(shared);
    await s1.write(shared.slice(0, 5));
    await s1.close();
    const s2 = new FileSink({ dir, ...opts }); // a restart: window seeded from the file by event id
    await s2.write(shared);
    await s2.close();
    const out = lines(path.join(dir, 'apim_metrics.log'));
    expect(out).toHaveLength(50);
    expect(new Set(out.map((l) => parseElkLine(l)!.data.correlationId))).toEqual(
      new Set(['shared-x-request-id']),
    );
  });
});
