/**
 * StreamAccessLogsMessage decoded by walking the wire format, reading only what mapping.ts reads
 * (the entry's timings, upstream address, the mesh_apim metadata, request id and sizes, response
 * code, sizes and logged headers) into the shape proto-loader gives it (HttpAccessLogEntry). A
 * proto-loader decode of an Istio sidecar's entry (~1.2 KB) builds every field and its default:
 * ~9 µs per entry, the largest part of ALS ingestion; everything skipped here is skipped unread.
 *
 * A malformed entry (bad protobuf inside its own length-delimited bytes) is dropped and counted,
 * the other entries of the message and the stream go on; a message whose framing itself is broken
 * throws (the call is answered INTERNAL, as a proto-loader decode error was).
 */
import { REQUEST_CONTEXT_METADATA_NAMESPACE } from '../../events/request-attributes.ts';
import type { ProtoStruct, ProtoValue } from '../struct.ts';
import { Reader, WireError, WT_LEN, WT_VARINT } from '../transport/http2/wire.ts';
import type { HttpAccessLogEntry, PbDuration } from './mapping.ts';

export interface DecodedAccessLogs {
  http_logs: { log_entry: HttpAccessLogEntry[] };
  /** TCP entries are counted, not read. */
  tcp_logs: { log_entry: { length: number } };
  /** Entries whose bytes are not valid protobuf: dropped, counted by the service. */
  malformed: { count: number; problem: string | null };
}

// envoy.data.accesslog.v3.AccessLogType, by number (proto-loader's enums: String).
const ACCESS_LOG_TYPES = [
  'NotSet',
  'TcpUpstreamConnected',
  'TcpPeriodic',
  'TcpConnectionEnd',
  'DownstreamStart',
  'DownstreamPeriodic',
  'DownstreamEnd',
  'UpstreamPoolReady',
  'UpstreamPeriodic',
  'UpstreamEnd',
  'DownstreamTunnelSuccessfullyEstablished',
  'UdpTunnelUpstreamConnected',
  'UdpPeriodic',
  'UdpSessionEnd',
];

const TWO_64 = 2 ** 64;
const TWO_63 = 2 ** 63;

/** A varint of up to 10 bytes as a number (int64/uint64: exact below 2^53, two's complement when `signed`). */
function varint64(r: Reader, signed: boolean): number {
  const b = r.buf;
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (r.pos >= r.end) throw new WireError('truncated varint');
    const byte = b[r.pos++]!;
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return signed && v >= TWO_63 ? v - TWO_64 : v;
    mul *= 128;
  }
  throw new WireError('varint too long');
}

/** A known field with another wire type is malformed (protobufjs fails it too). */
function wireType(tag: number, expected: number): void {
  if ((tag & 7) === expected) return;
  throw new WireError(`field ${tag >>> 3} has wire type ${tag & 7}, expected ${expected}`);
}

/** A sub-message's fields must end exactly where its length said. */
function ended(r: Reader, end: number): void {
  if (r.pos !== end) throw new WireError('field overruns its message');
}

function duration(r: Reader, end: number): PbDuration {
  const d: PbDuration = { seconds: '0', nanos: 0 };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 8) d.seconds = String(varint64(r, true));
    else if (tag === 16) d.nanos = varint64(r, true) | 0;
    else r.skip(tag);
  }
  ended(r, end);
  return d;
}

