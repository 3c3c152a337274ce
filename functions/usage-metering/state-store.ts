/**
 * Where the meter state lives between invocations. Two homes, neither new: an append-only changelog
 * in the data dir (local runner; locked against a second runner on the same file) and a compacted
 * Kafka topic (Lambda: the changelog pattern; the bus the stack already has). Both are written after
 * every batch, before the handler returns, so before the bus/Lambda commits the batch: a crash before
 * the write redelivers the batch onto the previous state (counted once), after it the redelivery is a
 * duplicate.
 *
 * Saves are incremental (UsageMeter.changes()): the head and the hour segments the batch changed, not
 * the whole state (10^4 retained windows are megabytes of JSON; a batch touches one or two hours).
 * A segment carries an hour's windows together with that hour's seen sequences, so any segment
 * version is self-consistent: what makes a save atomic is that a reader never combines a head with
 * segments it does not list.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import { publish } from '../../bus/publish.ts';
import type { Bus, InRecord } from '../../bus/types.ts';
import { TOPICS } from '../../events/topics.ts';
import {
  segmentKey,
  UsageMeterState,
  type UsageMeterStateHead,
  type UsageMeterStateSegment,
} from '../../events/usage-meter-state.ts';
import { UsageStateCorruptError, UsageStateLockedError } from './errors.ts';
import type { MeterChanges, MeterHead, MeterSegment, MeterState } from './meter.ts';

/** What load() found: a head with its segments, or a whole-state snapshot written before incremental saves. */
export type LoadedState = { head: MeterHead; segments: MeterSegment[] } | { whole: MeterState };

export interface MeterStateStore {
  readonly describe: string;
  load(): Promise<LoadedState | null>;
  /**
   * Makes `changes` durable. `all` gives every segment, for a store that rewrites everything
   * (compaction, or after a failed write left it unsure what it holds).
   */
  save(changes: MeterChanges, all: () => MeterSegment[]): Promise<void>;
  /** Someone else wrote the store since this process last loaded or saved it (reload before use). */
  changed(): Promise<boolean>;
  close(): Promise<void>;
}

/** `2026-11-26T04`: a segment's name (record keys, logs). */
export function segmentName(hourStart: number): string {
  return new Date(hourStart).toISOString().slice(0, 13);
}

/** One changelog line: a save (changed segments, dropped hours, the head) or, with `full`, the whole state. */
interface ChangelogEntry {
  gen: number;
  full?: true;
  head: MeterHead;
  segments: MeterSegment[];
  dropped: number[];
}

/** Rewrite the changelog when it is this many times the live state (plus a floor: small states). */
const COMPACT_RATIO = 2;
const COMPACT_FLOOR_BYTES = 1 << 20;

/**
 * <dataDir>/usage/meter-state[-<runner>].jsonl: an append-only changelog, one line per save,
 * `<crc32 hex> <json>\n`, fsynced before save() returns. A save is one line, so it is all or nothing:
 * a crash mid-write leaves a torn last line (no newline, or a checksum that does not match), which
 * load() drops and truncates away: the batch was not committed and is redelivered onto the previous
 * line's state. A damaged line before the last one cannot come from a crash (every earlier line was
 * fsynced whole) and fails the load instead of silently losing committed counts. When the file grows
 * past COMPACT_RATIO x the live state, the next save writes the whole state as one line to a
 * temporary file, fsyncs it and renames it over the changelog (atomic: the old or the new file).
 *
 * A lock file beside it, `<file>.lock`, holds the owner's host, pid and a token. A lock whose process
 * is gone (same host, pid not alive) is stale and taken over, so a SIGKILLed runner does not block its
 * restart; a live owner makes the second runner fail at start with a clear error instead of both
 * appending to one file. The whole-state file of earlier versions (`.json` beside it) is read when
 * there is no changelog yet; the first save then writes every segment.
 */
export class FileStateStore implements MeterStateStore {
  readonly describe: string;
  private readonly lockFile: string;
  private readonly legacyFile: string | null;
  private readonly token = randomUUID();
  private locked = false;
  /** False until load() read the file, and after a failed write: the next save rewrites everything. */
  private synced = false;
  private gen = 0;
  private fileBytes = 0;
  /** JSON length of every live segment and of the head: the size a compaction would write. */
  private readonly liveBytes = new Map<number, number>();
  private headBytes = 0;

  constructor(private readonly file: string) {
    this.describe = file;
    this.lockFile = `${file}.lock`;
    this.legacyFile = file.endsWith('.jsonl') ? file.slice(0, -1) : null;
  }

