/** Envoy protobuf (as @grpc/proto-loader delivers it) -> domain CheckRequest. Never throws on odd input. */
import { type ClientIpOptions, clientIpOf } from './client-ip.ts';
import { ADAPTER_DEFAULTS } from './config.ts';
import { type ClientCertOptions, clientCertificateInput } from './credentials/mtls.ts';
import type { CheckRequest } from './domain.ts';

/** The parts of envoy.service.auth.v3.CheckRequest the adapter reads (proto-loader, keepCase). */
export interface ProtoCheckRequest {
  attributes?: {
    source?: {
      address?: { socket_address?: { address?: string } | null; pipe?: unknown } | null;
      principal?: string;
      /** URL-encoded PEM of the TLS peer (ext_authz include_peer_certificate). */
      certificate?: string;
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

function push<V>(m: Map<string, V[]>, k: string, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/**
 * Decoded parameters (URLSearchParams semantics, applied to each `&` piece so the decoded name is
 * exactly what it yields) and, per decoded name, the raw names Envoy will see and remove by.
 */
function parseQuery(q: string): { query: Map<string, string[]>; rawNames: Map<string, string[]> } {
  const query = new Map<string, string[]>();
  const rawNames = new Map<string, string[]>();
  if (!q) return { query, rawNames };
  for (const piece of q.split('&')) {
    if (piece === '') continue;
    for (const [k, v] of new URLSearchParams(piece)) {
      push(query, k, v);
      const eq = piece.indexOf('=');
      const raw = eq >= 0 ? piece.slice(0, eq) : piece;
      const names = rawNames.get(k);
      if (!names) rawNames.set(k, [raw]);
      else if (!names.includes(raw)) names.push(raw);
    }
  }
  return { query, rawNames };
}

/** ASCII-only lower case: String#toLowerCase maps U+212A (Kelvin) to `k` and U+0130 to `i̇`. */
export function lowerAscii(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

function headersOf(
  http: NonNullable<NonNullable<NonNullable<ProtoCheckRequest['attributes']>['request']>['http']>,
) {
  const headers: Record<string, string> = {};
  const map = http.headers ?? {};
  for (const k of Object.keys(map)) headers[lowerAscii(k)] = map[k]!;
  for (const h of http.header_map?.headers ?? []) {
    if (!h.key) continue;
    const key = lowerAscii(h.key);
    const value =
      h.raw_value && h.raw_value.length > 0 ? Buffer.from(h.raw_value).toString('utf8') : (h.value ?? '');
    headers[key] = headers[key] !== undefined ? `${headers[key]},${value}` : value;
  }
  return headers;
}

/** adapter.*'s defaults, for callers without a config (tests, benches). */
export const TRANSLATE_DEFAULTS: ClientIpOptions & ClientCertOptions = {
  trustedHops: ADAPTER_DEFAULTS.xffTrustedHops,
  clientCertificateSource: ADAPTER_DEFAULTS.clientCertificateSource,
  xfccTrustedPrincipals: new Set(ADAPTER_DEFAULTS.xfccTrustedPrincipals),
};

export function toCheckRequest(
  proto: ProtoCheckRequest,
  receivedAt: number,
  options: ClientIpOptions & ClientCertOptions = TRANSLATE_DEFAULTS,
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
  const parsed = parseQuery(query);
  return {
    requestId: headers['x-request-id'] || http.id || '',
    method: (http.method || headers[':method'] || 'GET').toUpperCase(),
    host: http.host || headers[':authority'] || headers.host || '',
    path: path || '/',
    query: parsed.query,
    rawQueryNames: parsed.rawNames,
    headers,
    clientIp: clientIpOf(headers, ip ? ip : null, options),
    clientCertificate: clientCertificateInput(attrs.source, options),
    contextExtensions: attrs.context_extensions ?? {},
    receivedAt,
  };
}