function value(r: Reader, end: number): ProtoValue {
  let v: ProtoValue = { nullValue: 'NULL_VALUE', kind: 'nullValue' };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        wireType(tag, WT_VARINT);
        r.uint32();
        v = { nullValue: 'NULL_VALUE', kind: 'nullValue' };
        break;
      case 2:
        wireType(tag, 1);
        if (r.pos + 8 > end) throw new WireError('truncated double');
        v = { numberValue: r.buf.readDoubleLE(r.pos), kind: 'numberValue' };
        r.pos += 8;
        break;
      case 3:
        wireType(tag, WT_LEN);
        v = { stringValue: r.string(), kind: 'stringValue' };
        break;
      case 4:
        wireType(tag, WT_VARINT);
        v = { boolValue: r.uint32() !== 0, kind: 'boolValue' };
        break;
      case 5: {
        wireType(tag, WT_LEN);
        const e = r.lenEnd();
        v = { structValue: struct(r, e), kind: 'structValue' };
        break;
      }
      case 6: {
        wireType(tag, WT_LEN);
        const e = r.lenEnd();
        const values: ProtoValue[] = [];
        while (r.pos < e) {
          const t = r.uint32();
          if (t === 10) {
            const ve = r.lenEnd();
            values.push(value(r, ve));
          } else r.skip(t);
        }
        ended(r, e);
        v = { listValue: { values }, kind: 'listValue' };
        break;
      }
      default:
        r.skip(tag);
    }
  }
  ended(r, end);
  return v;
}

/**
 * Walks the entries of a protobuf map field (`map<string, M>`: repeated messages with key = 1 and
 * value = 2) between pos and `end`, calling `onEntry(key)` for each entry's key; the returned
 * function, if any, reads the value in place (given its end) and its result goes to `set`, else the
 * value is skipped. Entries are key then value on the wire (protobuf writers emit them in that order).
 */
function mapEntries<V>(
  r: Reader,
  end: number,
  onEntry: (key: string) => ((r: Reader, valueEnd: number) => V) | null,
  set: (key: string, value: V | null) => void,
): void {
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag !== 10) {
      r.skip(tag);
      continue;
    }
    const e = r.lenEnd();
    let key = '';
    let read = onEntry(key);
    let v: V | null = null;
    while (r.pos < e) {
      const t = r.uint32();
      if (t === 10) {
        key = r.string();
        read = onEntry(key);
      } else if (t === 18 && read !== null) v = read(r, r.lenEnd());
      else r.skip(t);
    }
    ended(r, e);
    set(key, v);
  }
  ended(r, end);
}

const readValue = () => value;

function struct(r: Reader, end: number): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  mapEntries(r, end, readValue, (key, v) => {
    fields[key] = v ?? { nullValue: 'NULL_VALUE', kind: 'nullValue' };
  });
  return { fields };
}

const readOurNamespace = (key: string) => (key === REQUEST_CONTEXT_METADATA_NAMESPACE ? struct : null);

/** Metadata.filter_metadata: only our namespace is read; the others (istio_authn, ...) are skipped. */
function metadata(r: Reader, end: number, into: Record<string, ProtoStruct>): void {
  mapEntries(r, end, readOurNamespace, (key, s) => {
    if (key === REQUEST_CONTEXT_METADATA_NAMESPACE) into[key] = s ?? { fields: {} };
  });
}

function socketAddress(r: Reader, end: number): { socket_address: { address: string; port_value: number } } {
  const sa = { address: '', port_value: 0 };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag !== 10) {
      r.skip(tag);
      continue;
    }
    const e = r.lenEnd();
    while (r.pos < e) {
      const t = r.uint32();
      if (t === 18) sa.address = r.string();
      else if (t === 24) sa.port_value = r.uint32();
      else r.skip(t);
    }
    ended(r, e);
  }
  ended(r, end);
  return { socket_address: sa };
}

type Common = NonNullable<HttpAccessLogEntry['common_properties']>;