  /** Takes the lock (throws UsageStateLockedError when a live process holds it). */
  lock(): this {
    mkdirSync(dirname(this.file), { recursive: true });
    const mine = JSON.stringify({ host: hostname(), pid: process.pid, token: this.token });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockFile, 'wx');
        try {
          writeSync(fd, mine);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        this.locked = true;
        return this;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner: { host?: string; pid?: number; token?: string } = {};
      try {
        owner = JSON.parse(readFileSync(this.lockFile, 'utf8'));
      } catch {
        // Unreadable or half-written: only a crash between open and write leaves that; treat as stale.
      }
      if (owner.pid !== undefined && (owner.host !== hostname() || alive(owner.pid)))
        throw new UsageStateLockedError(this.file, owner);
      try {
        unlinkSync(this.lockFile);
      } catch {
        // Someone else removed it first: retry the exclusive create.
      }
    }
    throw new UsageStateLockedError(this.file, {});
  }

  async load(): Promise<LoadedState | null> {
    this.gen = 0;
    this.fileBytes = 0;
    this.liveBytes.clear();
    this.headBytes = 0;
    if (!existsSync(this.file)) {
      this.synced = false; // nothing to append to: the first save writes the whole state
      if (this.legacyFile && existsSync(this.legacyFile))
        return { whole: JSON.parse(readFileSync(this.legacyFile, 'utf8')) as MeterState };
      return null;
    }
    const buf = readFileSync(this.file);
    let head: MeterHead | null = null;
    const segments = new Map<number, MeterSegment>();
    let good = 0;
    for (let o = 0; o < buf.length; ) {
      const nl = buf.indexOf(0x0a, o);
      const entry = nl < 0 ? null : parseLine(buf.subarray(o, nl));
      if (!entry) {
        // Torn by a crash only if nothing complete follows.
        if (nl >= 0 && nl + 1 < buf.length)
          throw new UsageStateCorruptError(this.file, `line at byte ${o} is damaged and is not the last`);
        break;
      }
      if (entry.full) segments.clear();
      for (const seg of entry.segments) segments.set(seg.hourStart, seg);
      for (const h of entry.dropped) segments.delete(h);
      head = entry.head;
      this.gen = entry.gen;
      o = nl + 1;
      good = o;
    }
    if (good < buf.length) truncateSync(this.file, good); // appends continue after the last whole save
    this.fileBytes = good;
    this.synced = true;
    if (!head) return null;
    const listed = head.segments.map((h) => {
      const seg = segments.get(h);
      if (!seg)
        throw new UsageStateCorruptError(
          this.file,
          `the head lists hour ${segmentName(h)} but no line holds it`,
        );
      this.liveBytes.set(h, JSON.stringify(seg).length);
      return seg;
    });
    this.headBytes = JSON.stringify(head).length;
    return { head, segments: listed };
  }

  async save(changes: MeterChanges, all: () => MeterSegment[]): Promise<void> {
    mkdirSync(dirname(this.file), { recursive: true });
    const gen = this.gen + 1;
    const parts = changes.segments.map((s) => [s.hourStart, JSON.stringify(s)] as const);
    const headJson = JSON.stringify(changes.head);
    const sizes = new Map(this.liveBytes);
    for (const [h, json] of parts) sizes.set(h, json.length);
    for (const h of changes.dropped) sizes.delete(h);
    let live = headJson.length;
    for (const n of sizes.values()) live += n;
    const appended = parts.reduce((n, [, json]) => n + json.length + 1, headJson.length + 64);
    try {
      if (!this.synced || this.fileBytes + appended > COMPACT_RATIO * live + COMPACT_FLOOR_BYTES) {
        const segs = all().map((s) => [s.hourStart, JSON.stringify(s)] as const);
        const line = entryLine(gen, true, headJson, segs, []);
        this.rewrite(line);
        this.fileBytes = line.length;
        this.liveBytes.clear();
        for (const [h, json] of segs) this.liveBytes.set(h, json.length);
      } else {
        const line = entryLine(gen, false, headJson, parts, changes.dropped);
        this.append(line);
        this.fileBytes += line.length;
        this.liveBytes.clear();
        for (const [h, n] of sizes) this.liveBytes.set(h, n);
      }
    } catch (err) {
      // What reached the file is unknown (a torn line, perhaps): the next save rewrites it whole.
      this.synced = false;
      throw err;
    }
    this.headBytes = headJson.length;
    this.gen = gen;
    this.synced = true;
  }

  /** Bytes of the changelog and of the live state it holds (compaction keeps the first below a multiple of the second). */
  sizes(): { fileBytes: number; liveBytes: number } {
    let live = this.headBytes;
    for (const n of this.liveBytes.values()) live += n;
    return { fileBytes: this.fileBytes, liveBytes: live };
  }

  private append(line: Buffer): void {
    const fd = openSync(this.file, 'a');
    try {
      writeSync(fd, line);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private rewrite(line: Buffer): void {
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, line);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    // The rename itself is durable once the directory is.
    const dir = openSync(dirname(this.file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  async changed(): Promise<boolean> {
    return false; // The lock makes this process the only writer.
  }

  async close(): Promise<void> {
    if (!this.locked) return;
    this.locked = false;
    try {
      const owner = JSON.parse(readFileSync(this.lockFile, 'utf8')) as { token?: string };
      if (owner.token === this.token) unlinkSync(this.lockFile);
    } catch {
      // Already gone.
    }
  }
}

/** `<crc32 of json, 8 hex> <json>\n`, the JSON assembled from already serialised segments. */
function entryLine(
  gen: number,
  full: boolean,
  headJson: string,
  segments: readonly (readonly [number, string])[],
  dropped: readonly number[],
): Buffer {
  const json = `{"gen":${gen}${full ? ',"full":true' : ''},"head":${headJson},"segments":[${segments.map(([, j]) => j).join(',')}],"dropped":${JSON.stringify(dropped)}}`;
  const body = Buffer.from(json, 'utf8');
  const prefix = Buffer.from(`${crc32(body).toString(16).padStart(8, '0')} `, 'latin1');
  return Buffer.concat([prefix, body, Buffer.from('\n')]);
}

/** null when the line is not a whole, intact entry. */
function parseLine(line: Buffer): ChangelogEntry | null {
  if (line.length < 10 || line[8] !== 0x20) return null;
  const body = line.subarray(9);
  if (line.toString('latin1', 0, 8) !== crc32(body).toString(16).padStart(8, '0')) return null;
  try {
    return JSON.parse(body.toString('utf8')) as ChangelogEntry;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How far back changed() looks for the head when others wrote after it. */
const SCAN_CHUNK = 50;
/**
 * Records per read of a cold start's forward scan. KafkaBus.read starts a consumer per call (a group
 * join, ~0.1–1 s), so the scan reads large chunks; records are typically tens of KB (one hour's
 * segment, gzip), at most maxRecordBytes each.
 */
const READ_CHUNK = 200;
/** Kafka's default max.message.bytes is 1,048,588; the envelope of a part is well below the margin. */
export const MAX_STATE_RECORD_BYTES = 1_000_000;
const ENVELOPE_MARGIN = 2_000;

type StateBus = Pick<Bus, 'produce' | 'read' | 'endOffsets'>;

const encode = (json: string): string => gzipSync(json).toString('base64');
const decode = <T>(data: string): T =>
  JSON.parse(gunzipSync(Buffer.from(data, 'base64')).toString('utf8')) as T;

/**
 * The compacted topic mesh-apim.usage-meter-state.v1, one partition (events/usage-meter-state.ts):
 * per save, the changed hour segments (key `<consumer>/<hour>`, cut into parts under maxRecordBytes),
 * then, once those are acknowledged, the head (key = consumer) listing every segment with the
 * generation to read, then tombstones for the segments that left the state.
 *
 * load() (a cold start) reads the partition forward and keeps, per key, the latest record at or before
 * the last head (`committed`) and those after it (`pending`: a save cut off before its head). A head
 * uses its listed generation from `committed`. Should compaction have removed that record because a
 * cut-off save wrote the key again, the newer version is used: a segment is self-consistent (an
 * hour's counts with the same hour's seen sequences), so the cut-off batch's events in it are
 * duplicates at its redelivery, and the rest count once.
 *
 * changed() compares the last head's eventId with the one this process wrote or read: a second
 * container (a recycled one, the schedule invocation) that wrote in between makes this one reload
 * instead of overwriting newer state with its older memory.
 */
export class TopicStateStore implements MeterStateStore {
  readonly describe: string;
  private lastEventId: string | null = null;
  /** Per segment the generation and parts that the last head lists; null until loaded or saved. */
  private listed: Map<number, { gen: number; parts: number }> | null = null;
  private gen = 0;
  /** Tombstones a save could not write after its head: the next save sends them again. */
  private tombstonesDue: string[] = [];

  constructor(
    private readonly bus: StateBus,
    private readonly topic: string,
    private readonly consumer: string,
    private readonly now: () => Date = () => new Date(),
    private readonly maxRecordBytes = MAX_STATE_RECORD_BYTES,
  ) {
    this.describe = `${topic} (key ${consumer})`;
  }

  private parse(r: InRecord): UsageMeterState {
    try {
      return UsageMeterState.parse(JSON.parse(r.value!.toString('utf8')));
    } catch (err) {
      throw new UsageStateCorruptError(
        this.describe,
        `record at offset ${r.offset}: ${(err as Error).message}`,
      );
    }
  }

  /** The newest head (or whole record) of the consumer, read from the end backwards. */
  private async latest(): Promise<UsageMeterState | null> {
    const ends = await this.bus.endOffsets(this.topic);
    const end = BigInt(ends.find((e) => e.partition === 0)?.offset ?? '0');
    for (let hi = end; hi > 0n; ) {
      const lo = hi > BigInt(SCAN_CHUNK) ? hi - BigInt(SCAN_CHUNK) : 0n;
      const recs = await this.bus.read(this.topic, 0, String(lo), Number(hi - lo));
      for (let i = recs.length - 1; i >= 0; i--) {
        const r = recs[i]!;
        if (r.key?.toString() !== this.consumer || !r.value) continue;
        return this.parse(r);
      }
      // read() starts at the log start when lo is below it: nothing older is left.
      if (recs.length === 0 || BigInt(recs[0]!.offset) > lo) break;
      hi = lo;
    }
    return null;
  }

  async load(): Promise<LoadedState | null> {
    const ends = await this.bus.endOffsets(this.topic);
    const end = BigInt(ends.find((e) => e.partition === 0)?.offset ?? '0');
    const prefix = `${this.consumer}/`;
    let last: UsageMeterState | null = null;
    const committed = new Map<string, UsageMeterStateSegment>();
    const pending = new Map<string, UsageMeterStateSegment | null>();
    let maxGen = 0;
    for (let next = 0n; next < end; ) {
      const recs = await this.bus.read(this.topic, 0, String(next), READ_CHUNK);
      if (recs.length === 0) break;
      for (const r of recs) {
        const key = r.key?.toString();
        if (key === this.consumer) {
          if (!r.value) {
            last = null;
            continue;
          }
          const rec = this.parse(r);
          if ('kind' in rec && rec.kind === 'segment') continue; // not under this key
          last = rec;
          if ('gen' in rec) maxGen = Math.max(maxGen, rec.gen);
          for (const [k, v] of pending) {
            if (v) committed.set(k, v);
            else committed.delete(k);
          }
          pending.clear();
        } else if (key?.startsWith(prefix)) {
          const rec = r.value ? this.parse(r) : null;
          if (rec && !('kind' in rec && rec.kind === 'segment')) continue;
          if (rec) maxGen = Math.max(maxGen, rec.gen);
          pending.set(key, rec);
        }
      }
      next = BigInt(recs[recs.length - 1]!.offset) + 1n;
    }
    this.gen = maxGen;
    this.listed = new Map();
    this.lastEventId = last?.eventId ?? null;
    if (!last) return null;
    if (!('kind' in last)) return { whole: decode<MeterState>(last.state) };
    if (last.kind !== 'head') return null;
    const segments = last.segments.map((s) => {
      const pick = (from: Map<string, UsageMeterStateSegment | null>, gen: number | null) => {
        const first = from.get(segmentKey(this.consumer, s.segment, 0));
        if (!first) return null;
        const want = gen ?? first.gen;
        const parts: string[] = [];
        for (let i = 0; i < first.parts; i++) {
          const p = from.get(segmentKey(this.consumer, s.segment, i));
          if (!p || p.gen !== want || p.parts !== first.parts) return null;
          parts.push(p.data);
        }
        return first.gen === want ? { gen: want, parts: first.parts, data: parts.join('') } : null;
      };
      const got = pick(committed, s.gen) ?? pick(pending, null);
      if (!got)
        throw new UsageStateCorruptError(
          this.describe,
          `the head lists segment ${s.segment} (gen ${s.gen}) but no complete record of it is left`,
        );
      const seg = decode<MeterSegment>(got.data);
      this.listed!.set(seg.hourStart, { gen: got.gen, parts: got.parts });
      return seg;
    });
    return { head: decode<MeterHead>(last.data), segments };
  }

  /** A segment as its part records (the base64 cut so that every record stays under the bound). */
  private segmentRecords(seg: MeterSegment, gen: number, at: Date): UsageMeterStateSegment[] {
    const json = JSON.stringify(seg);
    const data = encode(json);
    const size = Math.max(1, this.maxRecordBytes - ENVELOPE_MARGIN);
    const n = Math.max(1, Math.ceil(data.length / size));
    const segment = segmentName(seg.hourStart);
    return Array.from({ length: n }, (_, part) => ({
      type: 'usage-meter-state' as const,
      schemaVersion: 1 as const,
      eventId: `usage-meter-state:${this.consumer}:${segment}:g${gen}:${part}`,
      occurredAt: at.toISOString(),
      kind: 'segment' as const,
      consumer: this.consumer,
      gen,
      segment,
      part,
      parts: n,
      encoding: 'gzip+base64' as const,
      data: data.slice(part * size, (part + 1) * size),
      bytes: Buffer.byteLength(json),
    }));
  }

  async save(changes: MeterChanges, all: () => MeterSegment[]): Promise<void> {
    let prior = this.listed;
    let changed = changes.segments;
    if (!prior) {
      // Never loaded (or a failed save): write every segment; tombstone what the last head listed beyond.
      const head = await this.latest();
      prior = new Map(
        head && 'kind' in head && head.kind === 'head'
          ? head.segments.map((s) => [Date.parse(`${s.segment}:00:00.000Z`), { gen: s.gen, parts: s.parts }])
          : [],
      );
      if (head && 'gen' in head) this.gen = Math.max(this.gen, head.gen);
      changed = all();
    }
    const gen = this.gen + 1;
    const at = this.now();
    const listed = new Map(prior);
    const segRecords: UsageMeterStateSegment[] = [];
    const tombstones: string[] = [...this.tombstonesDue];
    for (const seg of changed) {
      const recs = this.segmentRecords(seg, gen, at);
      segRecords.push(...recs);
      const before = prior.get(seg.hourStart)?.parts ?? 0;
      for (let i = recs.length; i < before; i++)
        tombstones.push(segmentKey(this.consumer, segmentName(seg.hourStart), i));
      listed.set(seg.hourStart, { gen, parts: recs.length });
    }
    const inHead = new Set(changes.head.segments);
    for (const [h, { parts }] of prior) {
      if (inHead.has(h)) continue;
      listed.delete(h);
      for (let i = 0; i < parts; i++) tombstones.push(segmentKey(this.consumer, segmentName(h), i));
    }
    const headJson = JSON.stringify(changes.head);
    const head: UsageMeterStateHead = {
      type: 'usage-meter-state',
      schemaVersion: 1,
      eventId: `usage-meter-state:${this.consumer}:g${gen}:${at.getTime()}:${randomUUID().slice(0, 8)}`,
      occurredAt: at.toISOString(),
      kind: 'head',
      consumer: this.consumer,
      gen,
      savedAt: at.toISOString(),
      segments: changes.head.segments.map((h) => {
        const l = listed.get(h);
        if (!l)
          throw new UsageStateCorruptError(this.describe, `segment ${segmentName(h)} was never written`);
        return { segment: segmentName(h), gen: l.gen, parts: l.parts };
      }),
      encoding: 'gzip+base64',
      data: encode(headJson),
      bytes: Buffer.byteLength(headJson),
    };
    const topic = { contract: TOPICS.usageMeterState, name: this.topic };
    try {
      // Three calls, each acknowledged before the next: the head never precedes its segments, and a
      // tombstone never precedes the head that stopped listing its segment.
      await publish(this.bus, topic, segRecords);
      await publish(this.bus, topic, [head]);
    } catch (err) {
      this.listed = null;
      this.gen = gen; // a cut-off save may have written this generation: never reuse it
      throw err;
    }
    this.listed = listed;
    this.gen = gen;
    this.lastEventId = head.eventId;
    this.tombstonesDue = [];
    if (tombstones.length === 0) return;
    try {
      await this.bus.produce(
        this.topic,
        tombstones.map((key) => ({ key, value: null })),
      );
    } catch {
      // The state is saved (the head no longer lists these keys); only their removal waits.
      this.tombstonesDue = tombstones;
    }
  }

  async changed(): Promise<boolean> {
    const rec = await this.latest();
    return (rec?.eventId ?? null) !== this.lastEventId;
  }

  async close(): Promise<void> {}
}
