/**
 * envoy.service.auth.v3 CheckRequest -> the ProtoCheckRequest shape translate.ts reads (a wire walk
 * that decodes only those fields and skips the rest: body, TLS session, metadata, ...), and
 * Decision -> CheckResponse bytes, framed for gRPC, from cached pre-encoded pieces: every header
 * option (identity headers of an application, x-ratelimit-*), every removed header/query name, and
 * whole deny responses (per WSO2 code, reason and headers). The grpc-js transport maps the same
 * Decision with response.ts; a test keeps the two byte streams equal after decoding.
 */
import { REQUEST_CONTEXT_METADATA_KEY, type RequestContext } from '../../../events/request-attributes.ts';
import type { Decision } from '../../domain.ts';
import { requestContextJson } from '../../emit/events.ts';
import type { ProtoCheckRequest } from '../../translate.ts';
import { wso2Body } from '../../wso2-errors.ts';
import { type CheckSchema, checkSchema } from './schema.ts';
import {
  lenField,
  lenPrefix,
  NameCache,
  Reader,
  tagOf,
  varintField,
  varintSize,
  WT_LEN,
  WT_VARINT,
  writeVarint,
} from './wire.ts';

/** google.rpc.Code values Envoy reads from CheckResponse.status (as response.ts). */
const RPC_OF: Record<Exclude<Decision['kind'], 'allow'>, number> = {
  unauthenticated: 16,
  forbidden: 7,
  'not-found': 5,
  'rate-limited': 8,
  unavailable: 14,
};

type ProtoAttributes = NonNullable<ProtoCheckRequest['attributes']>;
type ProtoHttp = NonNullable<NonNullable<ProtoAttributes['request']>['http']>;
type HeaderEntry = { key?: string; value?: string; raw_value?: Buffer | Uint8Array };

/**
 * Pre-encoded field pieces keyed by (field, name, value) in nested maps: the strings come from the
 * snapshot and decide() (the same string objects call after call, their hashes cached), so no key
 * is concatenated per call. Bounded: a map that grows past `max` entries is cleared.
 */
class PieceCache {
  private readonly byField = new Map<number, Map<string, Map<string, Buffer>>>();
  private size = 0;
  constructor(private readonly max: number) {}
  get(field: number, name: string, value: string, make: () => Buffer): Buffer {
    let names = this.byField.get(field);
    if (!names) {
      names = new Map();
      this.byField.set(field, names);
    }
    let values = names.get(name);
    if (!values) {
      values = new Map();
      names.set(name, values);
    }
    let b = values.get(value);
    if (b === undefined) {
      if (this.size >= this.max) {
        this.byField.clear();
        this.size = 0;
        return make();
      }
      b = make();
      values.set(value, b);
      this.size++;
    }
    return b;
  }
}

/** Whole deny responses by their (string) key. */
class DenyCache {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly max: number) {}
  get(key: string, make: () => Buffer): Buffer {
    let b = this.map.get(key);
    if (b === undefined) {
      if (this.map.size >= this.max) this.map.clear();
      b = make();
      this.map.set(key, b);
    }
    return b;
  }
}

export class CheckCodec {
  private readonly s: CheckSchema;
  private readonly t: {
    attributes: number;
    source: number;
    request: number;
    contextExtensions: number;
    peerAddress: number;
    principal: number;
    peerCertificate: number;
    socketAddress: number;
    sockAddr: number;
    http: number;
    hr: Record<keyof CheckSchema['HttpRequest'], number>;
    headerMapHeaders: number;
    hvKey: number;
    hvValue: number;
    hvRaw: number;
  };
  private readonly pieces = new PieceCache(16_384);
  private readonly denies = new DenyCache(4096);
  /** Header names and context extension keys: a small set, the same strings call after call. */
  private readonly names = new NameCache(4096);
  private readonly okStatus: Buffer;
  private readonly metaKey: Buffer;

