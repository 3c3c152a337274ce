/**
 * The pure core of usage-metering: request-attributes in, closed hourly usage windows out. No I/O,
 * no clock (the caller passes `now` for occurredAt).
 *
 * - Exactly once per request. Identity is the event's checkId (`<instance>~<boot>:<seq>`, shared by
 *   the check's `chk:` and the access log's `als:` event of one request, see events/request-attributes.ts):
 *   the first of the two counts the request; an `als:` after the `chk:` of an allowed request only adds
 *   the response bytes; a repeat of either is a duplicate. Seen sequences are kept per hour and boot,
 *   across partitions, as ranges (SeqSet), so a duplicated batch, a re-sent spool or a replayed range
 *   never counts twice while the hour is retained.
 *   Events without a checkId (older adapters) are deduplicated on eventId in a bounded set per hour;
 *   beyond it they still count and the window says `exact: false`.
 * - Per source partition: request-attributes is keyed by request id, so both events of a request share
 *   a partition; each partition has its own watermark (max request time − lateness) and windows.
 * - An hour closes when its partition's watermark reaches its end: each window is published as
 *   revision 1. A later event of a closed hour is counted and the window is published again with the
 *   next revision (full totals). Hours are forgotten `retainClosedMs` after they closed; an event for a
 *   forgotten hour cannot be deduplicated any more and is refused (`beyond-retention`: the caller
 *   dead-letters it) rather than dropped or double counted.
 * - Memory: open and retained windows, plus per hour and adapter boot the seen ranges; not events.
 * - Publication is two-phase: `pending()` lists what should be published, `ack()` records that it was;
 *   a failed publish leaves the windows pending for the next batch.
 */
import { createHash } from 'node:crypto';
import type { RequestAttributes } from '../../events/request-attributes.ts';
import type { Usage } from '../../events/usage.ts';
import { SeqSet } from './seq-set.ts';

export const HOUR_MS = 3_600_000;

export interface MeterOptions {
  /** How far behind the partition's newest request time an event may be and still land in an open hour. */
  latenessMs: number;
  /** How long a closed hour stays amendable (and deduplicated) after its close. */
  retainClosedMs: number;
  /** Event ids remembered per hour and partition for events without a checkId. */
  legacyDedupePerHour: number;
}

export type IngestResult =
  | { kind: 'counted'; late: boolean }
  | { kind: 'bytes-added'; late: boolean }
  | { kind: 'duplicate' }
  | { kind: 'not-metered'; reason: string }
  | { kind: 'beyond-retention'; hourStart: string; retainedFrom: string };

interface WindowAgg {
  id: string;
  hourStart: number;
  application: Usage['application'];
  api: Usage['api'];
  subscriptionTier: string | null;
  keyType: Usage['keyType'];
  allowed: number;
  throttled: number;
  denied: number;
  overQuota: number;
  responseBytes: number;
  responseBytesKnown: number;
  lateEvents: number;
  exact: boolean;
  /** Bumped by every change. */
  version: number;
  /** The version whose publication was acknowledged. */
  ackedVersion: number;
  /** Last revision handed out by pending(), and the version it describes. */
  issuedRevision: number;
  issuedVersion: number;
}

/** Per hour and adapter boot (`<instance>~<boot>`), across partitions. */
interface Seen {
  /** Sequences of every event seen (any source, metered or not). */
  counted: SeqSet;
  /** Allowed checks counted from the check's event whose access-log event may still bring the bytes. */
  allowedChecks: Set<number>;
}

interface HourState {
  start: number;
  closed: boolean;
  windows: Map<string, WindowAgg>;
  /** eventIds of events without a usable checkId. */
  legacy: Set<string>;
}

interface PartitionState {
  topic: string;
  partition: number;
  maxEventMs: number;
  /** Watermark raised by the wall clock while the partition is idle (closeIdle). */
  clockWatermark: number;
  /** Wall-clock time of the partition's last batch (touch), for closeIdle. */
  lastActivityMs: number;
  /** Hours starting before this were forgotten: their events are refused. */
  retainedFrom: number;
  hours: Map<number, HourState>;
}

