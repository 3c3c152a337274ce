import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import type { OutRecord } from '../../../bus/types.ts';
import type { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { UsageMeterState } from '../../../events/usage-meter-state.ts';
import { HOUR_MS, type MeterOptions, UsageMeter } from '../../../functions/usage-metering/meter.ts';
import {
  FileStateStore,
  type LoadedState,
  MAX_STATE_RECORD_BYTES,
  TopicStateStore,
} from '../../../functions/usage-metering/state-store.ts';
import { requestAttributes } from '../fixtures.ts';

const TOPIC = 'mesh-apim.request-attributes.v1';
const STATE_TOPIC = TOPICS.usageMeterState.name;
const OPTS: MeterOptions = { latenessMs: 300_000, retainClosedMs: 48 * HOUR_MS, legacyDedupePerHour: 1000 };
const H0 = Date.parse('2026-11-26T00:00:00.000Z');

function ev(seq: number, atMs: number, app = 'app-1', boot = 'adapter-0~boot1'): RequestAttributes {
  const checkId = `${boot}:${seq}`;
  const base = requestAttributes({ requestId: `r-${seq}`, receivedAt: new Date(atMs).toISOString() });
  return { ...base, checkId, eventId: `als:${checkId}`, application: { ...base.application!, id: app } };
}

/** Meters `n` events (apps round-robin) from `fromMs`, one per `stepMs`, the way a batch does, then saves. */
async function batch(
  m: UsageMeter,
  store: { save: FileStateStore['save'] },
  seq: { next: number },
  fromMs: number,
  n: number,
  { stepMs = 1000, apps = 1 } = {},
) {
  for (let i = 0; i < n; i++) {
    const at = fromMs + i * stepMs;
    const s = seq.next++;
    m.touch(TOPIC, s % 3, at);
    m.ingest(TOPIC, s % 3, ev(s, at, `app-${s % apps}`));
  }
  m.advance();
  m.ack(m.pending(new Date(fromMs)));
  await store.save(m.changes(), () => m.segments());
  m.markSaved();
}

const restore = (s: LoadedState | null) =>
  s === null
    ? null
    : 'whole' in s
      ? UsageMeter.fromState(OPTS, s.whole)
      : UsageMeter.fromParts(OPTS, s.head, s.segments);
/** Equal states compare equal as whole snapshots. */
const snap = (m: UsageMeter | null) => m?.toState() ?? null;

const stateRecords = (bus: MemoryBus) =>
  bus.records(STATE_TOPIC).map((r) => ({
    key: r.key!.toString(),
    bytes: r.value?.length ?? 0,
    rec: r.value ? UsageMeterState.parse(JSON.parse(r.value.toString())) : null,
  }));

describe('TopicStateStore: one record per hour segment, the head last', () => {
  const newStore = (bus: Pick<MemoryBus, 'produce' | 'read' | 'endOffsets'>, max?: number) =>
    new TopicStateStore(bus, STATE_TOPIC, 'usage-metering', () => new Date(H0), max);

  it('a batch touching one hour writes that hour segment and the head; a cold start reads the same state', async () => {
    const bus = new MemoryBus();
    const store = newStore(bus);
    const m = new UsageMeter(OPTS);
    const seq = { next: 0 };
    await batch(m, store, seq, H0 + 60_000, 50);
    await batch(m, store, seq, H0 + HOUR_MS + 600_000, 50); // the next hour: closes hour 0 (a change to it too)
    const before = stateRecords(bus).length;
    await batch(m, store, seq, H0 + HOUR_MS + 1_200_000, 50); // hour 1 only
    const last = stateRecords(bus).slice(before);
    expect(last.map((r) => r.key)).toEqual(['usage-metering/2026-11-26T01', 'usage-metering']);
    expect(last[1]!.rec).toMatchObject({
      kind: 'head',
      segments: [
        { segment: '2026-11-26T00', gen: 2, parts: 1 },
        { segment: '2026-11-26T01', gen: 3, parts: 1 },
      ],
    });
    expect(snap(restore(await newStore(bus).load()))).toEqual(snap(m));
  });

  it('a state larger than 1 MB in total saves as records each under the bound, and reads back', async () => {
    const bus = new MemoryBus();
    const store = newStore(bus);
    const m = new UsageMeter(OPTS);
    const seq = { next: 0 };
    // 40 hours x 400 applications: 16,000 windows.
    for (let h = 0; h < 40; h++)
      await batch(m, store, seq, H0 + h * HOUR_MS, 400, { stepMs: 5000, apps: 400 });
    const json = JSON.stringify(m.toState()).length;
    expect(json).toBeGreaterThan(5_000_000);
    const recs = stateRecords(bus);
    expect(recs.reduce((n, r) => n + r.bytes, 0)).toBeGreaterThan(1_048_576);
    expect(Math.max(...recs.map((r) => r.bytes))).toBeLessThan(MAX_STATE_RECORD_BYTES);
    expect(snap(restore(await newStore(bus).load()))).toEqual(snap(m));
  });

  it('a segment larger than the record bound is cut into parts that read back as one', async () => {
    const bus = new MemoryBus();
    const store = newStore(bus, 20_000);
    const m = new UsageMeter(OPTS);
    await batch(m, store, { next: 0 }, H0, 600, { stepMs: 5000, apps: 600 });
    const recs = stateRecords(bus);
    const parts = recs.filter((r) => r.rec && 'kind' in r.rec && r.rec.kind === 'segment');
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((r) => r.key).slice(0, 2)).toEqual([
      'usage-metering/2026-11-26T00',
      'usage-metering/2026-11-26T00#1',
    ]);
    expect(Math.max(...recs.map((r) => r.bytes))).toBeLessThan(20_000);
    expect(snap(restore(await newStore(bus, 20_000).load()))).toEqual(snap(m));
  });

  it('a reader between the segment writes and the head write sees the previous state; after the head, the new one', async () => {
    const bus = new MemoryBus();
    let gate: { reached: () => void; release: Promise<void> } | null = null;
    // The writer's bus holds the head back (the writer is "between its segments and its head").
    const writerBus = {
      produce: async (topic: string, records: OutRecord[]) => {
        if (gate && records.some((r) => r.key === 'usage-metering')) {
          gate.reached();
          await gate.release;
        }
        return bus.produce(topic, records);
      },
      read: bus.read.bind(bus),
      endOffsets: bus.endOffsets.bind(bus),
    };
    const writer = newStore(writerBus);
    const m = new UsageMeter(OPTS);
    const seq = { next: 0 };
    await batch(m, writer, seq, H0 + 60_000, 20);
    await batch(m, writer, seq, H0 + HOUR_MS + 60_000, 20);
    const old = snap(m);

    let release!: () => void;
    let reached!: () => void;
    const atHead = new Promise<void>((r) => {
      reached = r;
    });
    gate = { reached, release: new Promise<void>((r) => (release = r)) };
    // Changes both hours: the late event to hour 0 and new events of hour 1.
    m.ingest(TOPIC, 0, ev(seq.next++, H0 + HOUR_MS - 1000));
    const saving = batch(m, writer, seq, H0 + HOUR_MS + 120_000, 20);
    await atHead;
    const segmentsWritten = stateRecords(bus)
      .slice(-2)
      .map((r) => r.key);
    expect(segmentsWritten).toEqual(['usage-metering/2026-11-26T00', 'usage-metering/2026-11-26T01']);
    const between = restore(await newStore(bus).load());
    expect(snap(between)).toEqual(old);
    // The reader continues from there: the cut-off batch's events are counted once at its redelivery.
    expect(between!.ingest(TOPIC, 0, ev(seq.next - 1, H0 + HOUR_MS + 120_000 + 19_000))).toMatchObject({
      kind: 'counted',
    });
    release();
    await saving;
    expect(snap(restore(await newStore(bus).load()))).toEqual(snap(m));
  });

  it('a head whose listed segment version compaction removed uses the newer, self-consistent version', async () => {
    const bus = new MemoryBus();
    const m = new UsageMeter(OPTS);
    const seq = { next: 0 };
    await batch(m, newStore(bus), seq, H0 + 60_000, 20);
    // A save cut off after its segment: a second writer bus that fails the head.
    const failing = newStore({
      produce: async (t, rs) => {
        if (rs.some((r) => r.key === 'usage-metering')) throw new Error('broker gone');
        return bus.produce(t, rs);
      },
      read: bus.read.bind(bus),
      endOffsets: bus.endOffsets.bind(bus),
    });
    await failing.load();
    const cut = UsageMeter.fromParts(OPTS, ...(await partsOf(newStore(bus))));
    cut.ingest(TOPIC, 0, ev(500, H0 + 120_000));
    cut.touch(TOPIC, 0, H0 + 120_000);
    await expect(failing.save(cut.changes(), () => cut.segments())).rejects.toThrow('broker gone');
    // Compaction keeps the latest record per key: the head's listed segment version is gone.
    const compacted = compactedView(bus);
    const restored = restore(await newStore(compacted).load())!;
    expect(snap(restored)).not.toEqual(snap(UsageMeter.fromParts(OPTS, ...(await partsOf(newStore(bus))))));
    expect(restored.pending(new Date(H0)).length).toBe(0);
    const total = restored
      .toState()
      .partitions.flatMap((p) => p.hours.flatMap((h) => h.windows.map((w) => w.allowed)));
    expect(total.reduce((a, b) => a + b, 0)).toBe(21);
    // The newer segment counted seq 500 together with its seen sequence: its redelivery is a duplicate.
    expect(restored.ingest(TOPIC, 0, ev(500, H0 + 120_000))).toEqual({ kind: 'duplicate' });
    expect(restored.ingest(TOPIC, 0, ev(0, H0 + 60_000))).toEqual({ kind: 'duplicate' });
  });

  it('segments of expired hours are deleted with tombstones after the head that dropped them', async () => {
    const bus = new MemoryBus();
    const store = newStore(bus);
    const m = new UsageMeter({ ...OPTS, retainClosedMs: HOUR_MS });
    const seq = { next: 0 };
    await batch(m, store, seq, H0 + 60_000, 10);
    await batch(m, store, seq, H0 + HOUR_MS + 60_000, 10);
    await batch(m, store, seq, H0 + 3 * HOUR_MS + 600_000, 10); // closes hours 0 and 1: published
    await batch(m, store, seq, H0 + 3 * HOUR_MS + 900_000, 10); // acknowledged and past retention: gone
    const recs = stateRecords(bus);
    const tomb = recs.findIndex((r) => r.rec === null);
    expect(recs[tomb]!.key).toBe('usage-metering/2026-11-26T00');
    expect(recs[tomb - 1]!.rec).toMatchObject({ kind: 'head' });
    expect(
      (recs[tomb - 1]!.rec as { segments: { segment: string }[] }).segments.map((s) => s.segment),
    ).not.toContain('2026-11-26T00');
    const restored = restore(await newStore(bus).load());
    expect(snap(restored)).toEqual(snap(m));
  });

  it('reads a whole-state record written before incremental saves; the next save writes every segment', async () => {
    const bus = new MemoryBus();
    const m = new UsageMeter(OPTS);
    for (let i = 0; i < 10; i++) m.ingest(TOPIC, 0, ev(i, H0 + i * HOUR_MS));
    const json = JSON.stringify(m.toState());
    await bus.produce(STATE_TOPIC, [
      {
        key: 'usage-metering',
        value: JSON.stringify({
          type: 'usage-meter-state',
          schemaVersion: 1,
          eventId: 'usage-meter-state:usage-metering:1:abc',
          occurredAt: new Date(H0).toISOString(),
          consumer: 'usage-metering',
          savedAt: new Date(H0).toISOString(),
          encoding: 'gzip+base64',
          state: (await import('node:zlib')).gzipSync(json).toString('base64'),
          bytes: json.length,
        }),
      },
    ]);
    const store = newStore(bus);
    const loaded = restore(await store.load())!;
    expect(snap(loaded)).toEqual(snap(m));
    await store.save(loaded.changes(), () => loaded.segments());
    expect(
      stateRecords(bus).filter((r) => r.rec && 'kind' in r.rec && r.rec.kind === 'segment'),
    ).toHaveLength(10);
    expect(snap(restore(await newStore(bus).load()))).toEqual(snap(m));
  });
});

