/**
 * gRPC over HTTP/2 framing (Length-Prefixed-Message: 1-byte compressed flag, 4-byte big-endian
 * length, payload), status codes, grpc-timeout and grpc-message encoding, as the gRPC HTTP/2
 * protocol spec (PROTOCOL-HTTP2.md) defines them.
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import { gunzipSync, inflateSync } from 'node:zlib';

export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** A call ends with this status (and a transport error metric under `reason`). */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'GrpcError';
  }
}

/** Encodings a request may use; responses are never compressed. */
export const ACCEPT_ENCODING = 'identity,deflate,gzip';

export function isSupportedEncoding(e: string | undefined): boolean {
  return e === undefined || e === 'identity' || e === 'gzip' || e === 'deflate';
}

/** Decompresses a message flagged compressed, bounded by `max` bytes of output. */
export function decompress(encoding: string | undefined, body: Buffer, max: number): Buffer {
  if (encoding !== 'gzip' && encoding !== 'deflate') {
    throw new GrpcError(
      Status.INTERNAL,
      'compressed flag set but grpc-encoding is identity',
      'bad-compression',
    );
  }
  try {
    return encoding === 'gzip'
      ? gunzipSync(body, { maxOutputLength: max })
      : inflateSync(body, { maxOutputLength: max });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new GrpcError(
        Status.RESOURCE_EXHAUSTED,
        `decompressed message larger than max (${max})`,
        'message-too-large',
      );
    }
    throw new GrpcError(
      Status.INTERNAL,
      `message could not be decompressed (${encoding})`,
      'bad-compression',
    );
  }
}

const TIMEOUT_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** grpc-timeout (`1-8 digits` + H/M/S/m/u/n) in ms; null when absent; throws when malformed. */
export function parseTimeout(value: string | string[] | undefined): number | null {
  if (value === undefined) return null;
  const v = Array.isArray(value) ? value[0]! : value;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) throw new GrpcError(Status.INTERNAL, `malformed grpc-timeout ${JSON.stringify(v)}`, 'bad-timeout');
  return Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]!;
}

/** grpc-message value: percent-encodes what is not printable ASCII, and '%'. */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(byte);
  }
  return out;
}

/**
 * Splits a stream of DATA chunks into gRPC messages without copying the common case (a whole message
 * in one chunk). A declared length over `max` fails at once, before the payload is buffered.
 */
export class Deframer {
  private header = Buffer.alloc(5);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  private compressed = false;

  constructor(
    private readonly max: number,
    private readonly onMessage: (compressed: boolean, body: Buffer) => void,
  ) {}

  /** Throws GrpcError on a bad prefix or an oversized message. */
  push(chunk: Buffer): void {
    let p = 0;
    const n = chunk.length;
    while (p < n) {
      if (this.body === null) {
        let len: number;
        if (this.headerFill === 0 && n - p >= 5) {
          this.compressed = this.flag(chunk[p]!);
          len = chunk.readUInt32BE(p + 1);
          p += 5;
        } else {
          const take = Math.min(5 - this.headerFill, n - p);
          chunk.copy(this.header, this.headerFill, p, p + take);
          this.headerFill += take;
          p += take;
          if (this.headerFill < 5) return;
          this.headerFill = 0;
          this.compressed = this.flag(this.header[0]!);
          len = this.header.readUInt32BE(1);
        }
        if (len > this.max) {
          throw new GrpcError(
            Status.RESOURCE_EXHAUSTED,
            `received message larger than max (${len} vs. ${this.max})`,
            'message-too-large',
          );
        }
        if (n - p >= len) {
          this.onMessage(this.compressed, chunk.subarray(p, p + len));
          p += len;
          continue;
        }
        this.body = Buffer.allocUnsafe(len);
        this.bodyFill = 0;
      }
      const take = Math.min(this.body.length - this.bodyFill, n - p);
      chunk.copy(this.body, this.bodyFill, p, p + take);
      this.bodyFill += take;
      p += take;
      if (this.bodyFill === this.body.length) {
        const body = this.body;
        this.body = null;
        this.onMessage(this.compressed, body);
      }
    }
  }

  /** True when a message is partly received (the stream ended mid-message). */
  get partial(): boolean {
    return this.headerFill > 0 || this.body !== null;
  }

  private flag(b: number): boolean {
    if (b > 1) throw new GrpcError(Status.INTERNAL, `invalid compressed flag ${b}`, 'bad-frame');
    return b === 1;
  }
}

/** Frames a serialized message (uncompressed). */
export function frame(message: Buffer | Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export const RESPONSE_HEADERS = {
  [constants.HTTP2_HEADER_STATUS]: 200,
  [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
  'grpc-accept-encoding': ACCEPT_ENCODING,
};

const OK_TRAILERS = { 'grpc-status': '0' };

/** Headers, one message, trailers OK. False when the stream is already gone. */
export function sendUnary(stream: ServerHttp2Stream, framed: Buffer): boolean {
  // closed: the peer reset it (RST_STREAM) and 'aborted' has not been emitted yet.
  if (stream.destroyed || stream.closed || stream.headersSent) return false;
  try {
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  } catch {
    return false; // the stream went away in between: nothing to answer
  }
  stream.once('wantTrailers', () => {
    if (!stream.closed) stream.sendTrailers(OK_TRAILERS);
  });
  // No RST_STREAM after a message: nghttp2 may send it ahead of DATA still queued. A client still
  // sending after the trailers is read and discarded until it ends its side.
  stream.end(framed);
  if (!stream.readableEnded) stream.resume();
  return true;
}

/**
 * A trailers-only answer is complete while the client still sends: reset (NO_ERROR) once it is out.
 * Safe here only: the answer is one HEADERS frame, queued before the RST_STREAM.
 */
function stopReading(stream: ServerHttp2Stream): void {
  stream.once('finish', () => {
    if (!stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
  });
  stream.resume();
}

/**
 * Ends the call with a status: trailers-only when no headers were sent yet, trailers otherwise.
 * The request side is reset (NO_ERROR) afterwards when the client is still sending: nothing more
 * of it is read.
 */
export function sendStatus(stream: ServerHttp2Stream, code: number, message: string): boolean {
  if (stream.destroyed || stream.closed) return false;
  const status = { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) };
  try {
    if (!stream.headersSent) {
      stream.respond({ ...RESPONSE_HEADERS, ...status }, { endStream: true });
      if (!stream.readableEnded) stopReading(stream);
    } else if (!stream.writableEnded) {
      stream.once('wantTrailers', () => {
        if (!stream.closed) stream.sendTrailers(status);
      });
      stream.end();
      if (!stream.readableEnded) stream.resume();
    } else return false;
  } catch {
    return false; // the stream went away in between: nothing to answer
  }
  return true;
}
