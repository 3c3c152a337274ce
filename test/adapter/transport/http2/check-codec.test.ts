/**
 * The http2 transport's Check codec against the reference: decode() must give translate.ts the same
 * domain request as proto-loader's full decode, and encode() the same CheckResponse (after decoding
 * both) as response.ts's object mapping serialized by proto-loader. Property-based over the fuzz
 * suite's adversarial requests and over every decision kind.
 */
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../../../adapter/domain.ts';
import { emptyMatch } from '../../../../adapter/domain.ts';
import { envoyPackageDefinition } from '../../../../adapter/proto.ts';
import { toCheckResponse, toRequestContext } from '../../../../adapter/response.ts';
import { toCheckRequest } from '../../../../adapter/translate.ts';
import { CheckCodec } from '../../../../adapter/transport/http2/check-codec.ts';
import { WireError } from '../../../../adapter/transport/http2/wire.ts';
import { protoArb } from '../../../support/fuzz.ts';

type Ser = { serialize(v: unknown): Buffer; deserialize(b: Buffer): unknown };
const def = envoyPackageDefinition() as unknown as Record<string, Ser>;
const Req = def['envoy.service.auth.v3.CheckRequest']!;
const Res = def['envoy.service.auth.v3.CheckResponse']!;
const codec = new CheckCodec();

const unframe = (b: Buffer) => {
  expect(b[0]).toBe(0);
  expect(b.readUInt32BE(1)).toBe(b.length - 5);
  return b.subarray(5);
};

describe('CheckCodec.decode', () => {
  it('gives translate.ts what proto-loader gives it, for adversarial requests', () => {
    fc.assert(
      fc.property(protoArb(['a.b.c', 'tok']), (proto) => {
        const bytes = Req.serialize(proto);
        const reference = toCheckRequest(Req.deserialize(bytes) as never, 1);
        expect(toCheckRequest(codec.decode(bytes), 1)).toEqual(reference);
      }),
      { numRuns: 300 },
    );
  });

  it('reads the peer certificate Envoy sends with include_peer_certificate (URL-encoded PEM)', () => {
    const certificate = '-----BEGIN%20CERTIFICATE-----%0AMIIB%0A-----END%20CERTIFICATE-----%0A';
    const p = codec.decode(
      Req.serialize({ attributes: { source: { principal: 'spiffe://gw', certificate } } }),
    );
    expect(p.attributes?.source).toMatchObject({ principal: 'spiffe://gw', certificate });
  });

  it('reads the client address, principal and every header of a realistic request', () => {
    const bytes = Req.serialize({
      attributes: {
        source: {
          address: { socket_address: { address: '203.0.113.7', port_value: 5 } },
          principal: 'spiffe://x',
        },
        destination: { address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } },
        request: {
          time: { seconds: 5 },
          http: {
            id: '1',
            method: 'POST',
            path: '/a?b=1',
            host: 'h',
            scheme: 'https',
            protocol: 'HTTP/2',
            body: 'ignored',
            headers: { 'x-forwarded-for': '1.1.1.1', referer: 'https://r', traceparent: '00-ab-cd-01' },
          },
        },
        context_extensions: { api: 'petstore-v1' },
        metadata_context: { filter_metadata: { x: { fields: { y: { stringValue: 'z' } } } } },
      },
    });
    const p = codec.decode(bytes);
    expect(p.attributes?.source).toEqual({
      address: { socket_address: { address: '203.0.113.7' } },
      principal: 'spiffe://x',
    });
    expect(p.attributes?.context_extensions).toEqual({ api: 'petstore-v1' });
    expect(p.attributes?.request?.http).toMatchObject({
      method: 'POST',
      scheme: 'https',
      protocol: 'HTTP/2',
      headers: { 'x-forwarded-for': '1.1.1.1', referer: 'https://r', traceparent: '00-ab-cd-01' },
    });
  });

  it.each([
    ['truncated length', Buffer.from([0x0a, 0x05, 0x01])],
    ['overlong varint', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ['group wire type', Buffer.from([0x0b])],
    ['truncated fixed64', Buffer.from([0x09, 1, 2])],
  ])('malformed protobuf (%s) is a WireError', (_name, bytes) => {
    expect(() => codec.decode(bytes)).toThrow(WireError);
  });
});

const api = {
  id: 'petstore-v1',
  name: 'petstore',
  version: 'v1',
  context: '/petstore/v1',
  creator: 'a',
  creatorTenantDomain: 'carbon.super',
  type: 'HTTP',
};
const allow = (o: Partial<Extract<Decision, { kind: 'allow' }>> = {}): Decision => ({
  kind: 'allow',
  httpStatus: 200,
  code: null,
  reason: 'OK',
  match: { ...emptyMatch(), api },
  overQuota: false,
  throttleKey: null,
  rateLimit: null,
  headersToSet: { 'x-mesh-apim-api-id': 'petstore-v1', 'x-mesh-apim-application-name': 'démo app' },
  headersToRemove: ['x-mesh-apim-user', 'apikey'],
  queryParamsToRemove: [],
  ...o,
});
const deny = (kind: Exclude<Decision['kind'], 'allow'>, headers: Record<string, string> = {}): Decision =>
  ({
    kind,
    httpStatus: 429,
    code: 900800,
    message: 'Message throttled out',
    description: 'You have exceeded your quota',
    reason: 'SUBSCRIPTION_LIMIT_EXCEEDED',
    match: emptyMatch(),
    throttleKey: null,
    headers,
  }) as Decision;

describe('CheckCodec.encode', () => {
  const request = toCheckRequest(
    { attributes: { request: { http: { path: '/petstore/v1/pets', headers: { 'user-agent': 'ua' } } } } },
    5,
  );
  it.each<[string, Decision]>([
    ['allow', allow()],
    [
      'allow with rate-limit headers and removed query parameters',
      allow({
        rateLimit: { limit: 10, remaining: 3, resetSeconds: 42 },
        queryParamsToRemove: ['apikey', 'access_token'],
      }),
    ],
    [
      'allow with rate-limit values that change call by call (written, not cached)',
      allow({ rateLimit: { limit: 1_000_000_000, remaining: 0, resetSeconds: 86_400 } }),
    ],
    ['allow with nothing to set', allow({ headersToSet: {}, headersToRemove: [] })],
    ['unauthenticated', deny('unauthenticated', { 'www-authenticate': 'Bearer' })],
    ['forbidden', deny('forbidden')],
    ['not-found', deny('not-found')],
    ['rate-limited', deny('rate-limited', { 'retry-after': '7', 'x-ratelimit-limit': '10' })],
    ['unavailable', deny('unavailable')],
  ])('%s: the same CheckResponse as response.ts (twice: cached pieces too)', (_name, d) => {
    const context = d.kind === 'allow' ? toRequestContext(request, d, 'apikey', 'i-1') : null;
    const reference = Res.deserialize(Res.serialize(toCheckResponse(d, context)));
    for (let i = 0; i < 2; i++) expect(Res.deserialize(unframe(codec.encode(d, context)))).toEqual(reference);
  });

  it('the last-resort status-only answers decode as such', () => {
    expect(Res.deserialize(unframe(codec.statusOnly(14, 'INTERNAL_ERROR')))).toMatchObject({
      status: { code: 14, message: 'INTERNAL_ERROR' },
    });
  });
});
