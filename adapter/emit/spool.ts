/**
 * Bounded on-disk spool for events the bus could not take (down or slow). Append-only segment files
 * `<dir>/<seq>.seg` of length-prefixed, checksummed records, fsynced per appended batch; read back in
 * order from a cursor (`<dir>/cursor.json`) that advances only after the bus accepted what was read.
 *
 * Record: u32 payload length | u32 crc32(payload) | payload, all little-endian.
 * Payload: u8 format (1) | f64 enqueue time (ms) | u16 topic length | topic | i32 key length (-1 =
 * null) | key | value (rest).
 *
 * Crash safety: a torn or corrupt tail (power cut, SIGKILL mid-write) is detected by the length and
 * checksum and truncated on open; everything before it is kept. The cursor is written after each
 * delivered batch without fsync: losing it re-delivers a batch (consumers dedupe on eventId), never
 * skips one. Only the single-threaded emitter loop calls into a Spool, so there is no locking.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { type FileHandle, open, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../../common/log.ts';

export interface SpoolRecord {
  /** Wire topic name. */
  topic: string;
  key: string | null;
  value: string;
  /** When the event was handed to the emitter (ms since epoch): the lag metric survives spooling. */
  enqueuedAt: number;
}

export interface SpoolPosition {
  seq: number;
  offset: number;
  /** Records consumed in this segment (pending-count bookkeeping). */
  records: number;
}

export interface SpoolOptions {
  maxBytes: number;
  segmentBytes: number;
  logger: Logger;
  /** Called when records are lost: the oldest segment was dropped (full) or a segment was corrupt. */
  onDrop(count: number, reason: 'spool-full' | 'corrupt'): void;
}

interface Segment {
  seq: number;
  bytes: number;
  records: number;
}

const HEADER = 8;
const FORMAT = 1;
const MIN_PAYLOAD = 1 + 8 + 2 + 4;
const MAX_PAYLOAD = 64 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;

// Wire topic names are few: their bytes are encoded once.
const topicBytes = new Map<string, Buffer>();
function topicOf(name: string): Buffer {
  let b = topicBytes.get(name);
  if (b === undefined) {
    b = Buffer.from(name);
    if (topicBytes.size < 256) topicBytes.set(name, b);
  }
  return b;
}

/** The encoded size of a record (header included). */
export function encodedSize(r: SpoolRecord): number {
  const key = r.key === null ? 0 : Buffer.byteLength(r.key);
  return HEADER + MIN_PAYLOAD + topicOf(r.topic).length + key + Buffer.byteLength(r.value);
}

/**
 * An upper bound of encodedSize() without measuring the strings (UTF-8 takes at most 3 bytes per
 * UTF-16 unit): enough room to encode into, checked in O(1).
 */
export function maxEncodedSize(r: SpoolRecord): number {
  return HEADER + MIN_PAYLOAD + 3 * (r.topic.length + (r.key?.length ?? 0) + r.value.length);
}

/**
 * Encodes a record into `buf` at `at` (room for encodedSize(r) bytes is the caller's); returns the
 * offset after it. Strings are written in place: no intermediate Buffers.
 */
export function encodeRecordInto(r: SpoolRecord, buf: Buffer, at: number): number {
  const topic = topicOf(r.topic);
  let o = at + HEADER;
  o = buf.writeUInt8(FORMAT, o);
  o = buf.writeDoubleLE(r.enqueuedAt, o);
  o = buf.writeUInt16LE(topic.length, o);
  o += topic.copy(buf, o);
  if (r.key === null) o = buf.writeInt32LE(-1, o);
  else {
    const n = buf.write(r.key, o + 4, 'utf8');
    buf.writeInt32LE(n, o);
    o += 4 + n;
  }
  o += buf.write(r.value, o, 'utf8');
  buf.writeUInt32LE(o - at - HEADER, at);
  buf.writeUInt32LE(crc32(buf.subarray(at + HEADER, o)), at + 4);
  return o;
}

export function encodeRecord(r: SpoolRecord): Buffer {
  const buf = Buffer.allocUnsafe(encodedSize(r));
  encodeRecordInto(r, buf, 0);
  return buf;
}

export interface Decoded {
  records: SpoolRecord[];
  /** Offset (relative to the buffer) after the last complete, valid record. */
  end: number;
  /** 'ok' = stopped at the end of the data; 'partial' = a record continues past the buffer; 'corrupt'. */
  stop: 'ok' | 'partial' | 'corrupt';
  /** Size of the record that continues past the buffer (stop = 'partial'). */
  needed: number;
}

