/**
 * The protobuf wire format, as much of it as the Check codec needs: a bounds-checked reader that
 * walks fields and skips what it does not read, and varint helpers for the writer. Hand-written
 * rather than protobufjs' Reader/Writer because the check path decodes a dozen fields out of a
 * ~2 KB message and allocates nothing else (docs/decisions.md, "http2 transport").
 */

export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_I32 = 5;

/** The message is not valid protobuf (truncated, bad varint, group wire types). */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

export function tagOf(field: number, wireType: number): number {
  return field * 8 + wireType;
}

interface FastBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
}

/** Names read by Reader.name(), by a hash of their bytes. */
export class NameCache {
  readonly map = new Map<number, string>();
  constructor(readonly max: number) {}
}

export class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }

  /** A varint up to 2^32 - 1 (tags, lengths, enums); longer varints are an error here. */
  uint32(): number {
    const b = this.buf;
    let p = this.pos;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      if (p >= this.end) throw new WireError('truncated varint');
      const byte = b[p++]!;
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) {
        this.pos = p;
        return v;
      }
      mul *= 128;
    }
    throw new WireError('varint too long');
  }

  /** End offset of the length-delimited field starting at pos (pos moves past the length). */
  lenEnd(): number {
    const len = this.uint32();
    const end = this.pos + len;
    if (end > this.end) throw new WireError('length-delimited field overruns its message');
    return end;
  }

  string(): string {
    const end = this.lenEnd();
    // Buffer#utf8Slice: what toString('utf8', start, end) calls after its argument checks (the
    // bounds are checked above); measurably cheaper for the ~40 strings of a CheckRequest.
    const s = (this.buf as FastBuffer).utf8Slice(this.pos, end);
    this.pos = end;
    return s;
  }

  /**
   * string() for a field whose values repeat (header names): an ASCII value up to 64 bytes comes
   * from `names` when it holds the same bytes, so the same (internalised) string object is used
   * call after call and no new string is made; others are read as string() reads them.
   */
  name(names: NameCache): string {
    const end = this.lenEnd();
    const b = this.buf;
    const start = this.pos;
    this.pos = end;
    const len = end - start;
    if (len > 64) return (b as FastBuffer).utf8Slice(start, end);
    let h = len;
    for (let i = start; i < end; i++) {
      const c = b[i]!;
      if (c >= 0x80) return (b as FastBuffer).utf8Slice(start, end);
      h = (Math.imul(h, 31) + c) | 0;
    }
    const hit = names.map.get(h);
    if (hit !== undefined && hit.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (hit.charCodeAt(i) !== b[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return hit;
    }
    const s = (b as FastBuffer).utf8Slice(start, end);
    // A hash collision keeps the first name; the bound is a guard against a flood of odd names.
    if (hit === undefined) {
      if (names.map.size >= names.max) names.map.clear();
      names.map.set(h, s);
    }
    return s;
  }

  bytes(): Buffer {
    const end = this.lenEnd();
    const s = this.buf.subarray(this.pos, end);
    this.pos = end;
    return s;
  }

  skip(tag: number): void {
    switch (tag & 7) {
      case WT_VARINT:
        for (;;) {
          if (this.pos >= this.end) throw new WireError('truncated varint');
          if (this.buf[this.pos++]! < 0x80) return;
        }
      case WT_I64:
        this.pos += 8;
        break;
      case WT_LEN:
        this.pos = this.lenEnd();
        return;
      case WT_I32:
        this.pos += 4;
        break;
      default:
        throw new WireError(`unsupported wire type ${tag & 7}`);
    }
    if (this.pos > this.end) throw new WireError('truncated fixed-width field');
  }
}

export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** Writes a non-negative varint < 2^35 at `pos`; returns the new position. */
export function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/** tag + length prefix of a length-delimited field holding `len` bytes. */
export function lenPrefix(field: number, len: number): Buffer {
  const tag = tagOf(field, WT_LEN);
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(len));
  writeVarint(out, writeVarint(out, 0, tag), len);
  return out;
}

/** A whole length-delimited field: tag, length, payload. */
export function lenField(field: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([lenPrefix(field, body.length), body]);
}

/** A whole varint field: tag, value. */
export function varintField(field: number, v: number): Buffer {
  const tag = tagOf(field, WT_VARINT);
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(v));
  writeVarint(out, writeVarint(out, 0, tag), v);
  return out;
}
