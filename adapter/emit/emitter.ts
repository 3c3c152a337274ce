/**
 * Non-blocking event emission. `emit()` is synchronous and O(1): it appends to an in-memory buffer
 * and returns, so the check path never waits on the bus. One background loop batches the buffer
 * (emitter.batchSize / emitter.lingerMs) and produces each batch with a bound (produceTimeoutMs).
 *
 * Modes of the loop:
 *  - direct: batches go straight to the bus. A failed or timed-out produce puts the batch in the spool
 *    and switches to spool mode.
 *  - spool: while the spool holds anything, every new batch is appended to it (so order is kept:
 *    older events are always ahead), and the spool is drained in order, oldest first, with
 *    exponential backoff while the bus keeps failing. Empty spool -> direct mode again.
 * The buffer is also spooled eagerly when it grows past spoolAtBuffered (a slow bus) so little sits
 * in memory.
 *
 * Loss window (SIGKILL / crash): ~0. emit() serialises the event at once and the journal
 * (journal.ts) writes it to `<dataDir>/spool/` before the loop moves on, so before the check's
 * answer leaves the process; the next start spools what the journal holds beyond its cursor. What
 * remains is an event whose write(2) had not returned when the process died (microseconds), and
 * power loss before the page cache reached the disk (the journal is not fsynced; spooled events
 * are fsynced per batch, the bus per its own setting). With the journal off (emitter.journal=false),
 * the window is the events in memory: one linger period plus one in-flight produce.
 * Delivery is at-least-once: a produce that timed out may still have landed, and is spooled and sent
 * again; after a crash, up to one batch journaled after the last cursor write is sent again;
 * consumers dedupe on eventId.
 */
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Bus, OutRecord } from '../../bus/types.ts';
import { Backoff } from '../../common/backoff.ts';
import { errorMessage } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import { TOPICS, type TopicKey, topicName } from '../../events/topics.ts';
import type { EmitterConfigSchema } from './config.ts';
import { Journal } from './journal.ts';
import { type EmitterMetrics, emitterMetrics } from './metrics.ts';
import { Spool, type SpoolRecord } from './spool.ts';

export type EventOf<K extends TopicKey> = Parameters<(typeof TOPICS)[K]['key']>[0];

/** The `emitter.*` settings, resolved (their defaults live in ./config.ts: EMITTER_DEFAULTS). */
export type EmitterSettings = z.output<typeof EmitterConfigSchema>;

export interface EmitterOptions extends EmitterSettings {
  bus: Bus;
  /** The process data directory; the spool lives in `<dataDir>/spool/`. */
  dataDir: string;
  registry: Registry;
  /** Backoff bounds between drain attempts while the bus fails (not settings). */
  retryMinMs?: number;
  retryMaxMs?: number;
  topicPrefix?: string;
  /** Size at which the journal starts a new file (covered files are deleted; not a setting). */
  journalFileBytes?: number;
  logger?: Logger;
  now?: () => number;
}

/**
 * An event accepted and not yet on the bus or in the spool: one object per event (it is its spool
 * record, serialised once at emit()), with the journal position as two numbers.
 */
interface Pending extends SpoolRecord {
  /** Where the journal holds it: generation and records up to it (gen -1: journal off or not started). */
  gen: number;
  seq: number;
}

class ProduceTimeout extends Error {}

export class Emitter {
  readonly metrics: EmitterMetrics;
  readonly spool: Spool;
  private readonly bus: Bus;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly o: Required<
    Omit<EmitterOptions, 'bus' | 'dataDir' | 'registry' | 'logger' | 'now' | 'topicPrefix' | 'journal'>
  >;
  private readonly journal: Journal | null;
  private journalOpen = false;
  private readonly wireTopics = new Map<TopicKey, string>();
  private readonly prefix: string;
  private buffer: Pending[] = [];
  private spoolMode = false;
  private running = false;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Waits between spool drains while the bus fails (deterministic: the loop is one per process). */
  private readonly retry: Backoff;
  private nextDrainAt = 0;
  private lastBufferFullLog = 0;
  private firstPendingAt = 0;

