import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { EMITTER_DEFAULTS } from '../../../adapter/emit/config.ts';
import { Emitter, type EmitterOptions } from '../../../adapter/emit/emitter.ts';
import { encodeRecord, Spool } from '../../../adapter/emit/spool.ts';
import { MemoryBus } from '../../../bus/memory.ts';
import { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { numberedEvent, seqOf, silentLogger, tempDir, until } from './helpers.ts';

const TOPIC = TOPICS.requestAttributes.name;

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function setup(over: Partial<EmitterOptions> = {}, dir?: string) {
  const tmp = dir ? { dir, cleanup: () => {} } : tempDir();
  const bus = (over.bus as MemoryBus | undefined) ?? new MemoryBus();
  const registry = new Registry();
  const emitter = new Emitter({
    ...EMITTER_DEFAULTS,
    bus,
    dataDir: tmp.dir,
    registry,
    batchSize: 10,
    lingerMs: 5,
    produceTimeoutMs: 200,
    retryMinMs: 5,
    retryMaxMs: 20,
    logger: silentLogger,
    ...over,
  });
  cleanups.push(tmp.cleanup, () => emitter.stop());
  return { emitter, bus, registry, dir: tmp.dir };
}

async function metric(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const all = (await registry.getMetricsAsJSON()).flatMap((m) =>
    m.values.map((v) => ({ ...v, name: (v as { metricName?: string }).metricName ?? m.name })),
  );
  return all
    .filter((v) => v.name === name)
    .filter((v) =>
      Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
    )
    .reduce((n, v) => n + v.value, 0);
}

const seqs = (bus: MemoryBus) => bus.records(TOPIC).map((r) => seqOf(r.value));
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('Emitter', () => {
  it('batches by size and linger, keyed by the topic key, valid events on the wire', async () => {
    const { emitter, bus, registry } = setup({ batchSize: 10, lingerMs: 10 });
    await emitter.start();
    for (const i of range(25)) emitter.emit('requestAttributes', numberedEvent(i));
    await until(() => bus.records(TOPIC).length === 25, '25 records');
    expect(seqs(bus)).toEqual(range(25));
    const records = bus.records(TOPIC);
    expect(records.map((r) => r.key!.toString())).toEqual(range(25).map((i) => `req-${i}`));
    for (const r of records)
      expect(() => RequestAttributes.parse(JSON.parse(r.value!.toString()))).not.toThrow();
    expect(await metric(registry, 'mesh_apim_emit_batches_total')).toBe(3);
    expect(await metric(registry, 'mesh_apim_emit_events_emitted_total')).toBe(25);
    expect(await metric(registry, 'mesh_apim_emit_events_accepted_total')).toBe(25);
    expect(await metric(registry, 'mesh_apim_emit_events_spooled_total')).toBe(0);
    expect(await metric(registry, 'mesh_apim_emit_lag_seconds_count')).toBe(25);
  });

  it('spools while the bus fails, then drains in order when it recovers (count in = count out)', async () => {
    const { emitter, bus, registry } = setup();
    bus.failProduce = new Error('broker down');
    await emitter.start();
    for (const i of range(1000)) emitter.emit('requestAttributes', numberedEvent(i));
    await until(() => emitter.spool.pending === 1000, 'all spooled');
    expect(bus.records(TOPIC)).toHaveLength(0);
    expect(await metric(registry, 'mesh_apim_emit_producer_errors_total', { kind: 'error' })).toBeGreaterThan(
      0,
    );
    expect(await metric(registry, 'mesh_apim_emit_spool_bytes')).toBeGreaterThan(0);
    bus.failProduce = null;
    // More events while draining: they must queue behind the spooled ones.
    for (const i of range(200, 1000)) emitter.emit('requestAttributes', numberedEvent(i));
    await until(() => bus.records(TOPIC).length >= 1200, '1200 delivered');
    await until(() => emitter.spool.isEmpty(), 'spool drained');
    expect(seqs(bus)).toEqual(range(1200));
    expect(await metric(registry, 'mesh_apim_emit_events_dropped_total')).toBe(0);
    expect(await metric(registry, 'mesh_apim_emit_events_emitted_total', { path: 'spool' })).toBe(1200);
  });

  it('never makes the caller wait on a hung bus: emit returns, events go to the spool after the bound', async () => {
    const bus = new MemoryBus();
    const realProduce = bus.produce.bind(bus);
    let hung = true;
    bus.produce = (topic, records) => (hung ? new Promise<void>(() => {}) : realProduce(topic, records));
    const { emitter, registry } = setup({ bus, produceTimeoutMs: 50 });
    await emitter.start();
    for (const i of range(30)) {
      // emit is synchronous: it returns undefined, not a promise, whatever the bus does.
      expect(emitter.emit('requestAttributes', numberedEvent(i))).toBeUndefined();
    }
    expect(emitter.buffered + emitter.spool.pending).toBeGreaterThan(0);
    await until(() => emitter.spool.pending === 30, 'spooled after produce timeout');
    expect(
      await metric(registry, 'mesh_apim_emit_producer_errors_total', { kind: 'timeout' }),
    ).toBeGreaterThan(0);
    hung = false;
    await until(() => bus.records(TOPIC).length === 30, 'delivered after the bus answers again');
    expect(seqs(bus)).toEqual(range(30));
  });

  it('when the spool is full, drops the oldest, counts them, delivers the rest in order', async () => {
    const { emitter, bus, registry } = setup({
      spoolMaxBytes: 32 * 1024,
      spoolSegmentBytes: 4 * 1024,
      batchSize: 5,
    });
    bus.failProduce = new Error('broker down');
    await emitter.start();
    const n = 300;
    for (const i of range(n)) {
      emitter.emit('requestAttributes', numberedEvent(i, 200));
      if (i % 20 === 19) await until(() => emitter.buffered === 0, 'buffer spooled');
    }
    await until(() => emitter.buffered === 0 && emitter.spool.pending > 0, 'spooled');
    expect(
      await metric(registry, 'mesh_apim_emit_events_dropped_total', { reason: 'spool-full' }),
    ).toBeGreaterThan(0);
    expect(emitter.spool.bytes).toBeLessThanOrEqual(32 * 1024);
    bus.failProduce = null;
    // Count in = delivered + counted drops (waits for the last append, which may still drop).
    const droppedNow = () =>
      metric(registry, 'mesh_apim_emit_events_dropped_total', { reason: 'spool-full' });
    await until(
      async () => bus.records(TOPIC).length + (await droppedNow()) === n,
      'delivered + dropped = n',
    );
    await until(() => emitter.spool.isEmpty(), 'drained');
    const dropped = await droppedNow();
    expect(await metric(registry, 'mesh_apim_emit_events_dropped_total')).toBe(dropped);
    expect(seqs(bus)).toEqual(range(n - dropped, dropped));
  });

  it('a failing spool write (disk full) is counted as dropped and the emitter carries on', async () => {
    const { emitter, bus, registry } = setup();
    bus.failProduce = new Error('broker down');
    const append = emitter.spool.append.bind(emitter.spool);
    let diskFull = true;
    emitter.spool.append = (records) =>
      diskFull ? Promise.reject(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' })) : append(records);
    await emitter.start();
    for (const i of range(5)) emitter.emit('requestAttributes', numberedEvent(i));
    await until(
      async () =>
        (await metric(registry, 'mesh_apim_emit_events_dropped_total', { reason: 'spool-error' })) === 5,
      'counted as lost',
    );
    diskFull = false;
    bus.failProduce = null;
    for (const i of range(5, 5)) emitter.emit('requestAttributes', numberedEvent(i));
    await until(() => bus.records(TOPIC).length === 5, 'later events delivered');
    expect(seqs(bus)).toEqual(range(5, 5));
  });

  it('flushes the buffer to the bus on stop; an event after stop is counted as dropped', async () => {
    const { emitter, bus, registry } = setup({ lingerMs: 60_000, batchSize: 1000 });
    await emitter.start();
    for (const i of range(7)) emitter.emit('requestAttributes', numberedEvent(i));
    expect(bus.records(TOPIC)).toHaveLength(0);
    await emitter.stop();
    expect(seqs(bus)).toEqual(range(7));
    emitter.emit('requestAttributes', numberedEvent(8));
    expect(await metric(registry, 'mesh_apim_emit_events_dropped_total', { reason: 'stopped' })).toBe(1);
  });

  it('spools the buffer on stop when the bus is down; the next emitter over the same dir delivers it', async () => {
    const first = setup({ lingerMs: 60_000, batchSize: 1000, stopTimeoutMs: 100 });
    first.bus.failProduce = new Error('broker down');
    await first.emitter.start();
    for (const i of range(7)) first.emitter.emit('requestAttributes', numberedEvent(i));
    await first.emitter.stop();
    expect(first.bus.records(TOPIC)).toHaveLength(0);
    const second = setup({}, first.dir);
    await second.emitter.start();
    await until(() => second.bus.records(TOPIC).length === 7, 'delivered after restart');
    expect(seqs(second.bus)).toEqual(range(7));
  });

  it('after a crash, delivers what was spooled (torn last write discarded) before new events', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    // What a killed process leaves: fsynced batches, plus half a record from an interrupted write.
    const spool = new Spool(join(dir, 'spool'), {
      maxBytes: 1 << 20,
      segmentBytes: 2048,
      logger: silentLogger,
      onDrop: () => {},
    });
    await spool.open();
    for (const b of range(10)) {
      await spool.append(
        range(5, b * 5).map((i) => ({
          topic: TOPIC,
          key: `req-${i}`,
          value: JSON.stringify(numberedEvent(i)),
          enqueuedAt: Date.now(),
        })),
      );
    }
    await spool.close();
    const segs = readdirSync(join(dir, 'spool'))
      .filter((f) => f.endsWith('.seg'))
      .sort();
    appendFileSync(
      join(dir, 'spool', segs.at(-1)!),
      encodeRecord({ topic: TOPIC, key: 'x', value: 'torn', enqueuedAt: 0 }).subarray(0, 20),
    );
    const { emitter, bus } = setup({}, dir);
    await emitter.start();
    emitter.emit('requestAttributes', numberedEvent(50));
    await until(() => bus.records(TOPIC).length === 51, '51 delivered');
    expect(seqs(bus)).toEqual(range(51));
  });

  it('spools eagerly when the buffer passes the threshold while a produce is slow', async () => {
    const bus = new MemoryBus();
    const realProduce = bus.produce.bind(bus);
    let release: (() => void) | null = null;
    bus.produce = async (topic, records) => {
      if (!release) await new Promise<void>((r) => (release = r));
      return realProduce(topic, records);
    };
    const { emitter, registry } = setup({
      bus,
      produceTimeoutMs: 60_000,
      spoolAtBuffered: 20,
      batchSize: 10,
    });
    await emitter.start();
    for (const i of range(10)) emitter.emit('requestAttributes', numberedEvent(i));
    await until(() => release !== null, 'first produce in flight');
    for (const i of range(50, 10)) emitter.emit('requestAttributes', numberedEvent(i));
    release!();
    await until(() => bus.records(TOPIC).length === 60, 'all delivered');
    expect(await metric(registry, 'mesh_apim_emit_events_spooled_total')).toBe(50);
    expect(seqs(bus)).toEqual(range(60));
  });
});