export function decodeRecords(buf: Buffer, max = Number.POSITIVE_INFINITY): Decoded {
  const records: SpoolRecord[] = [];
  let o = 0;
  while (records.length < max) {
    if (o === buf.length) return { records, end: o, stop: 'ok', needed: 0 };
    if (o + HEADER > buf.length) return { records, end: o, stop: 'partial', needed: HEADER };
    const length = buf.readUInt32LE(o);
    if (length < MIN_PAYLOAD || length > MAX_PAYLOAD) return { records, end: o, stop: 'corrupt', needed: 0 };
    if (o + HEADER + length > buf.length)
      return { records, end: o, stop: 'partial', needed: HEADER + length };
    const payload = buf.subarray(o + HEADER, o + HEADER + length);
    if (crc32(payload) !== buf.readUInt32LE(o + 4) || payload[0] !== FORMAT)
      return { records, end: o, stop: 'corrupt', needed: 0 };
    let p = 1;
    const enqueuedAt = payload.readDoubleLE(p);
    p += 8;
    const topicLength = payload.readUInt16LE(p);
    p += 2;
    const topic = payload.toString('utf8', p, p + topicLength);
    p += topicLength;
    const keyLength = payload.readInt32LE(p);
    p += 4;
    let key: string | null = null;
    if (keyLength >= 0) {
      key = payload.toString('utf8', p, p + keyLength);
      p += keyLength;
    }
    records.push({ topic, key, value: payload.toString('utf8', p), enqueuedAt });
    o += HEADER + length;
  }
  return { records, end: o, stop: 'ok', needed: 0 };
}

const segName = (seq: number) => `${String(seq).padStart(16, '0')}.seg`;

export class Spool {
  private segments: Segment[] = [];
  private cursor: SpoolPosition = { seq: 0, offset: 0, records: 0 };
  private nextSeq = 1;
  private active: { seq: number; fh: FileHandle } | null = null;
  private cache: { seq: number; start: number; buf: Buffer } | null = null;
  private readonly cursorPath: string;

  constructor(
    readonly dir: string,
    private readonly options: SpoolOptions,
  ) {
    this.cursorPath = join(dir, 'cursor.json');
  }

  /** Loads what a previous process left: verifies every segment, truncates a torn tail. */
  async open(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const seqs = readdirSync(this.dir)
      .filter((f) => /^\d{16}\.seg$/.test(f))
      .map((f) => Number(f.slice(0, 16)))
      .sort((a, b) => a - b);
    for (const seq of seqs) {
      const path = join(this.dir, segName(seq));
      const buf = await readFile(path);
      const d = decodeRecords(buf);
      if (d.end < buf.length) {
        // Torn write at the tail (crash mid-append) or damage: keep what is verifiable.
        this.options.logger.warn(
          { segment: path, validBytes: d.end, fileBytes: buf.length, stop: d.stop },
          'spool segment has an invalid tail; truncating',
        );
        if (d.stop === 'corrupt') this.options.onDrop(1, 'corrupt');
        await truncate(path, d.end);
      }
      this.segments.push({ seq, bytes: d.end, records: d.records.length });
      this.nextSeq = seq + 1;
    }
    try {
      const c = JSON.parse(await readFile(this.cursorPath, 'utf8')) as SpoolPosition;
      if (Number.isInteger(c.seq) && Number.isInteger(c.offset) && Number.isInteger(c.records))
        this.cursor = c;
    } catch {
      // no cursor yet: start at the first segment
    }
    const first = this.segments[0];
    if (!first) this.cursor = { seq: this.nextSeq, offset: 0, records: 0 };
    else if (!this.segments.some((s) => s.seq === this.cursor.seq) || this.cursor.seq < first.seq) {
      this.cursor = { seq: first.seq, offset: 0, records: 0 };
    } else {
      const seg = this.segments.find((s) => s.seq === this.cursor.seq)!;
      if (this.cursor.offset > seg.bytes)
        this.cursor = { seq: seg.seq, offset: seg.bytes, records: seg.records };
    }
    this.nextSeq = Math.max(this.nextSeq, this.cursor.seq + 1);
  }

  /** Bytes on disk (including consumed records of the segment being drained). */
  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  /** Records not yet delivered. */
  get pending(): number {
    let n = 0;
    for (const s of this.segments) {
      if (s.seq > this.cursor.seq) n += s.records;
      else if (s.seq === this.cursor.seq) n += s.records - this.cursor.records;
    }
    return n;
  }

  isEmpty(): boolean {
    return this.pending === 0;
  }

  /** Appends a batch durably (fsync). Drops the oldest segments first if the bound would be exceeded. */
  async append(records: SpoolRecord[]): Promise<void> {
    if (records.length === 0) return;
    let size = 0;
    for (const r of records) size += encodedSize(r);
    const buf = Buffer.allocUnsafe(size);
    let o = 0;
    for (const r of records) o = encodeRecordInto(r, buf, o);
    let seg = this.segments.at(-1);
    if (!this.active || !seg || seg.seq !== this.active.seq || seg.bytes >= this.options.segmentBytes) {
      await this.roll();
      seg = this.segments.at(-1)!;
    }
    while (this.bytes + buf.length > this.options.maxBytes && this.segments.length > 1) {
      await this.dropOldest();
    }
    const fh = this.active!.fh;
    try {
      await fh.write(buf, 0, buf.length, seg.bytes);
      await fh.datasync();
    } catch (err) {
      // Disk full / I/O error: cut what may have been written, continue in a fresh segment next time.
      await fh.truncate(seg.bytes).catch(() => {});
      await fh.close().catch(() => {});
      this.active = null;
      throw err;
    }
    seg.bytes += buf.length;
    seg.records += records.length;
  }

