/**
 * The realistic CheckRequest of the benchmarks: what an Istio ingress gateway (Envoy) sends for one
 * browser-ish API call: 17 request headers (the API key among them), source/destination peers with
 * SPIFFE principals, request time, protocol, size, and the route's context_extensions. Synthetic
 * data only. `node --import tsx bench/realistic-request.ts` prints it with its encoded size.
 */
import { envoyPackageDefinition } from '../adapter/proto.ts';

export interface RealisticOptions {
  /** The WSO2 API key (the `apikey` header); ~1.3 KB as WSO2 issues them. */
  apiKey: string;
  requestId?: string;
  path?: string;
  /** Extra headers (e.g. the OPA contenders' x-api-key). */
  extraHeaders?: Record<string, string>;
}

/** proto-loader object shape (keepCase), as CheckClient / ghz's JSON data take it. */
export function istioIngressCheckRequest(o: RealisticOptions): Record<string, unknown> {
  const id = o.requestId ?? '7f9c2ba4-e88f-4b2e-9a0d-3c1e5b7d9f01';
  const path = o.path ?? '/petstore/v1/pets/42?limit=10&fields=name,tag';
  const q = path.indexOf('?');
  const headers: Record<string, string> = {
    ':authority': 'api.example.com',
    ':method': 'GET',
    ':path': path,
    ':scheme': 'https',
    accept: 'application/json, text/plain, */*',
    'accept-encoding': 'gzip, deflate, br',
    'accept-language': 'en-GB,en;q=0.9,de;q=0.8',
    'user-agent':
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
    referer: 'https://portal.example.com/apis/petstore/v1/try-out',
    'x-forwarded-for': '203.0.113.47',
    'x-forwarded-proto': 'https',
    'x-envoy-external-address': '203.0.113.47',
    'x-request-id': id,
    'x-envoy-attempt-count': '1',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'x-b3-traceid': '4bf92f3577b34da6a3ce929d0e0e4736',
    apikey: o.apiKey,
    ...o.extraHeaders,
  };
  return {
    attributes: {
      source: {
        address: { socket_address: { address: '10.244.1.17', port_value: 51234 } },
        principal: 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
      },
      destination: {
        address: { socket_address: { address: '10.244.2.31', port_value: 8080 } },
        principal: 'spiffe://cluster.local/ns/petstore/sa/petstore',
      },
      request: {
        time: { seconds: 1_767_225_600, nanos: 123_456_000 },
        http: {
          id: '16742512963728459117',
          method: 'GET',
          headers,
          path,
          host: 'api.example.com',
          scheme: 'https',
          query: q >= 0 ? path.slice(q + 1) : '',
          protocol: 'HTTP/1.1',
          size: -1,
        },
      },
      context_extensions: { api: 'petstore-v1', virtual_host: 'api.example.com:443' },
    },
  };
}

/**
 * The request as ghz's protojson data: google.protobuf.Timestamp as an RFC 3339 string (grpc-go's
 * JSON mapping; proto-loader takes { seconds, nanos }).
 */
export function toGhzJson(req: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(req), (k, v) =>
    k === 'time' && v && typeof v === 'object' && 'seconds' in v
      ? new Date(v.seconds * 1000 + Math.floor((v.nanos ?? 0) / 1e6)).toISOString()
      : v,
  );
}

/** The encoded request (protobuf, unframed). */
export function encodeCheckRequest(req: Record<string, unknown>): Buffer {
  const t = envoyPackageDefinition()['envoy.service.auth.v3.CheckRequest'] as unknown as {
    serialize(v: unknown): Buffer;
  };
  return t.serialize(req);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // A stand-in key of WSO2's size, for looking at the shape; the bench uses a key the adapter issued.
  const req = istioIngressCheckRequest({ apiKey: `eyJ${'x'.repeat(1300)}` });
  const bytes = encodeCheckRequest(req);
  const h = (req.attributes as { request: { http: { headers: object } } }).request.http.headers;
  process.stdout.write(
    `${JSON.stringify(req, null, 2)}\n${bytes.length} bytes, ${Object.keys(h).length} headers\n`,
  );
}