function common(r: Reader, end: number, c: Common): void {
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    switch (field) {
      case 5:
      case 6:
      case 7:
      case 10:
      case 12:
      case 23: {
        wireType(tag, WT_LEN);
        const d = duration(r, r.lenEnd());
        if (field === 5) c.start_time = d;
        else if (field === 6) c.time_to_last_rx_byte = d;
        else if (field === 7) c.time_to_first_upstream_tx_byte = d;
        else if (field === 10) c.time_to_last_upstream_rx_byte = d;
        else if (field === 12) c.time_to_last_downstream_tx_byte = d;
        else c.duration = d;
        break;
      }
      case 13:
        wireType(tag, WT_LEN);
        c.upstream_remote_address = socketAddress(r, r.lenEnd());
        break;
      case 17: {
        wireType(tag, WT_LEN);
        const filter = (c.metadata?.filter_metadata ?? {}) as Record<string, ProtoStruct>;
        metadata(r, r.lenEnd(), filter);
        c.metadata = { filter_metadata: filter };
        break;
      }
      case 27:
        wireType(tag, WT_VARINT);
        c.intermediate_log_entry = varint64(r, false) !== 0;
        break;
      case 33: {
        wireType(tag, WT_VARINT);
        const n = varint64(r, true);
        c.access_log_type = ACCESS_LOG_TYPES[n] ?? String(n);
        break;
      }
      default:
        r.skip(tag);
    }
  }
  ended(r, end);
}

function entry(r: Reader, end: number): HttpAccessLogEntry {
  const e: HttpAccessLogEntry = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: {
        const ce = r.lenEnd();
        e.common_properties ??= { intermediate_log_entry: false, access_log_type: 'NotSet' };
        common(r, ce, e.common_properties);
        break;
      }
      case 26: {
        const re = r.lenEnd();
        // proto-loader's defaults: an absent scalar of a present message reads as its zero value.
        e.request ??= { request_id: '', request_body_bytes: '0' };
        const q = e.request;
        while (r.pos < re) {
          const t = r.uint32();
          if (t === 74) q.request_id = r.string();
          else if (t === 96) q.request_body_bytes = String(varint64(r, false));
          else r.skip(t);
        }
        ended(r, re);
        break;
      }
      case 34: {
        const se = r.lenEnd();
        e.response ??= { response_body_bytes: '0', response_headers: {} };
        const s = e.response;
        while (r.pos < se) {
          const t = r.uint32();
          if (t === 10) {
            const ve = r.lenEnd();
            let v = 0;
            while (r.pos < ve) {
              const vt = r.uint32();
              if (vt === 8) v = varint64(r, false);
              else r.skip(vt);
            }
            ended(r, ve);
            s.response_code = { value: v };
          } else if (t === 24) s.response_body_bytes = String(varint64(r, false));
          else if (t === 34) {
            const he = r.lenEnd();
            let k = '';
            let v = '';
            while (r.pos < he) {
              const ht = r.uint32();
              if (ht === 10) k = r.string();
              else if (ht === 18) v = r.string();
              else r.skip(ht);
            }
            ended(r, he);
            s.response_headers ??= {};
            s.response_headers[k] = v;
          } else r.skip(t);
        }
        ended(r, se);
        break;
      }
      default:
        r.skip(tag);
    }
  }
  ended(r, end);
  return e;
}

/** The request deserializer of StreamAccessLogs (both transports use the definition's). */
export function decodeStreamAccessLogsMessage(buf: Buffer): DecodedAccessLogs {
  const out: DecodedAccessLogs = {
    http_logs: { log_entry: [] },
    tcp_logs: { log_entry: { length: 0 } },
    malformed: { count: 0, problem: null },
  };
  const r = new Reader(buf);
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag === 18 || tag === 26) {
      const listEnd = r.lenEnd();
      while (r.pos < listEnd) {
        const t = r.uint32();
        if (t !== 10) {
          r.skip(t);
          continue;
        }
        const e = r.lenEnd();
        if (tag === 26) {
          out.tcp_logs.log_entry.length++;
          r.pos = e;
          continue;
        }
        // An entry is read within its own bounds: its bad bytes cannot reach past it.
        const outer = r.end;
        r.end = e;
        try {
          out.http_logs.log_entry.push(entry(r, e));
        } catch (err) {
          if (!(err instanceof WireError)) throw err;
          out.malformed.count++;
          out.malformed.problem ??= err.message;
        }
        r.end = outer;
        r.pos = e;
      }
      if (r.pos !== listEnd) throw new WireError('entry list overruns its message');
    } else r.skip(tag);
  }
  return out;
}