  constructor(options: EmitterOptions) {
    this.bus = options.bus;
    this.log = options.logger ?? createLogger('emitter');
    this.now = options.now ?? Date.now;
    this.prefix = options.topicPrefix ?? '';
    const { bufferMax, spoolMaxBytes } = options;
    this.o = {
      batchSize: options.batchSize,
      lingerMs: options.lingerMs,
      bufferMax,
      // 0 = derived (emitter.spoolAtBuffered / emitter.spoolSegmentBytes).
      spoolAtBuffered: options.spoolAtBuffered || Math.max(1, Math.floor(bufferMax / 10)),
      spoolMaxBytes,
      // At most half the bound: dropping the oldest segment must be able to make room.
      spoolSegmentBytes: Math.min(
        Math.floor(spoolMaxBytes / 2),
        options.spoolSegmentBytes ||
          Math.max(64 * 1024, Math.min(16 * 1024 * 1024, Math.floor(spoolMaxBytes / 8))),
      ),
      produceTimeoutMs: options.produceTimeoutMs,
      retryMinMs: options.retryMinMs ?? 100,
      retryMaxMs: options.retryMaxMs ?? 5_000,
      stopTimeoutMs: options.stopTimeoutMs,
      journalFileBytes: options.journalFileBytes ?? 8 * 1024 * 1024,
    };
    this.retry = new Backoff({ minMs: this.o.retryMinMs, maxMs: this.o.retryMaxMs, jitter: 'none' });
    this.metrics = emitterMetrics(options.registry);
    this.spool = new Spool(join(options.dataDir, 'spool'), {
      maxBytes: this.o.spoolMaxBytes,
      segmentBytes: this.o.spoolSegmentBytes,
      logger: this.log,
      onDrop: (count, reason) => this.metrics.dropped.inc({ reason }, count),
    });
    this.journal = !options.journal
      ? null
      : new Journal(join(options.dataDir, 'spool'), {
          maxFileBytes: this.o.journalFileBytes,
          logger: this.log,
        });
  }

  /** Opens the spool (events a previous process left are drained first) and starts the loop. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.spool.open();
    if (this.journal) {
      // Events a killed process had journaled but not yet handed on: spooled ahead of anything new.
      const recovered = this.journal.recover();
      if (recovered.length > 0) {
        await this.spool.append(recovered);
        this.metrics.spooled.inc(recovered.length);
        this.log.warn({ events: recovered.length }, 'journal of a previous run recovered into the spool');
      }
      this.journal.reset();
      this.journalOpen = true;
    }
    this.spoolMode = !this.spool.isEmpty();
    if (this.spoolMode)
      this.log.info({ events: this.spool.pending }, 'spool holds events from a previous run; draining');
    this.updateGauges();
    this.running = true;
    this.loop = this.run().catch((err: unknown) => {
      this.log.fatal({ err }, 'emitter loop died');
    });
  }

  /**
   * Hands an event over and returns at once; never throws, never waits. The event must already be
   * valid for its topic (built by the pure builders in events.ts).
   */
  emit<K extends TopicKey>(topic: K, event: EventOf<K>): void {
    if (!this.admit()) return;
    const contract = TOPICS[topic];
    let key: string;
    let value: string;
    try {
      key = (contract.key as (e: unknown) => string)(event);
      value = JSON.stringify(event);
    } catch (err) {
      // A caller bug, not a bus problem: never let one event block the others.
      this.metrics.dropped.inc({ reason: 'unserializable' });
      this.log.error({ err, topic: contract.name }, 'event cannot be serialized; dropped');
      return;
    }
    this.accept(topic, key, value);
  }

  /**
   * emit() of an event the caller already serialised (the check's event, spliced from the JSON its
   * response carries): `key` must be the topic's key of that event, `value` its JSON.
   */
  emitSerialized(topic: TopicKey, key: string | null, value: string): void {
    if (this.admit()) this.accept(topic, key, value);
  }

  /** False (counted) when the event cannot be taken: stopped, or the buffer is full. */
  private admit(): boolean {
    if (this.stopped) {
      // Nothing would ever flush it: count it rather than hold it silently.
      this.metrics.dropped.inc({ reason: 'stopped' });
      return false;
    }
    if (this.buffer.length >= this.o.bufferMax) {
      this.metrics.dropped.inc({ reason: 'buffer-full' });
      const t = this.now();
      if (t - this.lastBufferFullLog > 10_000) {
        this.lastBufferFullLog = t;
        this.log.error(
          { bufferMax: this.o.bufferMax },
          'emitter buffer full (spool cannot keep up): dropping events',
        );
      }
      return false;
    }
    return true;
  }

