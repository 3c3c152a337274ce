import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeStreamAccessLogsMessage } from '../../../adapter/als/decode.ts';
import { type HttpAccessLogEntry, mapAccessLogEntry } from '../../../adapter/als/mapping.ts';
import { accessLogService } from '../../../adapter/proto.ts';
import { WireError } from '../../../adapter/transport/http2/wire.ts';
import { contextOf } from '../emit/helpers.ts';
import { envoyEntry } from './fixtures.ts';

const NOW = new Date('2030-01-01T00:00:00Z');
const method = accessLogService().service.StreamAccessLogs!;
const encode = (entries: Record<string, unknown>[], tcp = 0) =>
  method.requestSerialize({
    identifier: { node: { id: 'sidecar~10.1.4.9~petstore' }, log_name: 'als' },
    http_logs: { log_entry: entries },
    ...(tcp ? { tcp_logs: { log_entry: Array.from({ length: tcp }, () => ({})) } } : {}),
  }) as Buffer;
const byProtoLoader = (b: Buffer) =>
  (method.requestDeserialize(b) as { http_logs: { log_entry: HttpAccessLogEntry[] } }).http_logs.log_entry;

/** The decoder is right when the mapping cannot tell it from proto-loader's whole-message decode. */
function sameMapping(entries: Record<string, unknown>[]): void {
  const b = encode(entries);
  const ours = decodeStreamAccessLogsMessage(b);
  const theirs = byProtoLoader(b);
  expect(ours.malformed.count).toBe(0);
  expect(ours.http_logs.log_entry.map((e) => mapAccessLogEntry(e, NOW))).toEqual(
    theirs.map((e) => mapAccessLogEntry(e, NOW)),
  );
}

describe('ALS wire decoder (only the fields the mapping reads)', () => {
  const ctx = contextOf('allowed-with-response');

  it("maps every fixture case exactly as proto-loader's decode does", () => {
    sameMapping([
      envoyEntry({ context: JSON.stringify(ctx) }), // as the check writes it: a JSON string
      envoyEntry({ context: ctx }), // a nested Struct
      envoyEntry({ context: null }), // a denial: no context
      envoyEntry({ context: 'not json' }),
      envoyEntry({ context: { requestId: 7 } }), // invalid context
      envoyEntry({ context: ctx, intermediate: true }),
      envoyEntry({ context: ctx, accessLogType: 'DownstreamPeriodic' }),
      envoyEntry({ context: ctx, accessLogType: 'DownstreamEnd' }),
      envoyEntry({ context: ctx, status: 0 }),
      envoyEntry({ context: ctx, status: 503, startMs: 0 }),
      { common_properties: { metadata: { filter_metadata: {} } } }, // no request, no response
      {},
    ]);
    const withHeaders = envoyEntry({ context: ctx }) as { response: Record<string, unknown> };
    withHeaders.response.response_headers = { 'content-type': 'application/json', other: 'x' };
    const bigBody = envoyEntry({ context: ctx }) as { response: Record<string, unknown> };
    bigBody.response.response_body_bytes = String(2 ** 40 + 3);
    sameMapping([withHeaders, bigBody]);
  });

  it('property: random request ids, statuses, timings, sizes and contexts map the same', () => {
    fc.assert(
      fc.property(
        fc.record({
          requestId: fc.string(),
          status: fc.integer({ min: 0, max: 999 }),
          startMs: fc.integer({ min: 0, max: 4_102_444_800_000 }),
          bytes: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
          context: fc.oneof(
            fc.constant(JSON.stringify(ctx)),
            fc.constant(null),
            fc.jsonValue().map((v) => ({ ...ctx, extra: v })),
            fc.string(),
          ),
        }),
        ({ bytes, ...o }) => {
          const e = envoyEntry(o) as { request: Record<string, unknown> };
          e.request.request_body_bytes = String(bytes);
          sameMapping([e]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('skips other metadata namespaces and counts TCP entries without reading them', () => {
    const b = encode([envoyEntry({ context: ctx })], 3);
    const out = decodeStreamAccessLogsMessage(b);
    expect(out.tcp_logs.log_entry.length).toBe(3);
    expect(Object.keys(out.http_logs.log_entry[0]!.common_properties!.metadata!.filter_metadata!)).toEqual([
      'envoy.filters.http.ext_authz',
    ]);
  });

  it('a malformed entry is dropped and counted; the entries around it are decoded', () => {
    const good = method.requestSerialize({
      http_logs: { log_entry: [envoyEntry({ context: JSON.stringify(ctx), requestId: 'a' })] },
    }) as Buffer;
    expect(good[0]).toBe(0x12);
    // The message is: field 2 (http_logs) { field 1 (log_entry) {...} }. Splice in a second log_entry
    // whose bytes are a truncated varint, between two good ones.
    const entryBytes = decodeLen(good, 0).payload; // http_logs' payload: one whole log_entry field
    const bad = Buffer.from([0x0a, 0x02, 0x08, 0xff]); // log_entry of 2 bytes: tag 1 varint, truncated
    const list = Buffer.concat([entryBytes, bad, entryBytes]);
    const msg = Buffer.concat([Buffer.from([0x12]), varint(list.length), list]);
    const out = decodeStreamAccessLogsMessage(msg);
    expect(out.malformed.count).toBe(1);
    expect(out.malformed.problem).toMatch(/truncated|overruns|wire type/);
    expect(out.http_logs.log_entry.map((e) => e.request?.request_id)).toEqual(['a', 'a']);
  });

  it('broken framing of the message itself throws a WireError (the call is answered INTERNAL)', () => {
    const b = encode([envoyEntry({ context: ctx })]);
    expect(() => decodeStreamAccessLogsMessage(b.subarray(0, b.length - 10))).toThrow(WireError);
    expect(() => decodeStreamAccessLogsMessage(Buffer.from([0x12, 0x05, 0x0a]))).toThrow(WireError);
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** The payload of the length-delimited field at `pos` (tag of one byte). */
function decodeLen(b: Buffer, pos: number): { payload: Buffer } {
  let p = pos + 1;
  let len = 0;
  let mul = 1;
  for (;;) {
    const byte = b[p++]!;
    len += (byte & 0x7f) * mul;
    if (byte < 0x80) break;
    mul *= 128;
  }
  return { payload: b.subarray(p, p + len) };
}