async function partsOf(store: TopicStateStore) {
  const s = await store.load();
  if (!s || 'whole' in s) throw new Error('expected a head');
  return [s.head, s.segments] as const;
}

/** The topic as compaction leaves it: the latest record per key, in offset order. */
function compactedView(bus: MemoryBus) {
  const all = bus.records(STATE_TOPIC);
  const latest = new Map(all.map((r) => [r.key!.toString(), r.offset]));
  const kept = all.filter((r) => latest.get(r.key!.toString()) === r.offset);
  return {
    produce: async () => {},
    endOffsets: bus.endOffsets.bind(bus),
    read: async (_t: string, _p: number, offset: string, n: number) =>
      kept.filter((r) => BigInt(r.offset) >= BigInt(offset)).slice(0, n),
  };
}

describe('FileStateStore: append-only changelog with compaction', () => {
  const file = () => join(mkdtempSync(join(tmpdir(), 'usage-changelog-')), 'usage', 'meter-state.jsonl');
  const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean);
  const entry = (line: string) =>
    JSON.parse(line.slice(9)) as { full?: true; segments: { hourStart: number }[]; dropped: number[] };

  it('a batch touching one hour appends one line with that segment and the head', async () => {
    const f = file();
    const store = new FileStateStore(f).lock();
    await store.load();
    const m = new UsageMeter(OPTS);
    const seq = { next: 0 };
    await batch(m, store, seq, H0 + 60_000, 20); // first save: the whole state (nothing to append to)
    await batch(m, store, seq, H0 + 600_000, 20);
    await batch(m, store, seq, H0 + 1_200_000, 20);
    const ls = lines(f);
    expect(ls).toHaveLength(3);
    expect(entry(ls[0]!).full).toBe(true);
    expect(entry(ls[2]!).full).toBeUndefined();
    expect(entry(ls[2]!).segments.map((s) => s.hourStart)).toEqual([H0]);
    const reader = new FileStateStore(f);
    expect(snap(restore(await reader.load()))).toEqual(snap(m));
    await store.close();
  });

  it('a torn last line (a crash mid-write) is dropped: the previous save is the state, and appends continue', async () => {
    const f = file();
    const store = new FileStateStore(f);
    await store.load();
    const m = new UsageMeter(OPTS);
    const seq = { next: 0 };
    await batch(m, store, seq, H0 + 60_000, 20);
    await batch(m, store, seq, H0 + 600_000, 20);
    const saved = snap(m);
    const whole = readFileSync(f);
    // The next save's line, cut off halfway.
    await batch(m, store, seq, H0 + 1_200_000, 20);
    const next = readFileSync(f).subarray(whole.length);
    writeFileSync(f, Buffer.concat([whole, next.subarray(0, Math.floor(next.length / 2))]));

    const after = new FileStateStore(f);
    const restored = restore(await after.load())!;
    expect(snap(restored)).toEqual(saved);
    expect(statSync(f).size).toBe(whole.length); // the torn tail is truncated away
    // The redelivered batch counts once onto the restored state, and its save is readable.
    await batch(restored, after, { next: 40 }, H0 + 1_200_000, 20);
    expect(snap(restore(await new FileStateStore(f).load()))).toEqual(snap(m));
  });

  it('a whole last line with a wrong checksum is torn too; a damaged line before the last fails the load', async () => {
    const f = file();
    const store = new FileStateStore(f);
    await store.load();
    const m = new UsageMeter(OPTS);
    const seq = { next: 0 };
    await batch(m, store, seq, H0 + 60_000, 20);
    const saved = snap(m);
    await batch(m, store, seq, H0 + 600_000, 20);
    const ls = lines(f);
    const flip = (l: string) => `${l.slice(0, 20)}${l[20] === '1' ? '2' : '1'}${l.slice(21)}`;
    writeFileSync(f, `${ls[0]}\n${flip(ls[1]!)}\n`);
    expect(snap(restore(await new FileStateStore(f).load()))).toEqual(saved);
    writeFileSync(f, `${flip(ls[0]!)}\n${ls[1]}\n`);
    await expect(new FileStateStore(f).load()).rejects.toMatchObject({ code: 'USAGE_STATE_CORRUPT' });
  });

  it('compaction keeps the file within a multiple of the live state; the rewritten file reads the same', async () => {
    const f = file();
    const store = new FileStateStore(f);
    await store.load();
    const m = new UsageMeter(OPTS);
    const seq = { next: 0 };
    let compactions = 0;
    let max = 0;
    for (let i = 0; i < 300; i++) {
      await batch(m, store, seq, H0 + i * 60_000, 50, { stepMs: 1000, apps: 50 });
      const ls = lines(f);
      if (ls.length === 1) compactions += 1;
      const { fileBytes, liveBytes } = store.sizes();
      expect(fileBytes).toBe(statSync(f).size);
      max = Math.max(max, fileBytes / (liveBytes + (1 << 20)));
    }
    expect(compactions).toBeGreaterThan(1);
    expect(max).toBeLessThanOrEqual(2);
    expect(snap(restore(await new FileStateStore(f).load()))).toEqual(snap(m));
  });

  it('reads the whole-state file of earlier versions when there is no changelog; the first save writes every segment', async () => {
    const f = file();
    const m = new UsageMeter(OPTS);
    for (let i = 0; i < 5; i++) m.ingest(TOPIC, 0, ev(i, H0 + i * HOUR_MS));
    new FileStateStore(f).lock().close(); // creates the directory
    writeFileSync(f.replace(/\.jsonl$/, '.json'), JSON.stringify(m.toState()));
    const store = new FileStateStore(f);
    const loaded = restore(await store.load())!;
    expect(snap(loaded)).toEqual(snap(m));
    await store.save(loaded.changes(), () => loaded.segments());
    expect(entry(lines(f)[0]!).segments).toHaveLength(5);
    appendFileSync(f, ''); // unchanged
    expect(snap(restore(await new FileStateStore(f).load()))).toEqual(snap(m));
  });
});