  constructor(schema: CheckSchema = checkSchema()) {
    this.s = schema;
    const L = (n: number) => tagOf(n, WT_LEN);
    const hr = {} as Record<keyof CheckSchema['HttpRequest'], number>;
    for (const [k, n] of Object.entries(schema.HttpRequest)) hr[k as keyof typeof hr] = L(n);
    this.t = {
      attributes: L(schema.CheckRequest.attributes),
      source: L(schema.AttributeContext.source),
      request: L(schema.AttributeContext.request),
      contextExtensions: L(schema.AttributeContext.context_extensions),
      peerAddress: L(schema.Peer.address),
      principal: L(schema.Peer.principal),
      peerCertificate: L(schema.Peer.certificate),
      socketAddress: L(schema.Address.socket_address),
      sockAddr: L(schema.SocketAddress.address),
      http: L(schema.Request.http),
      hr,
      headerMapHeaders: L(schema.HeaderMap.headers),
      hvKey: L(schema.HeaderValue.key),
      hvValue: L(schema.HeaderValue.value),
      hvRaw: L(schema.HeaderValue.raw_value),
    };
    this.okStatus = lenField(schema.CheckResponse.status, varintField(schema.Status.code, 0));
    // Map entries are messages with key = 1, value = 2 (protobuf map encoding).
    this.metaKey = lenField(1, REQUEST_CONTEXT_METADATA_KEY);
  }

  // ------------------------------------------------------------------ decode

  /** Decodes a CheckRequest; throws WireError on malformed protobuf. */
  decode(buf: Buffer): ProtoCheckRequest {
    const r = new Reader(buf);
    let attributes: ProtoAttributes | null = null;
    while (r.pos < r.end) {
      const tag = r.uint32();
      if (tag === this.t.attributes) attributes = this.attributes(r, r.lenEnd(), attributes);
      else r.skip(tag);
    }
    return { attributes };
  }