export interface PendingUsage {
  event: Usage;
  /** For ack(): the window and the version this event describes. */
  readonly ref: { window: WindowAgg; version: number };
}

export interface MeterStats {
  partitions: number;
  hours: number;
  windows: number;
  seqRanges: number;
  legacyIds: number;
}

function parseCheckId(checkId: string | undefined): { boot: string; seq: number } | null {
  if (checkId === undefined) return null;
  const colon = checkId.lastIndexOf(':');
  if (colon <= 0) return null;
  const seq = Number(checkId.slice(colon + 1));
  if (!Number.isSafeInteger(seq) || seq < 0) return null;
  return { boot: checkId.slice(0, colon), seq };
}

function hourLabel(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13).replace(/[-T]/g, '');
}

/** Stable window id: readable hour and partition, hashed identity (ids and names are unbounded). */
export function windowId(
  topic: string,
  partition: number,
  hourStart: number,
  application: string,
  api: string,
  tier: string | null,
  keyType: string | null,
): string {
  const digest = createHash('sha256')
    .update(`${topic}\0${application}\0${api}\0${tier ?? ''}\0${keyType ?? ''}`)
    .digest('base64url')
    .slice(0, 22);
  return `${hourLabel(hourStart)}.p${partition}.${digest}`;
}

function windowKey(app: string, api: string, tier: string | null, keyType: string | null): string {
  return `${app}\0${api}\0${tier ?? ''}\0${keyType ?? ''}`;
}

const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);

/** A partition's watermarks and retention mark, as both the whole state and the head carry them. */
const partitionMarks = (p: PartitionState) => ({
  topic: p.topic,
  partition: p.partition,
  maxEventMs: finite(p.maxEventMs),
  clockWatermark: finite(p.clockWatermark),
  lastActivityMs: finite(p.lastActivityMs),
  retainedFrom: finite(p.retainedFrom),
});
const orMinusInf = (n: number | null): number => n ?? -Infinity;

/** The whole meter as one JSON-able snapshot (v1): what stores wrote before incremental saves (still read), and tests. */
export interface MeterState {
  v: 1;
  dedupeFrom: number | null;
  seen: [hourStart: number, boots: [boot: string, ranges: number[], allowedChecks: number[]][]][];
  partitions: {
    topic: string;
    partition: number;
    maxEventMs: number | null;
    /** Absent in state written before the wall-clock close. */
    clockWatermark?: number | null;
    lastActivityMs?: number | null;
    retainedFrom: number | null;
    hours: { start: number; closed: boolean; legacy: string[]; windows: WindowAgg[] }[];
  }[];
}

/**
 * The meter state split for incremental saves: one segment per hour (that hour's windows of every
 * partition together with its seen sequences, so a segment is self-consistent: an event is counted in
 * it exactly when its sequence is seen in it) and a small head (watermarks, retention marks, the list
 * of segments). A batch changes the head and the segments of the hours it touched.
 */
export interface MeterHead {
  v: 2;
  dedupeFrom: number | null;
  partitions: {
    topic: string;
    partition: number;
    maxEventMs: number | null;
    clockWatermark: number | null;
    lastActivityMs: number | null;
    retainedFrom: number | null;
  }[];
  /** Hour starts that have a segment. */
  segments: number[];
}

export interface MeterSegment {
  hourStart: number;
  seen: [boot: string, ranges: number[], allowedChecks: number[]][];
  partitions: { topic: string; partition: number; closed: boolean; legacy: string[]; windows: WindowAgg[] }[];
}

/** What changed since the last markSaved(): the head (always), changed segments, segments gone. */
export interface MeterChanges {
  head: MeterHead;
  segments: MeterSegment[];
  dropped: number[];
}

