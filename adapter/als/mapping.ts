/**
 * Pure mapping of one Envoy HTTPAccessLogEntry (as @grpc/proto-loader decodes it with
 * adapter/proto.ts LOADER_OPTIONS) to a request-attributes event. The entry alone is enough: the
 * check wrote the RequestContext into its dynamic_metadata, and Envoy hands it back under
 * common_properties.metadata.filter_metadata['envoy.filters.http.ext_authz'].mesh_apim, so any
 * adapter replica can build the event without state shared with the replica that ran the check.
 */
import { fastValidator } from '../../events/fast-validator.ts';
import {
  REQUEST_CONTEXT_METADATA_KEY,
  REQUEST_CONTEXT_METADATA_NAMESPACE,
  type RequestAttributes,
  RequestContext,
} from '../../events/request-attributes.ts';
import {
  type ResponseAttributes,
  requestAttributesFromAccessLog,
  requestAttributesJsonFromAccessLog,
} from '../emit/events.ts';
import { fromValue, type ProtoStruct } from '../struct.ts';

/* Decoded protobuf shapes (only what we read; every field may be null or absent). */
export interface PbDuration {
  seconds?: string | number | null;
  nanos?: number | null;
}
interface PbAddress {
  socket_address?: { address?: string | null; port_value?: number | null } | null;
}
export interface HttpAccessLogEntry {
  common_properties?: {
    start_time?: PbDuration | null;
    time_to_last_rx_byte?: PbDuration | null;
    time_to_first_upstream_tx_byte?: PbDuration | null;
    time_to_last_upstream_rx_byte?: PbDuration | null;
    time_to_last_downstream_tx_byte?: PbDuration | null;
    duration?: PbDuration | null;
    upstream_remote_address?: PbAddress | null;
    metadata?: { filter_metadata?: Record<string, ProtoStruct> | null } | null;
    intermediate_log_entry?: boolean | null;
    access_log_type?: string | null;
  } | null;
  request?: {
    request_id?: string | null;
    request_body_bytes?: string | number | null;
  } | null;
  response?: {
    response_code?: { value?: number | null } | null;
    response_body_bytes?: string | number | null;
    /** Only the headers listed in the ALS config's additional_response_headers_to_log. */
    response_headers?: Record<string, string> | null;
  } | null;
}