  /** Up to `max` records from the cursor, and the position after them (pass it to commit()). */
  async read(max: number): Promise<{ records: SpoolRecord[]; next: SpoolPosition }> {
    for (;;) {
      const seg = this.segments.find((s) => s.seq === this.cursor.seq);
      if (!seg) return { records: [], next: this.cursor };
      if (this.cursor.offset >= seg.bytes) {
        if (seg === this.segments.at(-1)) return { records: [], next: this.cursor };
        await this.removeSegment(seg);
        continue;
      }
      const d = await this.decodeAt(seg, max);
      if (d.records.length === 0) {
        // Unreadable in the middle of a segment (damaged on disk): skip the rest of that segment.
        this.options.logger.error(
          { seq: seg.seq, offset: this.cursor.offset },
          'spool record unreadable; skipping segment rest',
        );
        this.options.onDrop(seg.records - this.cursor.records, 'corrupt');
        this.cursor = { seq: seg.seq, offset: seg.bytes, records: seg.records };
        continue;
      }
      return {
        records: d.records,
        next: {
          seq: seg.seq,
          offset: this.cursor.offset + d.end,
          records: this.cursor.records + d.records.length,
        },
      };
    }
  }

  private async decodeAt(seg: Segment, max: number): Promise<Decoded> {
    const offset = this.cursor.offset;
    const c = this.cache;
    if (c && c.seq === seg.seq && offset >= c.start && offset < c.start + c.buf.length) {
      const d = decodeRecords(c.buf.subarray(offset - c.start), max);
      if (d.records.length > 0) return d;
    }
    let size = Math.min(READ_CHUNK, seg.bytes - offset);
    for (;;) {
      const buf = Buffer.allocUnsafe(size);
      const fh = await open(join(this.dir, segName(seg.seq)), 'r');
      try {
        await fh.read(buf, 0, size, offset);
      } finally {
        await fh.close();
      }
      this.cache = { seq: seg.seq, start: offset, buf };
      const d = decodeRecords(buf, max);
      if (d.records.length > 0 || d.stop !== 'partial' || d.needed <= size || offset + d.needed > seg.bytes)
        return d;
      size = d.needed;
    }
  }

  /** Marks everything before `next` delivered; fully delivered segments are deleted. */
  async commit(next: SpoolPosition): Promise<void> {
    this.cursor = next;
    const seg = this.segments.find((s) => s.seq === next.seq);
    if (seg && next.offset >= seg.bytes) await this.removeSegment(seg);
    const tmp = `${this.cursorPath}.tmp`;
    await writeFile(tmp, JSON.stringify(this.cursor));
    await rename(tmp, this.cursorPath);
  }

  async close(): Promise<void> {
    await this.active?.fh.close();
    this.active = null;
  }

  private async roll(): Promise<void> {
    await this.active?.fh.close();
    const seq = this.nextSeq++;
    const fh = await open(join(this.dir, segName(seq)), 'a+');
    this.active = { seq, fh };
    this.segments.push({ seq, bytes: 0, records: 0 });
    if (this.pending === 0 && this.cursor.seq < seq) this.cursor = { seq, offset: 0, records: 0 };
  }

  /** Removes a consumed segment (the cursor moves to the next one). */
  private async removeSegment(seg: Segment): Promise<void> {
    if (this.active?.seq === seg.seq) {
      await this.active.fh.close();
      this.active = null;
    }
    await rm(join(this.dir, segName(seg.seq)), { force: true });
    this.segments = this.segments.filter((s) => s !== seg);
    if (this.cache?.seq === seg.seq) this.cache = null;
    const next = this.segments.find((s) => s.seq > seg.seq);
    if (this.cursor.seq <= seg.seq) this.cursor = { seq: next?.seq ?? this.nextSeq, offset: 0, records: 0 };
  }

  private async dropOldest(): Promise<void> {
    const seg = this.segments[0]!;
    const consumed =
      seg.seq < this.cursor.seq ? seg.records : seg.seq === this.cursor.seq ? this.cursor.records : 0;
    const lost = seg.records - consumed;
    this.options.logger.warn(
      { seq: seg.seq, bytes: seg.bytes, events: lost, maxBytes: this.options.maxBytes },
      'spool full: dropping the oldest segment',
    );
    await this.removeSegment(seg);
    if (lost > 0) this.options.onDrop(lost, 'spool-full');
  }
}