export class UsageMeter {
  private readonly partitions = new Map<string, PartitionState>();
  /**
   * hour start -> boot -> seen sequences. Shared by the partitions: request-attributes is keyed by
   * request id, so one partition sees a scattered sixth of a boot's sequence, all of them together
   * a few contiguous runs.
   */
  private readonly seen = new Map<number, Map<string, Seen>>();
  /** Hours before this lost their seen sequences: their metered events are refused. */
  private dedupeFrom = -Infinity;
  /** Hour starts whose segment changed since the last markSaved() (incremental state saves). */
  private readonly dirty = new Set<number>();

  constructor(private readonly options: MeterOptions) {}

  private partitionOf(topic: string, partition: number): PartitionState {
    const k = `${topic}\0${partition}`;
    let p = this.partitions.get(k);
    if (!p) {
      p = {
        topic,
        partition,
        maxEventMs: -Infinity,
        clockWatermark: -Infinity,
        lastActivityMs: -Infinity,
        retainedFrom: -Infinity,
        hours: new Map(),
      };
      this.partitions.set(k, p);
    }
    return p;
  }

  watermarkOf(p: PartitionState): number {
    return Math.max(p.maxEventMs - this.options.latenessMs, p.clockWatermark);
  }

  /** A batch of this partition arrived at wall-clock `nowMs` (the partition is not idle). */
  touch(topic: string, partition: number, nowMs: number): void {
    const p = this.partitionOf(topic, partition);
    if (nowMs > p.lastActivityMs) p.lastActivityMs = nowMs;
  }

  /**
   * Processing-time close for idle partitions: with no events the watermark never moves, so the last
   * hour would stay open forever. A partition without a batch for latenessMs of wall clock gets the
   * watermark `nowMs - latenessMs`: an hour closes once its end + lateness has passed by the clock.
   * Only idle partitions, so a consumer catching up on a backlog (event time far behind the clock)
   * still closes by event time instead of turning its whole backlog into late amendments. An event
   * arriving later for a clock-closed hour amends it (revision n+1), as any late event does.
   * Call advance() after it. Returns the partitions whose watermark moved.
   */
  closeIdle(nowMs: number): number {
    let moved = 0;
    const wm = nowMs - this.options.latenessMs;
    for (const p of this.partitions.values()) {
      if (nowMs - p.lastActivityMs < this.options.latenessMs) continue;
      if (wm > p.clockWatermark && wm > p.maxEventMs - this.options.latenessMs) {
        p.clockWatermark = wm;
        moved += 1;
      }
    }
    return moved;
  }