  private accept(topic: TopicKey, key: string | null, value: string): void {
    const at = this.now();
    const p: Pending = {
      topic: this.wireTopic(topic),
      key,
      value,
      enqueuedAt: at,
      gen: -1,
      seq: 0,
    };
    if (this.journalOpen) {
      this.journal!.append(p);
      p.gen = this.journal!.generation;
      p.seq = this.journal!.records;
    }
    if (this.buffer.length === 0) this.firstPendingAt = at;
    this.buffer.push(p);
    this.countAccepted(topic);
    if (this.wake && (this.buffer.length >= this.o.batchSize || this.buffer.length === 1)) this.signal();
  }

  private wireTopic(topic: TopicKey): string {
    let name = this.wireTopics.get(topic);
    if (name === undefined) {
      name = topicName(TOPICS[topic], this.prefix);
      this.wireTopics.set(topic, name);
    }
    return name;
  }

  /** The batch is on the bus or in the spool: the journal need not replay it. */
  private covered(batch: Pending[]): void {
    const last = batch.at(-1);
    if (last && last.gen >= 0 && this.journalOpen)
      this.journal!.cover({ generation: last.gen, records: last.seq });
  }

  // Counted per loop turn, not per event (prom-client's inc costs about what the rest of emit()
  // does): one microtask adds the turn's counts.
  private readonly acceptedCounts = new Map<TopicKey, number>();
  private acceptedScheduled = false;
  private countAccepted(topic: TopicKey): void {
    this.acceptedCounts.set(topic, (this.acceptedCounts.get(topic) ?? 0) + 1);
    if (!this.acceptedScheduled) {
      this.acceptedScheduled = true;
      queueMicrotask(this.flushAccepted);
    }
  }
  private readonly flushAccepted = (): void => {
    this.acceptedScheduled = false;
    for (const [topic, n] of this.acceptedCounts)
      this.metrics.accepted.inc({ topic: TOPICS[topic].logical }, n);
    this.acceptedCounts.clear();
  };

