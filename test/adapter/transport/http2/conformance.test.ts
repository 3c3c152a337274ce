/**
 * gRPC conformance of the http2 transport (adapter/transport/http2) against the running adapter:
 * a real grpc-js client from Envoy's protos, a raw node:http2 client for what well-behaved clients
 * never send, a raw TCP socket for broken HTTP/2, and the two load tools the bench uses: ghz
 * (grpc-go) and h2load (nghttp2). Without a tool its case is skipped locally and fails in CI.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckClient, decodeCheckResponse } from '../../../../adapter/check-client.ts';
import { ENVOY_PROTO_INCLUDE_DIRS, EXT_AUTHZ_PROTO, envoyProtos } from '../../../../adapter/proto.ts';
import { startTestAdapter, type TestAdapter } from '../../../support/adapter.ts';
import {
  CHECK,
  checkRequestBytes,
  decodeCheckResponseBytes,
  GRPC_REQUEST_HEADERS,
  grpcFrame,
  H2,
  rawCall,
  session,
} from '../../../support/grpc-raw.ts';

const execFileAsync = promisify(execFile);
const MAX = 256 * 1024;
const REQUEST_TIMEOUT_MS = 400;

function tool(name: string): string | null {
  const cached = join(process.env.MESH_APIM_BENCH_BIN ?? join(homedir(), '.cache', 'mesh-apim', 'bin'), name);
  if (existsSync(cached)) return cached;
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  if (process.env.CI === 'true') throw new Error(`${name} is not installed (.ci/run installs it)`);
  console.warn(`${name} not found: its conformance case is SKIPPED (CI=true fails instead)`);
  return null;
}

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The frames in what a server sent (after its preface-less start: servers send frames only). */
function framesOf(b: Buffer): { type: number; flags: number; stream: number }[] {
  const out: { type: number; flags: number; stream: number }[] = [];
  for (let p = 0; p + 9 <= b.length; ) {
    const len = b.readUIntBE(p, 3);
    out.push({ type: b[p + 3]!, flags: b[p + 4]!, stream: b.readUInt32BE(p + 5) & 0x7fffffff });
    p += 9 + len;
  }
  return out;
}

async function metric(t: TestAdapter, reason: string): Promise<number> {
  const m = (await t.adapter.metrics.registry.getMetricsAsJSON()).find(
    (x) => x.name === 'mesh_apim_grpc_transport_errors_total',
  );
  return (m?.values ?? []).filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}