  ingest(topic: string, partition: number, event: RequestAttributes): IngestResult {
    const t = Date.parse(event.receivedAt);
    const hourStart = Math.floor(t / HOUR_MS) * HOUR_MS;
    const beyond = (from: number): IngestResult => ({
      kind: 'beyond-retention',
      hourStart: new Date(hourStart).toISOString(),
      retainedFrom: new Date(from).toISOString(),
    });
    const metered = event.application !== null && event.api !== null;
    if (metered && hourStart < this.dedupeFrom) return beyond(this.dedupeFrom);

    // Identity first, for every event with a checkId (metered or not: unmetered checks would
    // otherwise punch holes into the boot's sequence runs and fragment the ranges).
    let bytesOnly = false;
    const check = parseCheckId(event.checkId);
    if (check && hourStart >= this.dedupeFrom) {
      let byBoot = this.seen.get(hourStart);
      if (!byBoot) {
        byBoot = new Map();
        this.seen.set(hourStart, byBoot);
      }
      let seen = byBoot.get(check.boot);
      if (!seen) {
        seen = { counted: new SeqSet(), allowedChecks: new Set() };
        byBoot.set(check.boot, seen);
      }
      if (seen.counted.has(check.seq)) {
        // The access log after the check of the same allowed request adds its bytes, once.
        if (event.source !== 'access-log' || !seen.allowedChecks.delete(check.seq))
          return { kind: 'duplicate' };
        bytesOnly = true;
        this.dirty.add(hourStart);
      } else {
        seen.counted.add(check.seq);
        this.dirty.add(hourStart);
        if (
          event.source === 'check' &&
          event.decision.kind === 'allow' &&
          seen.allowedChecks.size < this.options.legacyDedupePerHour
        ) {
          seen.allowedChecks.add(check.seq);
        }
      }
    }
    if (!event.application)
      return { kind: 'not-metered', reason: 'no application (unauthenticated or open API)' };
    if (!event.api) return { kind: 'not-metered', reason: 'no API matched' };

    const p = this.partitionOf(topic, partition);
    let hour = p.hours.get(hourStart);
    if (!hour) {
      if (hourStart < p.retainedFrom) return beyond(p.retainedFrom);
      hour = {
        start: hourStart,
        closed: hourStart + HOUR_MS <= this.watermarkOf(p),
        windows: new Map(),
        legacy: new Set(),
      };
      p.hours.set(hourStart, hour);
    }
    let exact = true;
    if (!check) {
      if (hour.legacy.has(event.eventId)) return { kind: 'duplicate' };
      if (hour.legacy.size < this.options.legacyDedupePerHour) hour.legacy.add(event.eventId);
      else exact = false;
    }
    this.dirty.add(hourStart);

    if (t > p.maxEventMs) p.maxEventMs = t;
    const tier = event.subscriptionTier;
    const key = windowKey(event.application.id, event.api.id, tier, event.keyType);
    let w = hour.windows.get(key);
    if (!w) {
      w = {
        id: windowId(topic, partition, hourStart, event.application.id, event.api.id, tier, event.keyType),
        hourStart,
        application: {
          id: event.application.id,
          name: event.application.name,
          owner: event.application.owner,
        },
        api: {
          id: event.api.id,
          name: event.api.name,
          version: event.api.version,
          context: event.api.context,
        },
        subscriptionTier: tier,
        keyType: event.keyType,
        allowed: 0,
        throttled: 0,
        denied: 0,
        overQuota: 0,
        responseBytes: 0,
        responseBytesKnown: 0,
        lateEvents: 0,
        exact: true,
        version: 0,
        ackedVersion: 0,
        issuedRevision: 0,
        issuedVersion: 0,
      };
      hour.windows.set(key, w);
    }
    if (!exact) w.exact = false;
    const bytes = event.response?.responseBytes;
    if (bytes !== null && bytes !== undefined && bytes >= 0) {
      w.responseBytes += bytes;
      w.responseBytesKnown += 1;
    }
    if (!bytesOnly) {
      const kind = event.decision.kind;
      if (kind === 'allow') {
        w.allowed += 1;
        if (event.decision.overQuota) w.overQuota += 1;
      } else if (kind === 'rate-limited') w.throttled += 1;
      else w.denied += 1;
    }
    w.version += 1;
    const late = hour.closed;
    if (late) w.lateEvents += 1;
    return bytesOnly ? { kind: 'bytes-added', late } : { kind: 'counted', late };
  }

  /** Closes every hour the watermark has passed; forgets hours closed longer than retainClosedMs ago. */
  advance(): void {
    for (const p of this.partitions.values()) {
      const wm = this.watermarkOf(p);
      for (const [start, hour] of p.hours) {
        const end = start + HOUR_MS;
        if (!hour.closed && end <= wm) {
          hour.closed = true;
          this.dirty.add(start);
        }
        if (hour.closed && end + this.options.retainClosedMs <= wm) {
          // Unpublished changes keep the hour until they are acknowledged.
          if ([...hour.windows.values()].some((w) => w.version !== w.ackedVersion)) continue;
          p.hours.delete(start);
          this.dirty.add(start);
          if (end > p.retainedFrom) p.retainedFrom = end;
        }
      }
    }
    let maxWatermark = -Infinity;
    for (const p of this.partitions.values()) maxWatermark = Math.max(maxWatermark, this.watermarkOf(p));
    for (const start of this.seen.keys()) {
      const end = start + HOUR_MS;
      if (end + this.options.retainClosedMs > maxWatermark) continue;
      if ([...this.partitions.values()].some((p) => p.hours.has(start))) continue;
      this.seen.delete(start);
      this.dirty.add(start);
      if (end > this.dedupeFrom) this.dedupeFrom = end;
    }
  }

