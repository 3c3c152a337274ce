import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory.ts';
import { readUsage } from '../../cli/commands/usage.ts';
import { latestRevisions, toCsv, usageReport } from '../../cli/usage-report.ts';
import { TOPICS } from '../../events/topics.ts';
import { Usage } from '../../events/usage.ts';

const sample = (f: string) =>
  Usage.parse(JSON.parse(readFileSync(new URL(`../../events/samples/usage/${f}`, import.meta.url), 'utf8')));
const r1 = sample('closed-window.json');
const r2 = sample('late-event-revision-2.json');
const otherPartition: Usage = {
  ...r1,
  windowId: '2026112604.p1.xxxxxxxxxxxxxxxxxxxxxx',
  eventId: 'usage:2026112604.p1.xxxxxxxxxxxxxxxxxxxxxx:r1',
  source: { ...r1.source, partition: 1 },
  counts: { allowed: 10, throttled: 1, denied: 0, overQuota: 0 },
  responseBytes: 100,
  responseBytesKnown: 10,
};
const FROM = Date.parse('2026-11-26T00:00:00Z');
const TO = Date.parse('2026-11-27T00:00:00Z');

describe('usage report', () => {
  it('uses the latest revision of a window whatever the order read', () => {
    expect(latestRevisions([r2, r1]).map((u) => u.revision)).toEqual([2]);
    expect(latestRevisions([r1, r2]).map((u) => u.revision)).toEqual([2]);
  });

  it('sums the latest revisions over source partitions into one row per hour, application, API, tier, key type', () => {
    const rows = usageReport([r1, otherPartition, r2], { fromMs: FROM, toMs: TO });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      hour: '2026-11-26T04:00:00.000Z',
      applicationName: 'ShopFrontend',
      allowed: r2.counts.allowed + 10,
      throttled: r2.counts.throttled + 1,
      responseBytes: r2.responseBytes + 100,
      windows: 2,
      exact: true,
    });
  });

  it('filters by hour range [from, to) and by application id or name', () => {
    expect(usageReport([r1], { fromMs: Date.parse('2026-11-26T05:00:00Z'), toMs: TO })).toEqual([]);
    expect(usageReport([r1], { fromMs: FROM, toMs: Date.parse('2026-11-26T04:00:00Z') })).toEqual([]);
    expect(usageReport([r1], { fromMs: FROM, toMs: TO, application: 'ShopFrontend' })).toHaveLength(1);
    expect(usageReport([r1], { fromMs: FROM, toMs: TO, application: r1.application.id })).toHaveLength(1);
    expect(usageReport([r1], { fromMs: FROM, toMs: TO, application: 'Other' })).toEqual([]);
  });

  it('CSV: header plus one line per row, fields with commas or quotes quoted', () => {
    const named: Usage = { ...r1, application: { ...r1.application, name: 'Shop, "Front"' } };
    const csv = toCsv(usageReport([named], { fromMs: FROM, toMs: TO }));
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'hour,applicationId,applicationName,applicationOwner,apiId,apiName,apiVersion,subscriptionTier,keyType,allowed,throttled,denied,overQuota,responseBytes,responseBytesKnown,windows,exact',
    );
    expect(lines[1]).toBe(
      `2026-11-26T04:00:00.000Z,${r1.application.id},"Shop, ""Front""",alice,${r1.api.id},PetStore,1.0.0,Gold,PRODUCTION,1204,17,2,0,1844528,1204,1,true`,
    );
  });

  it('reads every usage event from the topic; an invalid record is reported, not counted', async () => {
    const bus = new MemoryBus(2);
    await bus.produce(TOPICS.usage.name, [
      { key: r1.windowId, value: JSON.stringify(r1) },
      { key: 'x', value: '{"type":"usage"}' },
      { key: r2.windowId, value: JSON.stringify(r2) },
    ]);
    const invalid: string[] = [];
    const events = await readUsage(bus, TOPICS.usage.name, (w) => invalid.push(w));
    expect(events.map((e) => e.revision).sort()).toEqual([1, 2]);
    expect(invalid).toHaveLength(1);
  });
});