describe('http2 transport: gRPC conformance', () => {
  let t: TestAdapter;
  let port: number;
  let key: string;
  beforeAll(async () => {
    t = await startTestAdapter({
      transport: 'http2',
      overrides: {
        'adapter.grpcMaxMessageBytes': MAX,
        'adapter.grpcRequestTimeoutMs': REQUEST_TIMEOUT_MS,
        'adapter.grpcMaxConcurrentStreams': 1000,
        'adapter.grpcKeepaliveIntervalMs': 100,
      },
    });
    port = t.adapter.grpcPort;
    key = await t.apiKey('demo-app');
  });
  afterAll(async () => {
    await t?.close();
  });

  const validRequest = () => checkRequestBytes({ path: '/petstore/v1/pets', headers: { apikey: key } });

  describe('grpc-js client', () => {
    it('answers Check, with a message over 64 KB (several DATA frames, past the initial window)', async () => {
      const res = await t.client.check({
        path: '/petstore/v1/pets',
        headers: { apikey: key, 'x-padding': 'p'.repeat(100 * 1024) },
      });
      expect(res.allowed).toBe(true);
    });

    it('a message over the configured max is RESOURCE_EXHAUSTED', async () => {
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        t.client.client.Check(
          CheckClient.request({ path: '/x', headers: { big: 'b'.repeat(MAX + 1) } }),
          (e) => resolve(e),
        ),
      );
      expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(await metric(t, 'message-too-large')).toBeGreaterThan(0);
    });

    it('unknown methods and unknown services are UNIMPLEMENTED', async () => {
      const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      const call = (path: string) =>
        new Promise<grpc.ServiceError | null>((resolve) =>
          c.makeUnaryRequest(
            path,
            (x: Buffer) => x,
            (x: Buffer) => x,
            Buffer.alloc(0),
            (e) => resolve(e),
          ),
        );
      const m = await call('/envoy.service.auth.v3.Authorization/Nope');
      const s = await call('/no.such.Service/Check');
      c.close();
      expect([m?.code, m?.details]).toEqual([
        grpc.status.UNIMPLEMENTED,
        'method /envoy.service.auth.v3.Authorization/Nope not implemented',
      ]);
      expect([s?.code, s?.details]).toEqual([
        grpc.status.UNIMPLEMENTED,
        'service no.such.Service not implemented',
      ]);
    });

    it('honours gzip-compressed requests', async () => {
      const Ctor = (
        envoyProtos().envoy as never as {
          service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } };
        }
      ).service.auth.v3.Authorization;
      const c = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        'grpc.default_compression_algorithm': 2, // gzip
      }) as unknown as { Check: CheckClient['client']['Check']; close(): void };
      const res = await new Promise<Record<string, unknown>>((resolve, reject) =>
        c.Check(CheckClient.request({ path: '/petstore/v1/pets', headers: { apikey: key } }), (e, r) =>
          e ? reject(e) : resolve(r),
        ),
      );
      c.close();
      expect(decodeCheckResponse(res).allowed).toBe(true);
    });

    it('a call with a grpc-js deadline (grpc-timeout header) is answered within it', async () => {
      const client = t.client.client as unknown as {
        Check(
          req: unknown,
          opts: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null, r: Record<string, unknown>) => void,
        ): void;
      };
      const res = await new Promise<Record<string, unknown>>((resolve, reject) =>
        client.Check(
          CheckClient.request({ path: '/petstore/v1/pets', headers: { apikey: key } }),
          { deadline: Date.now() + 5000 },
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      );
      expect(decodeCheckResponse(res).allowed).toBe(true);
    });
  });

  describe('raw HTTP/2 client', () => {
    it('answers a well-formed Check sent by hand', async () => {
      const s = session(port);
      const { result } = rawCall(s, { body: [grpcFrame(validRequest())] });
      const r = await result;
      s.close();
      expect([r.httpStatus, r.grpcStatus, r.headers['content-type']]).toEqual([200, 0, 'application/grpc']);
      expect(decodeCheckResponse(decodeCheckResponseBytes(r.messages[0]!)).allowed).toBe(true);
    });

    it('grpc-timeout: a half-sent request is DEADLINE_EXCEEDED at the deadline', async () => {
      const s = session(port);
      const body = grpcFrame(validRequest());
      const { result } = rawCall(s, {
        headers: { 'grpc-timeout': '50m' },
        body: [body.subarray(0, 20)],
        end: false,
      });
      const r = await result;
      s.close();
      expect([r.grpcStatus, r.grpcMessage]).toEqual([4, 'deadline exceeded']);
    });

    it('calls with different deadlines on one connection each expire at their own, earliest first; a call answered in time is OK', async () => {
      const s = session(port);
      const body = grpcFrame(validRequest());
      const order: string[] = [];
      const half = (name: string, timeout?: string) =>
        rawCall(s, {
          ...(timeout ? { headers: { 'grpc-timeout': timeout } } : {}),
          body: [body.subarray(0, 20)],
          end: false,
        }).result.then((r) => {
          order.push(name);
          return [name, r.grpcStatus, r.grpcMessage];
        });
      const calls = [
        half('300 ms', '300m'),
        half('no grpc-timeout'), // the server's request timeout, 400 ms
        half('40 ms', '40000u'),
        half('150 ms', '150m'),
        half('deadline after the request timeout', '2S'),
      ];
      const answered = await rawCall(s, { headers: { 'grpc-timeout': '5S' }, body: [body] }).result;
      const results = await Promise.all(calls);
      s.close();
      expect(answered.grpcStatus).toBe(0);
      expect(order).toEqual([
        '40 ms',
        '150 ms',
        '300 ms',
        'no grpc-timeout',
        'deadline after the request timeout',
      ]);
      const byRequestTimeout = `request not completed within ${REQUEST_TIMEOUT_MS} ms`;
      expect(results).toEqual([
        ['300 ms', 4, 'deadline exceeded'],
        ['no grpc-timeout', 4, byRequestTimeout],
        ['40 ms', 4, 'deadline exceeded'],
        ['150 ms', 4, 'deadline exceeded'],
        ['deadline after the request timeout', 4, byRequestTimeout],
      ]);
    });

    it('malformed grpc-timeout is INTERNAL', async () => {
      const s = session(port);
      const r = await rawCall(s, {
        headers: { 'grpc-timeout': '10 seconds' },
        body: [grpcFrame(validRequest())],
      }).result;
      s.close();
      expect(r.grpcStatus).toBe(13);
    });

    it('10,000 half-sent streams are all timed out by the request timeout; the server keeps answering', async () => {
      const sessions = Array.from({ length: 10 }, () => session(port));
      const before = await metric(t, 'request-timeout');
      const partial = grpcFrame(validRequest()).subarray(0, 30);
      const results: Promise<{ grpcStatus: number | null }>[] = [];
      for (const s of sessions) {
        for (let i = 0; i < 1000; i++) results.push(rawCall(s, { body: [partial], end: false }).result);
      }
      const all = await Promise.all(results);
      for (const s of sessions) s.close();
      const codes = new Map<number | null, number>();
      for (const r of all) codes.set(r.grpcStatus, (codes.get(r.grpcStatus) ?? 0) + 1);
      expect(Object.fromEntries(codes)).toEqual({ 4: 10_000 });
      expect((await metric(t, 'request-timeout')) - before).toBe(10_000);
      expect((await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } })).allowed).toBe(
        true,
      );
    }, 60_000);

    it('a wrong content-type is HTTP 415', async () => {
      const s = session(port);
      const r = await rawCall(s, {
        headers: { 'content-type': 'application/json' },
        body: [Buffer.from('{}')],
      }).result;
      s.close();
      expect(r.httpStatus).toBe(415);
    });

    it('an unknown grpc-encoding is UNIMPLEMENTED, naming the accepted ones', async () => {
      const s = session(port);
      const r = await rawCall(s, {
        headers: { 'grpc-encoding': 'snappy' },
        body: [grpcFrame(validRequest(), { compressed: true })],
      }).result;
      s.close();
      expect(r.grpcStatus).toBe(12);
      expect(r.grpcMessage).toMatch(/identity,deflate,gzip/);
    });

    it('gzip by hand is honoured; the compressed flag with identity encoding is INTERNAL', async () => {
      const s = session(port);
      const gz = await rawCall(s, {
        headers: { 'grpc-encoding': 'gzip' },
        body: [grpcFrame(gzipSync(validRequest()), { compressed: true })],
      }).result;
      const bad = await rawCall(s, { body: [grpcFrame(validRequest(), { compressed: true })] }).result;
      const bomb = await rawCall(s, {
        headers: { 'grpc-encoding': 'gzip' },
        body: [grpcFrame(gzipSync(Buffer.alloc(MAX * 4)), { compressed: true })],
      }).result;
      s.close();
      expect(gz.grpcStatus).toBe(0);
      expect(bad.grpcStatus).toBe(13);
      expect(bomb.grpcStatus).toBe(8);
    });

    it('a declared length over the max is RESOURCE_EXHAUSTED before the payload arrives', async () => {
      const s = session(port);
      const head = grpcFrame(Buffer.alloc(0), { declared: MAX + 1 });
      const r = await rawCall(s, { body: [head], end: false }).result;
      s.close();
      expect(r.grpcStatus).toBe(8);
    });

    it('a bad length prefix (stream ends inside the message), garbage protobuf, two messages, no message: INTERNAL', async () => {
      const s = session(port);
      const msg = validRequest();
      const cases = await Promise.all([
        rawCall(s, { body: [grpcFrame(msg, { declared: msg.length + 100 })] }).result,
        rawCall(s, { body: [grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]))] }).result,
        rawCall(s, { body: [grpcFrame(msg), grpcFrame(msg)] }).result,
        rawCall(s, { body: [] }).result,
        rawCall(s, { body: [Buffer.from([7, 0, 0, 0, 0])] }).result,
      ]);
      s.close();
      expect(cases.map((c) => c.grpcStatus)).toEqual([13, 13, 13, 13, 13]);
    });

    it('a client RST_STREAM mid-request (no END_STREAM) is counted as a reset; the connection goes on', async () => {
      const before = await metric(t, 'client-reset');
      const part = grpcFrame(validRequest()).subarray(0, 40);
      const sock = netConnect(port, '127.0.0.1');
      sock.on('error', () => {});
      const got: Buffer[] = [];
      sock.on('data', (d) => got.push(d));
      await new Promise((r) => sock.once('connect', r));
      sock.write(
        Buffer.concat([H2.PREFACE, H2.settings(), H2.headers(1, GRPC_REQUEST_HEADERS()), H2.data(1, part)]),
      );
      await new Promise((r) => setTimeout(r, 50));
      sock.write(H2.rst(1, constants.NGHTTP2_CANCEL));
      // The same connection still serves a whole call on the next stream.
      sock.write(
        Buffer.concat([H2.headers(3, GRPC_REQUEST_HEADERS()), H2.data(3, grpcFrame(validRequest()), true)]),
      );
      await until(async () => (await metric(t, 'client-reset')) - before === 1);
      await until(() =>
        framesOf(Buffer.concat(got)).some((f) => f.type === 1 && f.stream === 3 && (f.flags & 1) === 1),
      );
      const frames = framesOf(Buffer.concat(got));
      sock.destroy();
      expect(frames.filter((f) => f.stream === 1)).toEqual([]);
      expect(frames.some((f) => f.type === 7)).toBe(false);
    });

    it('clients that reset right after a whole request (before the answer): no crash, the server keeps answering', async () => {
      const whole = grpcFrame(validRequest());
      const sock = netConnect(port, '127.0.0.1');
      sock.on('error', () => {});
      await new Promise((r) => sock.once('connect', r));
      const frames: Buffer[] = [H2.PREFACE, H2.settings()];
      for (let id = 1; id < 1000; id += 2) {
        frames.push(
          H2.headers(id, GRPC_REQUEST_HEADERS()),
          H2.data(id, whole, true),
          H2.rst(id, constants.NGHTTP2_CANCEL),
        );
      }
      sock.write(Buffer.concat(frames));
      await new Promise((r) => setTimeout(r, 300));
      sock.destroy();
      expect((await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } })).allowed).toBe(
        true,
      );
    });

    it('advertises the stream bound, answers PINGs and sends its own (keepalive)', async () => {
      const s = session(port);
      await new Promise((r) => s.once('remoteSettings', r));
      expect(s.remoteSettings.maxConcurrentStreams).toBe(1000);
      const pinged = new Promise<void>((r) => s.once('ping', () => r()));
      const rtt = await new Promise<number>((resolve, reject) =>
        s.ping((err, ms) => (err ? reject(err) : resolve(ms))),
      );
      expect(rtt).toBeGreaterThanOrEqual(0);
      await pinged; // adapter.grpcKeepaliveIntervalMs = 100 here
      s.close();
    });

    it('flow control: an answer larger than the client window waits for WINDOW_UPDATE and arrives whole', async () => {
      const s = session(port, { initialWindowSize: 64 });
      const { stream, result } = rawCall(s, { body: [grpcFrame(validRequest())] });
      stream.pause();
      await new Promise((r) => setTimeout(r, 50));
      stream.resume();
      const r = await result;
      s.close();
      expect(r.grpcStatus).toBe(0);
      expect(decodeCheckResponse(decodeCheckResponseBytes(r.messages[0]!)).allowed).toBe(true);
    });

    it('health: Check for known and unknown services; Watch streams the status', async () => {
      const s = session(port);
      const req = (service: string) =>
        grpcFrame(Buffer.concat([Buffer.from([10, service.length]), Buffer.from(service)]));
      const ok = await rawCall(s, { path: '/grpc.health.v1.Health/Check', body: [req('')] }).result;
      const unknown = await rawCall(s, { path: '/grpc.health.v1.Health/Check', body: [req('nope')] }).result;
      const watch = rawCall(s, {
        path: '/grpc.health.v1.Health/Watch',
        body: [req('envoy.service.auth.v3.Authorization')],
      });
      await new Promise((r) => setTimeout(r, 50));
      t.adapter.server.setServing(false);
      await new Promise((r) => setTimeout(r, 50));
      t.adapter.server.setServing(true);
      await new Promise((r) => setTimeout(r, 50));
      watch.stream.close(constants.NGHTTP2_CANCEL);
      const w = await watch.result;
      s.close();
      expect([ok.grpcStatus, [...ok.messages[0]!]]).toEqual([0, [8, 1]]);
      expect(unknown.grpcStatus).toBe(5);
      expect(w.messages.map((m) => m[1])).toEqual([1, 2, 1]);
    });
  });

  describe('broken HTTP/2 on a raw socket', () => {
    const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    const settingsFrame = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

    async function sendRaw(bytes: Buffer): Promise<{ closed: boolean; received: Buffer }> {
      return new Promise((resolve) => {
        const sock = netConnect(port, '127.0.0.1');
        const got: Buffer[] = [];
        const timer = setTimeout(() => {
          sock.destroy();
          resolve({ closed: false, received: Buffer.concat(got) });
        }, 2000);
        sock.on('data', (d) => got.push(d));
        sock.on('error', () => {});
        sock.on('close', () => {
          clearTimeout(timer);
          resolve({ closed: true, received: Buffer.concat(got) });
        });
        sock.write(bytes);
      });
    }

    /** Frame type 7 (GOAWAY) somewhere in what the server sent. */
    const hasGoaway = (b: Buffer) => {
      for (let p = 0; p + 9 <= b.length; ) {
        const len = b.readUIntBE(p, 3);
        if (b[p + 3] === 7) return true;
        p += 9 + len;
      }
      return false;
    };

    it.each([
      ['a DATA frame on stream 0', Buffer.from([0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41])],
      [
        'a frame longer than SETTINGS_MAX_FRAME_SIZE',
        Buffer.concat([Buffer.from([0x01, 0, 0, 0, 0, 0, 0, 0, 1]), Buffer.alloc(300)]),
      ],
      ['a SETTINGS frame of bad length', Buffer.from([0, 0, 5, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5])],
      [
        'HEADERS with a garbage HPACK block',
        Buffer.from([0, 0, 4, 1, 5, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]),
      ],
    ])('%s: GOAWAY and the connection is closed; the server keeps serving', async (_name, frame) => {
      const r = await sendRaw(Buffer.concat([PREFACE, settingsFrame, frame]));
      expect(r.closed).toBe(true);
      expect(hasGoaway(r.received)).toBe(true);
      expect((await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } })).allowed).toBe(
        true,
      );
    });

    it('not HTTP/2 at all (an HTTP/1.1 request): the connection is closed', async () => {
      const r = await sendRaw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      expect(r.closed).toBe(true);
      expect((await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } })).allowed).toBe(
        true,
      );
    });
  });

  describe('load tools (an adapter with the default limits)', () => {
    let lt: TestAdapter;
    beforeAll(async () => {
      lt = await startTestAdapter({ transport: 'http2' });
    });
    afterAll(async () => {
      await lt?.close();
    });

    it('ghz (grpc-go): 2,000 Checks over 4 connections, every one OK', async () => {
      const ghz = tool('ghz');
      if (!ghz) return;
      const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-ghz-'));
      try {
        const data = join(dir, 'req.json');
        writeFileSync(
          data,
          JSON.stringify(
            CheckClient.request({
              path: '/petstore/v1/pets',
              headers: { apikey: await lt.apiKey('demo-app') },
            }),
          ),
        );
        const { stdout: out } = await execFileAsync(
          ghz,
          [
            '--insecure',
            '--proto',
            EXT_AUTHZ_PROTO,
            '-i',
            ENVOY_PROTO_INCLUDE_DIRS.join(','),
            '--call',
            'envoy.service.auth.v3.Authorization.Check',
            '-D',
            data,
            '-n',
            '2000',
            '-c',
            '16',
            '--connections',
            '4',
            '-O',
            'json',
            `127.0.0.1:${lt.adapter.grpcPort}`,
          ],
          { encoding: 'utf8', timeout: 60_000 }, // async: the adapter runs in this process
        );
        const r = JSON.parse(out) as { count: number; statusCodeDistribution: Record<string, number> };
        expect(r.statusCodeDistribution).toEqual({ OK: 2000 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 90_000);

    it('h2load (nghttp2): 2,000 Checks, 4 connections x 16 streams, all 200 with grpc-status 0', async () => {
      const h2load = tool('h2load');
      if (!h2load) return;
      const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-h2load-'));
      try {
        const data = join(dir, 'req.bin');
        writeFileSync(
          data,
          grpcFrame(
            checkRequestBytes({
              path: '/petstore/v1/pets',
              headers: { apikey: await lt.apiKey('demo-app') },
            }),
          ),
        );
        const { stdout: out } = await execFileAsync(
          h2load,
          [
            '-n',
            '2000',
            '-c',
            '4',
            '-m',
            '16',
            '-d',
            data,
            '-H',
            'content-type: application/grpc',
            '-H',
            'te: trailers',
            `http://127.0.0.1:${lt.adapter.grpcPort}${CHECK}`,
          ],
          { encoding: 'utf8', timeout: 60_000 }, // async: the adapter runs in this process
        );
        expect(out).toMatch(
          /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/,
        );
        expect(out).toMatch(/status codes: 2000 2xx/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 90_000);
  });
});

describe('http2 transport: GOAWAY and draining on stop', () => {
  it('a call in flight when stop() begins finishes; the client gets GOAWAY; new streams are refused', async () => {
    const t = await startTestAdapter({ transport: 'http2' });
    try {
      const key = await t.apiKey('demo-app');
      const s = session(t.adapter.grpcPort);
      const goaway = new Promise<void>((r) => s.once('goaway', () => r()));
      const body = grpcFrame(checkRequestBytes({ path: '/petstore/v1/pets', headers: { apikey: key } }));
      const { stream, result } = rawCall(s, { body: [body.subarray(0, 50)], end: false });
      await new Promise((r) => setTimeout(r, 30));
      const stopped = t.adapter.stop();
      await goaway;
      stream.end(body.subarray(50));
      const r = await result;
      expect(r.grpcStatus).toBe(0);
      expect(decodeCheckResponse(decodeCheckResponseBytes(r.messages[0]!)).allowed).toBe(true);
      await stopped;
      s.destroy();
    } finally {
      await t.close();
    }
  });
});