function ms(d: PbDuration | null | undefined): number | null {
  if (!d) return null;
  return Number(d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6;
}

function int(v: string | number | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

const round = (n: number | null) => (n === null ? null : Math.round(n));

export type AlsMapping =
  /** `json`: the event serialised (spliced from the metadata's JSON), when it could be. */
  /** `key`: the event's topic key (its requestId). `event` is built on first read when `json` is set. */
  | { kind: 'event'; event: RequestAttributes; json?: string; key: string }
  /** No mesh_apim metadata: a denial (the check emitted it) or a request that never reached the check. */
  | { kind: 'no-context' }
  /** Periodic/intermediate entry of a long stream: the final entry carries the totals. */
  | { kind: 'intermediate' }
  /** Metadata present but not a valid RequestContext (another writer, or a version skew). */
  | { kind: 'invalid-context'; problem: string };

const FINAL_LOG_TYPES = new Set(['NotSet', 'DownstreamEnd', '', undefined, null]);

/**
 * True when `parsed` (zod's output) has exactly the keys and values of `raw` (JSON.parse's): zod
 * stripped nothing and added nothing, so the JSON text `raw` came from can stand for `parsed`.
 */
export function contextMatchesJson(raw: unknown, parsed: unknown): boolean {
  if (raw === parsed) return true;
  if (typeof raw !== 'object' || typeof parsed !== 'object' || raw === null || parsed === null) return false;
  if (Array.isArray(raw)) {
    if (!Array.isArray(parsed) || raw.length !== parsed.length) return false;
    for (let i = 0; i < raw.length; i++) if (!contextMatchesJson(raw[i], parsed[i])) return false;
    return true;
  }
  if (Array.isArray(parsed)) return false;
  const r = raw as Record<string, unknown>;
  const p = parsed as Record<string, unknown>;
  let n = 0;
  for (const k in p) {
    if (!Object.hasOwn(r, k) || !contextMatchesJson(r[k], p[k])) return false;
    n++;
  }
  return n === Object.keys(r).length;
}

/** Reads the RequestContext the check stored: a JSON string (adapter/response.ts), or a nested Struct. */
export function requestContextOf(entry: HttpAccessLogEntry): RequestContext | string | null {
  return readContext(entry)?.ctx ?? null;
}

const fastContext = fastValidator(RequestContext);

/** The context, and the JSON text it was read from when that text stands for it exactly. */
function readContext(
  entry: HttpAccessLogEntry,
): { ctx: RequestContext | string; json: string | null } | null {
  const ns = entry.common_properties?.metadata?.filter_metadata?.[REQUEST_CONTEXT_METADATA_NAMESPACE];
  const raw = ns?.fields?.[REQUEST_CONTEXT_METADATA_KEY];
  if (!raw) return null;
  let value = fromValue(raw);
  let text: string | null = null;
  if (typeof value === 'string') {
    text = value;
    try {
      value = JSON.parse(value);
    } catch {
      return { ctx: 'metadata is a string but not JSON', json: null };
    }
  }
  // '{' ... '}' with nothing around it: its inside can be spliced.
  const braced = text !== null && text.charCodeAt(0) === 0x7b && text.charCodeAt(text.length - 1) === 0x7d;
  // Well-formed (what our own checks store): the compiled validator's yes means zod would return
  // the value unchanged, so the JSON text stands for it as it is.
  if (fastContext?.(value)) return { ctx: value as RequestContext, json: braced ? text : null };
  const parsed = RequestContext.safeParse(value);
  if (!parsed.success) {
    return {
      ctx: parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; '),
      json: null,
    };
  }
  return { ctx: parsed.data, json: braced && contextMatchesJson(value, parsed.data) ? text : null };
}

/** Response fields from the entry; latencies in whole milliseconds. */
export function responseOf(entry: HttpAccessLogEntry): ResponseAttributes {
  const cp = entry.common_properties;
  const total = ms(cp?.duration) ?? ms(cp?.time_to_last_downstream_tx_byte);
  const upFirstTx = ms(cp?.time_to_first_upstream_tx_byte);
  const upLastRx = ms(cp?.time_to_last_upstream_rx_byte);
  const sock = cp?.upstream_remote_address?.socket_address;
  const status = entry.response?.response_code?.value;
  const contentType = entry.response?.response_headers?.['content-type'];
  return {
    // 0 = no response was sent (e.g. the downstream disconnected): unknown, not a status.
    status: status ? status : null,
    latencyMs: round(total),
    backendLatencyMs:
      upFirstTx !== null && upLastRx !== null ? round(Math.max(0, upLastRx - upFirstTx)) : null,
    requestBytes: int(entry.request?.request_body_bytes),
    responseBytes: int(entry.response?.response_body_bytes),
    upstreamHost: sock?.address ? `${sock.address}:${sock.port_value ?? 0}` : null,
    // Logged only when the ALS config lists it (additional_response_headers_to_log): WSO2's responseContentType.
    ...(contentType ? { contentType } : {}),
  };
}

/** Maps one entry. `now` is used only when the entry has no start time. */
export function mapAccessLogEntry(entry: HttpAccessLogEntry, now: Date): AlsMapping {
  const cp = entry.common_properties;
  if (cp?.intermediate_log_entry || !FINAL_LOG_TYPES.has(cp?.access_log_type ?? undefined)) {
    return { kind: 'intermediate' };
  }
  const read = readContext(entry);
  if (read === null) return { kind: 'no-context' };
  const ctx = read.ctx;
  if (typeof ctx === 'string') return { kind: 'invalid-context', problem: ctx };
  const response = responseOf(entry);
  const start = ms(cp?.start_time);
  const occurredAt = start !== null && start > 0 ? new Date(start + (response.latencyMs ?? 0)) : now;
  // The context's requestId is authoritative (it is what the check saw); the entry's is the same header.
  if (read.json === null) {
    return {
      kind: 'event',
      event: requestAttributesFromAccessLog(ctx, response, occurredAt),
      key: ctx.requestId,
    };
  }
  const json = requestAttributesJsonFromAccessLog(read.json, ctx, response, occurredAt);
  let event: RequestAttributes | undefined;
  // The emitter takes the JSON: the object (a spread of the whole context) only for a caller that asks.
  return {
    kind: 'event',
    json,
    key: ctx.requestId,
    get event() {
      event ??= requestAttributesFromAccessLog(ctx, response, occurredAt);
      return event;
    },
  };
}