  /** Windows of closed hours with changes not yet acknowledged, as the usage events to publish. */
  pending(now: Date): PendingUsage[] {
    const out: PendingUsage[] = [];
    for (const p of this.partitions.values()) {
      const watermark = new Date(Math.max(this.watermarkOf(p), 0)).toISOString();
      for (const hour of p.hours.values()) {
        if (!hour.closed) continue;
        for (const w of hour.windows.values()) {
          if (w.version === w.ackedVersion) continue;
          // A version already handed out keeps its revision (a retried or concurrent publish repeats the
          // same event); a change since gets the next one, so one revision never has two contents.
          if (w.issuedVersion !== w.version) {
            w.issuedRevision += 1;
            w.issuedVersion = w.version;
            this.dirty.add(w.hourStart);
          }
          const revision = w.issuedRevision;
          out.push({
            ref: { window: w, version: w.version },
            event: {
              type: 'usage',
              schemaVersion: 1,
              eventId: `usage:${w.id}:r${revision}`,
              occurredAt: now.toISOString(),
              windowId: w.id,
              revision,
              window: {
                start: new Date(w.hourStart).toISOString(),
                end: new Date(w.hourStart + HOUR_MS).toISOString(),
              },
              watermark,
              source: { topic: p.topic, partition: p.partition },
              application: w.application,
              api: w.api,
              subscriptionTier: w.subscriptionTier,
              keyType: w.keyType,
              counts: {
                allowed: w.allowed,
                throttled: w.throttled,
                denied: w.denied,
                overQuota: w.overQuota,
              },
              responseBytes: w.responseBytes,
              responseBytesKnown: w.responseBytesKnown,
              lateEvents: w.lateEvents,
              exact: w.exact,
            },
          });
        }
      }
    }
    return out;
  }

  /** The given pending events were published. */
  ack(published: readonly PendingUsage[]): void {
    for (const { ref } of published) {
      if (ref.version > ref.window.ackedVersion) {
        ref.window.ackedVersion = ref.version;
        this.dirty.add(ref.window.hourStart);
      }
    }
  }

  toState(): MeterState {
    return {
      v: 1,
      dedupeFrom: finite(this.dedupeFrom),
      seen: [...this.seen].map(([h, byBoot]) => [
        h,
        [...byBoot].map(
          ([boot, x]) => [boot, x.counted.toJSON(), [...x.allowedChecks]] as [string, number[], number[]],
        ),
      ]),
      partitions: [...this.partitions.values()].map((p) => ({
        ...partitionMarks(p),
        hours: [...p.hours.values()].map((h) => ({
          start: h.start,
          closed: h.closed,
          legacy: [...h.legacy],
          windows: [...h.windows.values()].map((w) => ({ ...w })),
        })),
      })),
    };
  }

  static fromState(options: MeterOptions, state: MeterState): UsageMeter {
    const m = new UsageMeter(options);
    m.dedupeFrom = orMinusInf(state.dedupeFrom);
    for (const [h, boots] of state.seen) {
      m.seen.set(
        h,
        new Map(
          boots.map(([boot, ranges, allowed]) => [
            boot,
            { counted: SeqSet.from(ranges), allowedChecks: new Set(allowed) },
          ]),
        ),
      );
    }
    for (const sp of state.partitions) {
      const p = m.partitionOf(sp.topic, sp.partition);
      p.maxEventMs = orMinusInf(sp.maxEventMs);
      p.clockWatermark = orMinusInf(sp.clockWatermark ?? null);
      p.lastActivityMs = orMinusInf(sp.lastActivityMs ?? null);
      p.retainedFrom = orMinusInf(sp.retainedFrom);
      for (const h of sp.hours) {
        p.hours.set(h.start, {
          start: h.start,
          closed: h.closed,
          legacy: new Set(h.legacy),
          windows: new Map(
            h.windows.map((w) => [
              windowKey(w.application.id, w.api.id, w.subscriptionTier, w.keyType),
              { ...w },
            ]),
          ),
        });
      }
    }
    // Loaded from a whole-state snapshot: the first incremental save writes every segment.
    for (const h of m.head().segments) m.dirty.add(h);
    return m;
  }