  /** Events in memory (not yet produced or spooled). */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Flushes the buffer to the bus (bounded by stopTimeoutMs) or to the spool, then closes the spool. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopped = true;
    this.signal();
    await this.loop;
    await this.spool.close();
    this.updateGauges();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.step();
      } catch (err) {
        // Spool I/O failed (disk full, permissions): keep the events in memory and retry later.
        this.log.error({ err }, 'emitter step failed');
        await this.sleep(this.o.retryMaxMs);
      }
    }
    await this.finalFlush();
  }

  /** One iteration: decide what to do now, or sleep until there is something to do. */
  private async step(): Promise<void> {
    const t = this.now();
    const lingerDue = this.buffer.length > 0 && t - this.firstPendingAt >= this.o.lingerMs;
    const full = this.buffer.length >= this.o.batchSize;
    if (this.spoolMode && this.spool.isEmpty()) {
      // Drained: what is buffered is newer than anything sent, so it may go direct again.
      this.spoolMode = false;
      return;
    }
    if (this.spoolMode) {
      // Spool everything buffered at once (order: behind what is spooled), then drain when due.
      if (this.buffer.length > 0 && (lingerDue || full)) {
        await this.spoolBuffer();
        return;
      }
      if (!this.spool.isEmpty() && t >= this.nextDrainAt) {
        await this.drainOnce();
        return;
      }
      const untilLinger =
        this.buffer.length > 0 ? this.firstPendingAt + this.o.lingerMs - t : Number.POSITIVE_INFINITY;
      const untilDrain = this.nextDrainAt - t;
      await this.sleep(Math.max(1, Math.min(untilLinger, untilDrain, 60_000)));
      return;
    }
    if (this.buffer.length >= this.o.spoolAtBuffered) {
      // The bus is slower than the input: spool rather than hold a lot in memory.
      this.log.warn({ buffered: this.buffer.length }, 'buffer above eager-spool threshold; spooling');
      this.spoolMode = true;
      this.nextDrainAt = t;
      await this.spoolBuffer();
      return;
    }
    if (full || lingerDue) {
      const batch = this.take(this.o.batchSize);
      const accepted = await this.produce(batch, 'direct');
      if (accepted < batch.length) {
        this.spoolMode = true;
        this.nextDrainAt = this.now() + this.retry.peek();
        await this.appendToSpool(batch.slice(accepted));
      }
      this.covered(batch);
      return;
    }
    const wait = this.buffer.length > 0 ? this.firstPendingAt + this.o.lingerMs - t : 60_000;
    await this.sleep(Math.max(1, wait));
  }

  private take(n: number): Pending[] {
    const batch = this.buffer.length <= n ? this.buffer : this.buffer.slice(0, n);
    this.buffer = this.buffer.length <= n ? [] : this.buffer.slice(n);
    if (this.buffer.length > 0) this.firstPendingAt = this.buffer[0]!.enqueuedAt;
    this.metrics.buffered.set(this.buffer.length);
    return batch;
  }

  private async spoolBuffer(): Promise<void> {
    const batch = this.take(this.buffer.length);
    await this.appendToSpool(batch);
    this.covered(batch);
  }

  private async appendToSpool(records: SpoolRecord[]): Promise<void> {
    try {
      await this.spool.append(records);
    } catch (err) {
      // Neither the bus nor the disk took them: lost, and said so.
      this.metrics.dropped.inc({ reason: 'spool-error' }, records.length);
      this.log.error({ err, events: records.length }, 'spool write failed: events dropped');
      throw err;
    }
    this.metrics.spooled.inc(records.length);
    this.updateGauges();
  }

  private async drainOnce(): Promise<void> {
    const { records, next } = await this.spool.read(this.o.batchSize);
    if (records.length === 0) {
      this.updateGauges();
      return;
    }
    // A partial success is retried whole (from the cursor): at-least-once.
    if ((await this.produce(records, 'spool')) === records.length) {
      await this.spool.commit(next);
      this.retry.reset();
      this.nextDrainAt = this.now();
    } else {
      this.nextDrainAt = this.now() + this.retry.next();
    }
    this.updateGauges();
  }

  /**
   * Produces records in order, one bus call per run of consecutive records of one topic; stops at
   * the first failure. Returns how many leading records the bus accepted.
   */
  private async produce(
    records: SpoolRecord[],
    path: 'direct' | 'spool',
    timeoutMs = this.o.produceTimeoutMs,
  ): Promise<number> {
    let i = 0;
    while (i < records.length) {
      const topic = records[i]!.topic;
      let j = i;
      const out: OutRecord[] = [];
      while (j < records.length && records[j]!.topic === topic) {
        const r = records[j]!;
        out.push({ key: r.key, value: r.value, timestamp: r.enqueuedAt });
        j++;
      }
      try {
        await this.withTimeout(this.bus.produce(topic, out), timeoutMs);
      } catch (err) {
        const timeout = err instanceof ProduceTimeout;
        this.metrics.producerErrors.inc({ kind: timeout ? 'timeout' : 'error' });
        this.log.warn({ err: errorMessage(err), topic, events: out.length, path }, 'produce failed');
        return i;
      }
      const t = this.now();
      for (let k = i; k < j; k++) this.metrics.lag.observe((t - records[k]!.enqueuedAt) / 1000);
      this.metrics.emitted.inc({ topic, path }, out.length);
      this.metrics.batches.inc({ path });
      i = j;
    }
    return i;
  }

  private withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ProduceTimeout(`produce did not settle within ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private async finalFlush(): Promise<void> {
    await this.flushBuffer();
    // Everything is on the bus or in the spool: the journal has nothing left to replay.
    if (this.journalOpen) await this.journal!.close();
    this.journalOpen = false;
  }

  private async flushBuffer(): Promise<void> {
    if (this.buffer.length === 0) return;
    const records: SpoolRecord[] = this.take(this.buffer.length);
    if (!this.spoolMode) {
      let i = 0;
      const deadline = this.now() + this.o.stopTimeoutMs;
      while (i < records.length) {
        const chunk = records.slice(i, i + this.o.batchSize);
        const left = deadline - this.now();
        if (left <= 0) break;
        const accepted = await this.produce(chunk, 'direct', left);
        i += accepted;
        if (accepted < chunk.length) break;
      }
      if (i === records.length) return;
      records.splice(0, i);
    }
    await this.appendToSpool(records);
    this.log.info({ events: records.length }, 'stop: buffered events spooled for the next start');
  }

  private updateGauges(): void {
    this.metrics.spoolBytes.set(this.spool.bytes);
    this.metrics.spoolPending.set(this.spool.pending);
    this.metrics.buffered.set(this.buffer.length);
  }
}