  private attributes(r: Reader, end: number, into: ProtoAttributes | null): ProtoAttributes {
    // A repeated occurrence of a message field merges into the first (protobuf semantics).
    const a: ProtoAttributes = into ?? { source: null, request: null, context_extensions: {} };
    const outer = r.end;
    r.end = end;
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag === this.t.request) {
        const e = r.lenEnd();
        const saved = r.end;
        r.end = e;
        while (r.pos < e) {
          const t = r.uint32();
          if (t === this.t.http) a.request = { http: this.http(r, r.lenEnd(), a.request?.http ?? null) };
          else r.skip(t);
        }
        r.end = saved;
      } else if (tag === this.t.source) a.source = this.peer(r, r.lenEnd());
      else if (tag === this.t.contextExtensions) this.mapEntry(r, r.lenEnd(), a.context_extensions!);
      else r.skip(tag);
    }
    r.end = outer;
    return a;
  }

  private peer(r: Reader, end: number): NonNullable<ProtoAttributes['source']> {
    const saved = r.end;
    r.end = end;
    let address: string | undefined;
    let principal = '';
    let certificate = '';
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag === this.t.principal) principal = r.string();
      else if (tag === this.t.peerCertificate) certificate = r.string();
      else if (tag === this.t.peerAddress) {
        const ae = r.lenEnd();
        r.end = ae;
        while (r.pos < ae) {
          const t = r.uint32();
          if (t === this.t.socketAddress) {
            const se = r.lenEnd();
            r.end = se;
            while (r.pos < se) {
              const u = r.uint32();
              if (u === this.t.sockAddr) address = r.string();
              else r.skip(u);
            }
            r.end = ae;
          } else r.skip(t);
        }
        r.end = end;
      } else r.skip(tag);
    }
    r.end = saved;
    const peer: NonNullable<ProtoAttributes['source']> = {
      address: address !== undefined ? { socket_address: { address } } : null,
      principal,
    };
    // Only when Envoy sent one (include_peer_certificate): translate reads absent as none.
    if (certificate) peer.certificate = certificate;
    return peer;
  }

  private mapEntry(r: Reader, end: number, into: Record<string, string>): void {
    const saved = r.end;
    r.end = end;
    let key = '';
    let value = '';
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag === 10) key = r.name(this.names);
      else if (tag === 18) value = r.string();
      else r.skip(tag);
    }
    r.end = saved;
    into[key] = value;
  }

  private http(r: Reader, end: number, into: ProtoHttp | null): ProtoHttp {
    const h: ProtoHttp = into ?? {
      id: '',
      method: '',
      headers: {},
      header_map: null,
      path: '',
      host: '',
      query: '',
    };
    const out = h as ProtoHttp & Record<string, unknown>;
    const t = this.t.hr;
    const saved = r.end;
    r.end = end;
    while (r.pos < end) {
      const tag = r.uint32();
      switch (tag) {
        case t.headers:
          this.mapEntry(r, r.lenEnd(), h.headers!);
          break;
        case t.path:
          h.path = r.string();
          break;
        case t.method:
          h.method = r.string();
          break;
        case t.host:
          h.host = r.string();
          break;
        case t.id:
          h.id = r.string();
          break;
        case t.query:
          h.query = r.string();
          break;
        case t.scheme:
          out.scheme = r.string();
          break;
        case t.protocol:
          out.protocol = r.string();
          break;
        case t.fragment:
          out.fragment = r.string();
          break;
        case t.header_map:
          this.headerMap(r, r.lenEnd(), h);
          break;
        default:
          r.skip(tag);
      }
    }
    r.end = saved;
    return h;
  }

  private headerMap(r: Reader, end: number, h: ProtoHttp): void {
    const list: HeaderEntry[] = h.header_map?.headers ?? [];
    const saved = r.end;
    r.end = end;
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag !== this.t.headerMapHeaders) {
        r.skip(tag);
        continue;
      }
      const he = r.lenEnd();
      r.end = he;
      const entry: HeaderEntry = { key: '', value: '' };
      while (r.pos < he) {
        const u = r.uint32();
        if (u === this.t.hvKey) entry.key = r.name(this.names);
        else if (u === this.t.hvValue) entry.value = r.string();
        else if (u === this.t.hvRaw) entry.raw_value = r.bytes();
        else r.skip(u);
      }
      r.end = end;
      list.push(entry);
    }
    r.end = saved;
    h.header_map = { headers: list };
  }

  // ------------------------------------------------------------------ encode

  private headerOption(field: number, key: string, value: string): Buffer {
    return this.pieces.get(field, key, value, () => {
      const s = this.s;
      const hv = Buffer.concat([lenField(s.HeaderValue.key, key), lenField(s.HeaderValue.value, value)]);
      const hvo = Buffer.concat([
        lenField(s.HeaderValueOption.header, hv),
        // append: BoolValue{value: false}, present (as response.ts sends it).
        lenField(s.HeaderValueOption.append, Buffer.alloc(0)),
        varintField(s.HeaderValueOption.append_action, s.OVERWRITE_IF_EXISTS_OR_ADD),
      ]);
      return lenField(field, hvo);
    });
  }

  /**
   * headerOption() for an ASCII key and a number value that varies per call, written in one buffer
   * (the same bytes as headerOption(field, key, String(value)), without caching them).
   */
  private numericHeaderOption(field: number, key: string, value: number): Buffer {
    const s = this.s;
    const v = String(value);
    const kTag = tagOf(s.HeaderValue.key, WT_LEN);
    const vTag = tagOf(s.HeaderValue.value, WT_LEN);
    const hvLen =
      varintSize(kTag) +
      varintSize(key.length) +
      key.length +
      varintSize(vTag) +
      varintSize(v.length) +
      v.length;
    const hTag = tagOf(s.HeaderValueOption.header, WT_LEN);
    const aTag = tagOf(s.HeaderValueOption.append, WT_LEN);
    const actTag = tagOf(s.HeaderValueOption.append_action, WT_VARINT);
    const act = s.OVERWRITE_IF_EXISTS_OR_ADD;
    const hvoLen =
      varintSize(hTag) +
      varintSize(hvLen) +
      hvLen +
      varintSize(aTag) +
      1 +
      varintSize(actTag) +
      varintSize(act);
    const fTag = tagOf(field, WT_LEN);
    const out = Buffer.allocUnsafe(varintSize(fTag) + varintSize(hvoLen) + hvoLen);
    let p = writeVarint(out, 0, fTag);
    p = writeVarint(out, p, hvoLen);
    p = writeVarint(out, p, hTag);
    p = writeVarint(out, p, hvLen);
    p = writeVarint(out, p, kTag);
    p = writeVarint(out, p, key.length);
    p += out.write(key, p, 'latin1');
    p = writeVarint(out, p, vTag);
    p = writeVarint(out, p, v.length);
    p += out.write(v, p, 'latin1');
    p = writeVarint(out, p, aTag);
    out[p++] = 0;
    p = writeVarint(out, p, actTag);
    writeVarint(out, p, act);
    return out;
  }

  private stringField(field: number, value: string): Buffer {
    // Header option fields and string fields never share a field number within one message.
    return this.pieces.get(field + 1000, '', value, () => lenField(field, value));
  }

  /** Frames `parts` (total `len` bytes) as one uncompressed gRPC message. */
  private frame(parts: Buffer[], len: number): Buffer {
    const out = Buffer.allocUnsafe(5 + len);
    out[0] = 0;
    out.writeUInt32BE(len, 1);
    let p = 5;
    for (const b of parts) p += b.copy(out, p);
    return out;
  }

  /** The one mapping of a Decision to the framed CheckResponse (the http2 counterpart of response.ts). */
  encode(decision: Decision, context: RequestContext | null): Buffer {
    if (decision.kind !== 'allow') return this.deny(decision);
    const s = this.s;
    const ok = s.OkHttpResponse;
    const parts: Buffer[] = [this.okStatus, Buffer.alloc(0)];
    let okLen = 0;
    const set = decision.headersToSet;
    for (const k in set) {
      const b = this.headerOption(ok.headers, k, set[k]!);
      parts.push(b);
      okLen += b.length;
    }
    for (const k of decision.headersToRemove) {
      const b = this.stringField(ok.headers_to_remove, k);
      parts.push(b);
      okLen += b.length;
    }
    const rl = decision.rateLimit;
    if (rl) {
      // The limit is the tier's (cached piece); remaining and reset change call by call, so they are
      // written directly: cached, they would be a miss every call and flush the identity pieces.
      const f = ok.response_headers_to_add;
      const a = this.headerOption(f, 'x-ratelimit-limit', String(rl.limit));
      const b = this.numericHeaderOption(f, 'x-ratelimit-remaining', rl.remaining);
      const c = this.numericHeaderOption(f, 'x-ratelimit-reset', rl.resetSeconds);
      parts.push(a, b, c);
      okLen += a.length + b.length + c.length;
    }
    for (const q of decision.queryParamsToRemove) {
      const b = this.stringField(ok.query_parameters_to_remove, q);
      parts.push(b);
      okLen += b.length;
    }
    const okHead = lenPrefix(s.CheckResponse.ok_response, okLen);
    parts[1] = okHead;
    let len = this.okStatus.length + okHead.length + okLen;
    if (context) {
      // Memoised per context: the check's event (adapter/emit) reuses this JSON.
      const meta = this.metadata(requestContextJson(context));
      parts.push(meta);
      len += meta.length;
    }
    return this.frame(parts, len);
  }

  /** dynamic_metadata = Struct{fields: {mesh_apim: Value{string_value: json}}}. */
  private metadata(json: string): Buffer {
    const s = this.s;
    const jl = Buffer.byteLength(json);
    const valueTag = tagOf(s.Value.stringValue, WT_LEN);
    const valueLen = varintSize(valueTag) + varintSize(jl) + jl;
    const entryLen = this.metaKey.length + 1 + varintSize(valueLen) + valueLen;
    const structTag = tagOf(s.Struct.fields, WT_LEN);
    const structLen = varintSize(structTag) + varintSize(entryLen) + entryLen;
    const fieldTag = tagOf(s.CheckResponse.dynamic_metadata, WT_LEN);
    const total = varintSize(fieldTag) + varintSize(structLen) + structLen;
    const out = Buffer.allocUnsafe(total);
    let p = writeVarint(out, 0, fieldTag);
    p = writeVarint(out, p, structLen);
    p = writeVarint(out, p, structTag);
    p = writeVarint(out, p, entryLen);
    p += this.metaKey.copy(out, p);
    p = writeVarint(out, p, tagOf(2, WT_LEN));
    p = writeVarint(out, p, valueLen);
    p = writeVarint(out, p, valueTag);
    p = writeVarint(out, p, jl);
    out.write(json, p, 'utf8');
    return out;
  }

  private deny(d: Exclude<Decision, { kind: 'allow' }>): Buffer {
    let key = `${d.kind}\u0000${d.httpStatus}\u0000${d.code}\u0000${d.reason}\u0000${d.message}\u0000${d.description}`;
    for (const k in d.headers) key += `\u0000${k}\u0000${d.headers[k]}`;
    return this.denies.get(key, () => {
      const s = this.s;
      const dr = s.DeniedHttpResponse;
      const body = Buffer.concat([
        lenField(dr.status, varintField(s.HttpStatus.code, d.httpStatus)),
        this.headerOption(dr.headers, 'content-type', 'application/json; charset=UTF-8'),
        ...Object.entries(d.headers).map(([k, v]) => this.headerOption(dr.headers, k, v)),
        lenField(dr.body, wso2Body(d.code, d.message, d.description)),
      ]);
      const msg = Buffer.concat([
        this.status(RPC_OF[d.kind], d.reason),
        lenField(s.CheckResponse.denied_response, body),
      ]);
      return this.frame([msg], msg.length);
    });
  }

  private status(code: number, message: string): Buffer {
    const s = this.s;
    return lenField(
      s.CheckResponse.status,
      Buffer.concat([varintField(s.Status.code, code), lenField(s.Status.message, message)]),
    );
  }

  /** A CheckResponse with only a status (the answer when even the mapping failed). */
  statusOnly(code: number, message: string): Buffer {
    const msg = this.status(code, message);
    return this.frame([msg], msg.length);
  }
}