  head(): MeterHead {
    const hours = new Set<number>(this.seen.keys());
    for (const p of this.partitions.values()) for (const h of p.hours.keys()) hours.add(h);
    return {
      v: 2,
      dedupeFrom: finite(this.dedupeFrom),
      partitions: [...this.partitions.values()].map(partitionMarks),
      segments: [...hours].sort((a, b) => a - b),
    };
  }

  /** The segment of one hour; null when nothing of the hour is kept. */
  segment(hourStart: number): MeterSegment | null {
    const byBoot = this.seen.get(hourStart);
    const partitions: MeterSegment['partitions'] = [];
    for (const p of this.partitions.values()) {
      const h = p.hours.get(hourStart);
      if (!h) continue;
      partitions.push({
        topic: p.topic,
        partition: p.partition,
        closed: h.closed,
        legacy: [...h.legacy],
        windows: [...h.windows.values()].map((w) => ({ ...w })),
      });
    }
    if (!byBoot && partitions.length === 0) return null;
    return {
      hourStart,
      seen: [...(byBoot ?? [])].map(([boot, x]) => [boot, x.counted.toJSON(), [...x.allowedChecks]]),
      partitions,
    };
  }

  /** Every segment (a full write: compaction, a store that lost track). */
  segments(): MeterSegment[] {
    return this.head()
      .segments.map((h) => this.segment(h))
      .filter((s): s is MeterSegment => s !== null);
  }

  /** The head and the segments changed since the last markSaved(). */
  changes(): MeterChanges {
    const segments: MeterSegment[] = [];
    const dropped: number[] = [];
    for (const h of [...this.dirty].sort((a, b) => a - b)) {
      const seg = this.segment(h);
      if (seg) segments.push(seg);
      else dropped.push(h);
    }
    return { head: this.head(), segments, dropped };
  }

  /** The last changes() are durable. */
  markSaved(): void {
    this.dirty.clear();
  }

  /** A meter from a head and its segments (a store's load); nothing is dirty. */
  static fromParts(options: MeterOptions, head: MeterHead, segments: readonly MeterSegment[]): UsageMeter {
    const m = new UsageMeter(options);
    m.dedupeFrom = orMinusInf(head.dedupeFrom);
    for (const sp of head.partitions) {
      const p = m.partitionOf(sp.topic, sp.partition);
      p.maxEventMs = orMinusInf(sp.maxEventMs);
      p.clockWatermark = orMinusInf(sp.clockWatermark);
      p.lastActivityMs = orMinusInf(sp.lastActivityMs);
      p.retainedFrom = orMinusInf(sp.retainedFrom);
    }
    for (const seg of segments) {
      if (seg.seen.length > 0) {
        m.seen.set(
          seg.hourStart,
          new Map(
            seg.seen.map(([boot, ranges, allowed]) => [
              boot,
              { counted: SeqSet.from(ranges), allowedChecks: new Set(allowed) },
            ]),
          ),
        );
      }
      for (const sh of seg.partitions) {
        m.partitionOf(sh.topic, sh.partition).hours.set(seg.hourStart, {
          start: seg.hourStart,
          closed: sh.closed,
          legacy: new Set(sh.legacy),
          windows: new Map(
            sh.windows.map((w) => [
              windowKey(w.application.id, w.api.id, w.subscriptionTier, w.keyType),
              { ...w },
            ]),
          ),
        });
      }
    }
    return m;
  }

  stats(): MeterStats {
    const s: MeterStats = {
      partitions: this.partitions.size,
      hours: 0,
      windows: 0,
      seqRanges: 0,
      legacyIds: 0,
    };
    for (const p of this.partitions.values()) {
      for (const h of p.hours.values()) {
        s.hours += 1;
        s.windows += h.windows.size;
        s.legacyIds += h.legacy.size;
      }
    }
    for (const byBoot of this.seen.values()) {
      for (const seen of byBoot.values()) s.seqRanges += seen.counted.ranges;
    }
    return s;
  }
}
