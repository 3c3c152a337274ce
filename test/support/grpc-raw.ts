/**
 * A raw gRPC-over-HTTP/2 client on node:http2 for the transport conformance suite: frames messages
 * by hand so a test can send what a well-behaved client never would (bad prefixes, half-sent
 * streams, wrong content types, unknown encodings) and read the status the server answers.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect, constants } from 'node:http2';
import { envoyPackageDefinition } from '../../adapter/proto.ts';
import { CheckClient, type CheckInput } from './check-client.ts';

export const CHECK = '/envoy.service.auth.v3.Authorization/Check';

type Serializer = { serialize(v: unknown): Buffer; deserialize(b: Buffer): Record<string, unknown> };

function type(name: string): Serializer {
  return envoyPackageDefinition()[name] as unknown as Serializer;
}

/** A serialized envoy.service.auth.v3.CheckRequest as CheckClient builds it. */
export function checkRequestBytes(input: CheckInput): Buffer {
  return type('envoy.service.auth.v3.CheckRequest').serialize(CheckClient.request(input));
}

export function decodeCheckResponseBytes(b: Buffer): Record<string, unknown> {
  return type('envoy.service.auth.v3.CheckResponse').deserialize(b);
}

/** 1-byte flag + 4-byte length + payload; `declared` overrides the length written. */
export function grpcFrame(payload: Buffer, opts: { compressed?: boolean; declared?: number } = {}): Buffer {
  const head = Buffer.alloc(5);
  head[0] = opts.compressed ? 1 : 0;
  head.writeUInt32BE(opts.declared ?? payload.length, 1);
  return Buffer.concat([head, payload]);
}

export interface RawResult {
  httpStatus: number;
  /** grpc-status from trailers (or a trailers-only response); null when none came. */
  grpcStatus: number | null;
  grpcMessage: string;
  headers: Record<string, unknown>;
  /** Response messages (payloads without the prefix). */
  messages: Buffer[];
  /** The stream was reset by the server (RST_STREAM) or the connection closed, before trailers. */
  reset: boolean;
}

/** Splits a response body into gRPC messages. */
function deframe(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  while (p + 5 <= body.length) {
    const len = body.readUInt32BE(p + 1);
    out.push(body.subarray(p + 5, p + 5 + len));
    p += 5 + len;
  }
  return out;
}

export function session(port: number, settings: Record<string, number> = {}): ClientHttp2Session {
  const s = connect(`http://127.0.0.1:${port}`, { settings });
  s.on('error', () => {});
  return s;
}

export interface RawCallOptions {
  path?: string;
  headers?: Record<string, string>;
  /** Body chunks written in order; the stream is ended after them unless `end: false`. */
  body?: Buffer[];
  end?: boolean;
}

/** Opens one stream and collects the answer (resolves on close). */
export function rawCall(
  s: ClientHttp2Session,
  o: RawCallOptions = {},
): { stream: ClientHttp2Stream; result: Promise<RawResult> } {
  const stream = s.request({
    ':method': 'POST',
    ':path': o.path ?? CHECK,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...o.headers,
  });
  const result = new Promise<RawResult>((resolve) => {
    const r: RawResult = {
      httpStatus: 0,
      grpcStatus: null,
      grpcMessage: '',
      headers: {},
      messages: [],
      reset: false,
    };
    const chunks: Buffer[] = [];
    const status = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) {
        r.grpcStatus = Number(h['grpc-status']);
        r.grpcMessage = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    stream.on('response', (h) => {
      r.httpStatus = Number(h[':status']);
      r.headers = h;
      status(h);
    });
    stream.on('trailers', (h) => status(h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('close', () => {
      r.reset = r.grpcStatus === null && stream.rstCode !== constants.NGHTTP2_NO_ERROR;
      r.messages = deframe(Buffer.concat(chunks));
      resolve(r);
    });
  });
  for (const b of o.body ?? []) stream.write(b);
  if (o.end !== false) stream.end();
  return { stream, result };
}

/** HTTP/2 frames by hand, for what node:http2's client will not send (a bare RST_STREAM mid-request). */
export const H2 = {
  PREFACE: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(streamId, 5);
    return Buffer.concat([head, payload]);
  },
  settings(): Buffer {
    return H2.frame(4, 0, 0);
  },
  /** HEADERS (END_HEADERS) with every field a literal without indexing, no Huffman coding. */
  headers(streamId: number, fields: [string, string][], endStream = false): Buffer {
    const str = (s: string) => {
      const b = Buffer.from(s);
      if (b.length >= 127) throw new Error('header too long for this encoder');
      return Buffer.concat([Buffer.from([b.length]), b]);
    };
    const block = Buffer.concat(fields.map(([k, v]) => Buffer.concat([Buffer.from([0]), str(k), str(v)])));
    return H2.frame(1, 0x4 | (endStream ? 0x1 : 0), streamId, block);
  },
  data(streamId: number, payload: Buffer, endStream = false): Buffer {
    return H2.frame(0, endStream ? 1 : 0, streamId, payload);
  },
  rst(streamId: number, code: number): Buffer {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(code);
    return H2.frame(3, 0, streamId, p);
  },
};

export const GRPC_REQUEST_HEADERS = (path = CHECK): [string, string][] => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', path],
  [':authority', 'adapter'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
];
