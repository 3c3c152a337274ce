/**
 * A real grpc-js ext_authz client built from the same Envoy protos as the server, for tests, the
 * bench and `mesh-apim check`: check() sends one CheckRequest shaped like Envoy's and returns the decoded response.
 */
import * as grpc from '@grpc/grpc-js';
import { authorizationService } from './proto.ts';
import { readRequestContextMetadata } from './response.ts';
import { fromStruct, type ProtoStruct } from './struct.ts';
import { lowerAscii } from './translate.ts';

export interface CheckInput {
  method?: string;
  /** Path including the query string, as Envoy sends it. */
  path: string;
  host?: string;
  headers?: Record<string, string>;
  clientIp?: string;
  contextExtensions?: Record<string, string>;
  requestId?: string;
  /** attributes.source.certificate: the TLS peer's URL-encoded PEM (include_peer_certificate). */
  peerCertificate?: string;
  /** attributes.source.principal: the TLS peer's URI SAN (Istio: its SPIFFE id). */
  peerPrincipal?: string;
}

interface HeaderOption {
  header: { key: string; value: string };
  append_action?: string;
}

export interface CheckResult {
  /** google.rpc.Code in CheckResponse.status. */
  grpcCode: number;
  allowed: boolean;
  /** HTTP status Envoy would answer (200 when allowed). */
  httpStatus: number;
  /** Denied: the WSO2 JSON body; allowed: null. */
  body: { code: string; message: string; description: string } | null;
  /** Denied: headers to the client; allowed: headers set on the upstream request. */
  headers: Record<string, string>;
  headerOptions: HeaderOption[];
  headersToRemove: string[];
  queryParamsToRemove: string[];
  responseHeadersToAdd: Record<string, string>;
  /** dynamic_metadata decoded to plain JSON. */
  dynamicMetadata: Record<string, unknown>;
  /** The RequestContext the adapter put in dynamic_metadata (parsed JSON), null when absent. */
  requestContext: unknown;
  raw: Record<string, unknown>;
}

export class CheckClient {
  readonly client: grpc.Client & {
    Check: (req: unknown, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;
  };

  constructor(address: string) {
    const Ctor = authorizationService();
    this.client = new Ctor(address, grpc.credentials.createInsecure()) as unknown as CheckClient['client'];
  }

  static request(input: CheckInput): Record<string, unknown> {
    const qAt = input.path.indexOf('?');
    return {
      attributes: {
        source: {
          address: { socket_address: { address: input.clientIp ?? '10.0.0.1', port_value: 40000 } },
          ...(input.peerCertificate !== undefined ? { certificate: input.peerCertificate } : {}),
          ...(input.peerPrincipal !== undefined ? { principal: input.peerPrincipal } : {}),
        },
        request: {
          http: {
            id: input.requestId ?? 'req-1',
            method: input.method ?? 'GET',
            host: input.host ?? 'api.example.com',
            path: input.path,
            query: qAt >= 0 ? input.path.slice(qAt + 1) : '',
            headers: {
              'x-request-id': input.requestId ?? 'req-1',
              ...Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [lowerAscii(k), v])),
            },
          },
        },
        context_extensions: input.contextExtensions ?? {},
      },
    };
  }

  raw(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.client.Check(request, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  async check(input: CheckInput): Promise<CheckResult> {
    const res = await this.raw(CheckClient.request(input));
    return decodeCheckResponse(res);
  }

  close(): void {
    this.client.close();
  }
}

function headerMap(list: HeaderOption[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list ?? []) out[h.header.key] = h.header.value;
  return out;
}

export function decodeCheckResponse(res: Record<string, unknown>): CheckResult {
  const status = res.status as { code: number } | null;
  const grpcCode = status?.code ?? 0;
  const denied = res.denied_response as
    | { status: { code: string | number }; headers: HeaderOption[]; body: string }
    | undefined
    | null;
  const ok = res.ok_response as
    | {
        headers: HeaderOption[];
        headers_to_remove: string[];
        query_parameters_to_remove: string[];
        response_headers_to_add: HeaderOption[];
      }
    | undefined
    | null;
  const meta = fromStruct(res.dynamic_metadata as ProtoStruct | null);
  const requestContext = readRequestContextMetadata(res.dynamic_metadata as ProtoStruct | null);
  if (grpcCode !== 0 && denied) {
    const codeRaw = denied.status.code;
    return {
      grpcCode,
      allowed: false,
      httpStatus: typeof codeRaw === 'number' ? codeRaw : httpStatusOf(codeRaw),
      body: denied.body ? JSON.parse(denied.body) : null,
      headers: headerMap(denied.headers),
      headerOptions: denied.headers,
      headersToRemove: [],
      queryParamsToRemove: [],
      responseHeadersToAdd: {},
      dynamicMetadata: meta,
      requestContext,
      raw: res,
    };
  }
  return {
    grpcCode,
    allowed: grpcCode === 0,
    httpStatus: grpcCode === 0 ? 200 : 403,
    body: null,
    headers: headerMap(ok?.headers),
    headerOptions: ok?.headers ?? [],
    headersToRemove: ok?.headers_to_remove ?? [],
    queryParamsToRemove: ok?.query_parameters_to_remove ?? [],
    responseHeadersToAdd: headerMap(ok?.response_headers_to_add),
    dynamicMetadata: meta,
    requestContext,
    raw: res,
  };
}

/** envoy.type.v3.StatusCode enum names (enums: String) -> numbers, for the ones the adapter uses. */
const STATUS_NAMES: Record<string, number> = {
  OK: 200,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  TooManyRequests: 429,
  InternalServerError: 500,
  ServiceUnavailable: 503,
};

function httpStatusOf(name: string): number {
  const n = STATUS_NAMES[name];
  if (n === undefined) throw new Error(`unknown envoy StatusCode ${name}`);
  return n;
}
