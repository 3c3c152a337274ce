/** Envoy protobuf (as @grpc/proto-loader delivers it) -> domain CheckRequest. Never throws on odd input. */
import { type ClientIpOptions, clientIpOf } from './client-ip.ts';
import type { CheckRequest } from './domain.ts';

/** The parts of envoy.service.auth.v3.CheckRequest the adapter reads (proto-loader, keepCase). */
export interface ProtoCheckRequest {
  attributes?: {
    source?: {
      address?: { socket_address?: { address?: string } | null; pipe?: unknown } | null;
      principal?: string;
    } | null;
    request?: {
      http?: {
        id?: string;
        method?: string;
        headers?: Record<string, string>;
        header_map?: { headers?: { key?: string; value?: string; raw_value?: Buffer | Uint8Array }[] } | null;
        path?: string;
        host?: string;
        query?: string;
      } | null;
    } | null;
    context_extensions?: Record<string, string>;
  } | null;
}

function parseQuery(q: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!q) return out;
  for (const [k, v] of new URLSearchParams(q)) {
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  }
  return out;
}

function headersOf(
  http: NonNullable<NonNullable<NonNullable<ProtoCheckRequest['attributes']>['request']>['http']>,
) {
  const headers: Record<string, string> = {};
  const map = http.headers ?? {};
  for (const k of Object.keys(map)) headers[k.toLowerCase()] = map[k]!;
  for (const h of http.header_map?.headers ?? []) {
    if (!h.key) continue;
    const key = h.key.toLowerCase();
    const value =
      h.raw_value && h.raw_value.length > 0 ? Buffer.from(h.raw_value).toString('utf8') : (h.value ?? '');
    headers[key] = headers[key] !== undefined ? `${headers[key]},${value}` : value;
  }
  return headers;
}

export function toCheckRequest(
  proto: ProtoCheckRequest,
  receivedAt: number,
  options: ClientIpOptions = {},
): CheckRequest {
  const attrs = proto.attributes ?? {};
  const http = attrs.request?.http ?? {};
  const headers = headersOf(http);
  const rawPath = http.path || headers[':path'] || '/';
  const hashAt = rawPath.indexOf('#');
  const noFragment = hashAt >= 0 ? rawPath.slice(0, hashAt) : rawPath;
  const qAt = noFragment.indexOf('?');
  const path = qAt >= 0 ? noFragment.slice(0, qAt) : noFragment;
  const query = qAt >= 0 ? noFragment.slice(qAt + 1) : (http.query ?? '');
  const ip = attrs.source?.address?.socket_address?.address;
  return {
    requestId: headers['x-request-id'] || http.id || '',
    method: (http.method || headers[':method'] || 'GET').toUpperCase(),
    host: http.host || headers[':authority'] || headers.host || '',
    path: path || '/',
    query: parseQuery(query),
    headers,
    clientIp: clientIpOf(headers, ip ? ip : null, options),
    contextExtensions: attrs.context_extensions ?? {},
    receivedAt,
  };
}
