/**
 * The http2 transport (adapter.transport=http2, the default): a gRPC server on node:http2 with the
 * framing done here, no per-call machinery of grpc-js. Check has its own decoder and encoder
 * (check-codec.ts); grpc.health.v1 is built in (Check, and Watch as a server stream); services
 * registered with addService() (the access-log client stream) run their grpc-js style handlers
 * over a small call object, with the definition's own (de)serializers.
 *
 * A correct gRPC server first: grpc-timeout deadlines and a per-call request timeout (a unary call
 * half sent is answered DEADLINE_EXCEEDED), message size limits (RESOURCE_EXHAUSTED), UNIMPLEMENTED
 * for unknown methods and encodings, gzip/deflate requests, GOAWAY + drain on stop, server PINGs
 * (keepalive), bounded streams per connection. Bad input gets a status and a (rate-limited) log
 * line; nothing a client sends reaches a throw outside a handler.
 */
import { EventEmitter } from 'node:events';
import {
  constants,
  createServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { errorMessage } from '../../../common/errors.ts';
import { createLogger, type Logger } from '../../../common/log.ts';
import { isPromise } from '../../../common/maybe-promise.ts';
import type { CheckRecord } from '../../check-record.ts';
import {
  AUTHORIZATION_SERVICE_NAME,
  CHECK_PATH,
  type CheckHandler,
  type CheckResponder,
  type Transport,
  type TransportLimits,
} from '../types.ts';
import { CheckCodec } from './check-codec.ts';
import { Deadlines } from './deadlines.ts';
import {
  ACCEPT_ENCODING,
  Deframer,
  decompress,
  frame,
  GrpcError,
  isSupportedEncoding,
  parseTimeout,
  RESPONSE_HEADERS,
  Status,
  sendStatus,
  sendUnary,
} from './framing.ts';
import {
  decodeHealthRequest,
  encodeHealthResponse,
  HEALTH_CHECK_PATH,
  HEALTH_WATCH_PATH,
  HealthStatus,
} from './health.ts';

type Method =
  | { kind: 'check' }
  | { kind: 'health-check' }
  | { kind: 'health-watch' }
  | { kind: 'unary'; def: grpc.MethodDefinition<unknown, unknown>; impl: grpc.UntypedHandleCall }
  | { kind: 'client-stream'; def: grpc.MethodDefinition<unknown, unknown>; impl: grpc.UntypedHandleCall };

/** One call (stream) in flight. */
interface Call {
  stream: ServerHttp2Stream;
  path: string;
  method: Method;
  encoding: string | undefined;
  /** Its bucket in Http2Transport.deadlines, -1 when it has no deadline (or it has passed). */
  deadlineKey: number;
  /** Why it expires: the client's grpc-timeout or the server's own request timeout. */
  deadlineIsClients: boolean;
  /** The status or response is sent (or the stream is gone): nothing more is written. */
  done: boolean;
  messages: Buffer[];
  /** Client-stream handler's call object. */
  emitter: ServerCallEmitter | null;
}

/** The grpc-js ServerReadableStream / ServerUnaryCall surface handlers use. */
class ServerCallEmitter extends EventEmitter {
  cancelled = false;
  request: unknown = undefined;
  constructor(
    readonly metadata: grpc.Metadata | undefined,
    private readonly peer: string,
  ) {
    super();
  }
  getPeer(): string {
    return this.peer;
  }
}

const NOOP = () => {};

/** Logs bad input at most once per second per reason, with the count of the lines left out. */
class BadInputLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(private readonly log: Logger) {}
  warn(reason: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const e = this.last.get(reason);
    if (e && now - e.at < 1000) {
      e.suppressed++;
      return;
    }
    this.log.warn({ reason, suppressed: e?.suppressed ?? 0, ...fields }, message);
    this.last.set(reason, { at: now, suppressed: 0 });
  }
}

export interface Http2TransportOptions {
  check: CheckHandler;
  limits: TransportLimits;
  /** Counter of answered-with-error/dropped calls (AdapterMetrics.transportErrors). */
  errors?: { inc(labels: { transport: string; reason: string }): void };
  logger?: Logger;
}

export class Http2Transport implements Transport {
  private readonly check: CheckHandler;
  private readonly limits: TransportLimits;
  private readonly log: Logger;
  private readonly bad: BadInputLog;
  private readonly codec = new CheckCodec();
  private readonly responder: CheckResponder<Buffer>;
  private readonly methods = new Map<string, Method>();
  private readonly services = new Set<string>();
  private readonly sessions = new Set<Http2Session>();
  private readonly calls = new Set<Call>();
  private readonly deadlines = new Deadlines<Call>((call) => this.expire(call));
  private readonly health = new Map<string, number>([
    ['', HealthStatus.NOT_SERVING],
    [AUTHORIZATION_SERVICE_NAME, HealthStatus.NOT_SERVING],
  ]);
  private readonly watchers = new Set<{ call: Call; service: string }>();
  private readonly errors: NonNullable<Http2TransportOptions['errors']>;
  private server: Http2Server | null = null;
  private draining = false;

  constructor(options: Http2TransportOptions) {
    this.check = options.check;
    this.limits = options.limits;
    this.log = options.logger ?? createLogger('grpc');
    this.bad = new BadInputLog(this.log);
    this.errors = options.errors ?? { inc: NOOP };
    const codec = this.codec;
    this.responder = {
      respond: (decision, context) => codec.encode(decision, context),
      failed: (mode) =>
        mode === 'open' ? codec.statusOnly(0, 'FAIL_OPEN') : codec.statusOnly(14, 'INTERNAL_ERROR'),
    };
    this.methods.set(CHECK_PATH, { kind: 'check' });
    this.methods.set(HEALTH_CHECK_PATH, { kind: 'health-check' });
    this.methods.set(HEALTH_WATCH_PATH, { kind: 'health-watch' });
    this.services.add(AUTHORIZATION_SERVICE_NAME).add('grpc.health.v1.Health');
  }

  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    if (this.server) throw new Error('addService must be called before start()');
    for (const [name, def] of Object.entries(service)) {
      const impl = implementation[name];
      if (!impl) throw new Error(`no implementation for ${def.path}`);
      if (def.responseStream)
        throw new Error(`${def.path}: server-streaming handlers are not supported by the http2 transport`);
      const m = def as grpc.MethodDefinition<unknown, unknown>;
      this.methods.set(
        def.path,
        def.requestStream ? { kind: 'client-stream', def: m, impl } : { kind: 'unary', def: m, impl },
      );
      this.services.add(def.path.split('/')[1]!);
    }
  }

  setServing(serving: boolean): void {
    const s = serving ? HealthStatus.SERVING : HealthStatus.NOT_SERVING;
    this.health.set('', s);
    this.health.set(AUTHORIZATION_SERVICE_NAME, s);
    for (const w of this.watchers) this.writeHealth(w.call, w.service);
  }

  start(address: string): Promise<number> {
    const at = address.lastIndexOf(':');
    const host = address.slice(0, at).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(at + 1));
    const server = createServer({
      settings: { maxConcurrentStreams: this.limits.maxConcurrentStreams },
      // Streams over the limit are refused (RST_STREAM REFUSED_STREAM); a client that keeps
      // opening them past maxSessionRejectedStreams loses the connection (nghttp2's flood guard).
      peerMaxConcurrentStreams: this.limits.maxConcurrentStreams,
    });
    this.server = server;
    server.on('session', (s) => this.onSession(s));
    server.on('stream', (stream, headers) => this.onStream(stream, headers));
    server.on('sessionError', (err) =>
      this.bad.warn('session-error', { err: errorMessage(err) }, 'HTTP/2 session error'),
    );
    server.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'HTTP/2 server error'));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const bound = (server.address() as AddressInfo).port;
        this.log.info({ address, port: bound, transport: 'http2' }, 'gRPC server listening');
        resolve(bound);
      });
    });
  }

  async stop(graceMs: number): Promise<void> {
    const server = this.server;
    if (!server || this.draining) return;
    this.draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // GOAWAY on every connection: in-flight calls finish, no new stream is accepted.
    for (const s of this.sessions) s.close();
    // Long-lived calls end now: health watchers with OK, client streams as if the client ended
    // them (their handler answers; everything received so far is processed).
    for (const w of this.watchers) this.finishWatch(w.call);
    for (const c of this.calls) if (c.emitter && !c.done) c.emitter.emit('end');
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
    this.deadlines.close();
  }

  // ---------------------------------------------------------------- connections

  private onSession(session: Http2Session): void {
    this.sessions.add(session);
    session.on('error', (err) =>
      this.bad.warn('session-error', { err: errorMessage(err) }, 'HTTP/2 connection error'),
    );
    session.on('frameError', (type: number, code: number) =>
      this.bad.warn('frame-error', { type, code }, 'HTTP/2 frame could not be sent'),
    );
    let ping: NodeJS.Timeout | null = null;
    if (this.limits.keepaliveIntervalMs > 0) {
      ping = setInterval(() => this.keepalive(session), this.limits.keepaliveIntervalMs);
      ping.unref();
    }
    session.once('close', () => {
      this.sessions.delete(session);
      if (ping) clearInterval(ping);
    });
    if (this.draining) session.close();
  }

  private keepalive(session: Http2Session): void {
    if (session.destroyed || session.closed) return;
    const timeout = setTimeout(() => {
      this.bad.warn('keepalive-timeout', {}, 'HTTP/2 keepalive PING unanswered: closing the connection');
      session.destroy();
    }, this.limits.keepaliveTimeoutMs);
    timeout.unref();
    try {
      session.ping((err) => {
        clearTimeout(timeout);
        if (err) session.destroy();
      });
    } catch {
      clearTimeout(timeout);
    }
  }

  // ---------------------------------------------------------------- calls

  private fail(call: Call, err: GrpcError): void {
    if (call.done) return;
    call.done = true;
    this.finish(call);
    this.errors.inc({ transport: 'http2', reason: err.reason });
    if (err.code !== Status.DEADLINE_EXCEEDED && err.code !== Status.CANCELLED) {
      this.bad.warn(err.reason, { path: call.path, code: err.code, err: err.message }, 'gRPC call rejected');
    }
    sendStatus(call.stream, err.code, err.message);
    if (call.emitter) {
      call.emitter.cancelled = true;
      call.emitter.emit('cancelled');
    }
  }

  private finish(call: Call): void {
    if (call.deadlineKey >= 0) this.deadlines.remove(call, call.deadlineKey);
    call.deadlineKey = -1;
    this.calls.delete(call);
  }

  private expire(call: Call): void {
    call.deadlineKey = -1; // its bucket is gone already
    this.fail(
      call,
      call.deadlineIsClients
        ? new GrpcError(Status.DEADLINE_EXCEEDED, 'deadline exceeded', 'deadline')
        : new GrpcError(
            Status.DEADLINE_EXCEEDED,
            `request not completed within ${this.limits.requestTimeoutMs} ms`,
            'request-timeout',
          ),
    );
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', NOOP); // resets and protocol errors also arrive as 'close'; handled there
    const path = String(headers[constants.HTTP2_HEADER_PATH] ?? '');
    const ct = headers[constants.HTTP2_HEADER_CONTENT_TYPE];
    if (
      typeof ct !== 'string' ||
      !(ct === 'application/grpc' || ct.startsWith('application/grpc+') || ct.startsWith('application/grpc;'))
    ) {
      // Not gRPC: an HTTP status (the gRPC spec: 415 for a wrong content-type).
      this.errors.inc({ transport: 'http2', reason: 'bad-content-type' });
      this.bad.warn('bad-content-type', { path, contentType: ct }, 'non-gRPC request rejected');
      if (!stream.destroyed && !stream.closed) stream.respond({ ':status': 415 }, { endStream: true });
      return;
    }
    const call: Call = {
      stream,
      path,
      method: { kind: 'check' },
      encoding: undefined,
      deadlineKey: -1,
      deadlineIsClients: false,
      done: false,
      messages: [],
      emitter: null,
    };
    if (headers[constants.HTTP2_HEADER_METHOD] !== 'POST') {
      this.fail(call, new GrpcError(Status.UNIMPLEMENTED, 'gRPC requires POST', 'bad-method'));
      return;
    }
    const method = this.methods.get(path);
    if (!method) {
      const service = path.split('/')[1] ?? '';
      this.fail(
        call,
        new GrpcError(
          Status.UNIMPLEMENTED,
          this.services.has(service)
            ? `method ${path} not implemented`
            : `service ${service} not implemented`,
          'unimplemented',
        ),
      );
      return;
    }
    call.method = method;
    const encoding = headers['grpc-encoding'] as string | undefined;
    if (!isSupportedEncoding(encoding)) {
      this.errors.inc({ transport: 'http2', reason: 'bad-encoding' });
      call.done = true;
      if (stream.destroyed || stream.closed) return;
      stream.respond(
        {
          ...RESPONSE_HEADERS,
          'grpc-status': String(Status.UNIMPLEMENTED),
          'grpc-message': `grpc-encoding ${encoding} not supported (accepted: ${ACCEPT_ENCODING})`,
        },
        { endStream: true },
      );
      return;
    }
    call.encoding = encoding;
    let deadline: number | null;
    try {
      deadline = parseTimeout(headers['grpc-timeout']);
    } catch (err) {
      this.fail(call, err as GrpcError);
      return;
    }
    // Unary calls also get the server's own bound: a request never completed is not held forever.
    const unary = method.kind !== 'client-stream' && method.kind !== 'health-watch';
    const limit = unary
      ? Math.min(deadline ?? Number.POSITIVE_INFINITY, this.limits.requestTimeoutMs)
      : deadline;
    if (limit !== null && Number.isFinite(limit)) {
      call.deadlineIsClients = deadline !== null && deadline <= limit;
      call.deadlineKey = this.deadlines.add(call, limit);
    }
    this.calls.add(call);
    const reset = () => {
      if (!call.done) {
        // The client reset the stream (or the connection went) before the answer.
        call.done = true;
        this.errors.inc({ transport: 'http2', reason: 'client-reset' });
        if (call.emitter) {
          call.emitter.cancelled = true;
          call.emitter.emit('cancelled');
          if (call.emitter.listenerCount('error') > 0) {
            call.emitter.emit(
              'error',
              Object.assign(new Error('call cancelled by the client'), { code: Status.CANCELLED }),
            );
          }
        }
      }
    };
    // A peer RST_STREAM also ends the readable side ('aborted' comes first): not a truncated message.
    stream.once('aborted', reset);
    stream.once('close', () => {
      reset();
      this.finish(call);
      if (method.kind === 'health-watch') {
        for (const w of this.watchers) if (w.call === call) this.watchers.delete(w);
      }
    });
    if (method.kind === 'client-stream') this.startClientStream(call, method);
    const deframer = new Deframer(this.limits.maxMessageBytes, (compressed, body) => {
      const msg = compressed ? decompress(call.encoding, body, this.limits.maxMessageBytes) : body;
      if (call.emitter) this.clientStreamMessage(call, msg);
      else if (call.messages.length > 0) {
        throw new GrpcError(Status.INTERNAL, 'unary call with more than one request message', 'bad-frame');
      } else call.messages.push(msg);
    });
    stream.on('data', (chunk: Buffer) => {
      if (call.done) return;
      try {
        deframer.push(chunk);
      } catch (err) {
        this.fail(
          call,
          err instanceof GrpcError ? err : new GrpcError(Status.INTERNAL, errorMessage(err), 'bad-frame'),
        );
      }
    });
    stream.once('end', () => {
      if (call.done) return;
      if (deframer.partial || (!call.emitter && !call.messages[0])) {
        // A peer RST_STREAM ends the readable side before 'aborted' is emitted: judge on the next
        // turn, so a reset is counted as one and not as a truncated message.
        const problem = deframer.partial
          ? 'stream ended inside a message (bad length prefix)'
          : 'unary call without a request message';
        setImmediate(() => {
          if (!call.done && !stream.aborted)
            this.fail(call, new GrpcError(Status.INTERNAL, problem, 'bad-frame'));
        });
        return;
      }
      if (call.emitter) {
        call.emitter.emit('end');
        return;
      }
      try {
        this.unary(call, call.messages[0]!);
      } catch (err) {
        // Last line of defence: a handler bug answers INTERNAL, never an uncaught exception.
        this.fail(call, new GrpcError(Status.INTERNAL, errorMessage(err), 'internal'));
      }
    });
  }

  private unary(call: Call, msg: Buffer): void {
    const m = call.method;
    switch (m.kind) {
      case 'check': {
        let proto: ReturnType<CheckCodec['decode']>;
        try {
          proto = this.codec.decode(msg);
        } catch (err) {
          this.fail(
            call,
            new GrpcError(
              Status.INTERNAL,
              `CheckRequest could not be parsed: ${errorMessage(err)}`,
              'bad-message',
            ),
          );
          return;
        }
        const answer = ({ response, record }: { response: Buffer; record: CheckRecord | null }): void => {
          if (!call.done) {
            call.done = true;
            this.finish(call);
            sendUnary(call.stream, response);
          }
          // Answer Envoy first; the observer (event emitter) runs after the reply is queued.
          this.check.notify(record);
        };
        const evaluated = this.check.evaluateWith(proto, this.responder);
        if (!isPromise(evaluated)) {
          try {
            answer(evaluated);
          } catch (err) {
            this.log.error({ err: errorMessage(err) }, 'answering a Check failed');
          }
          return;
        }
        evaluated
          .then(answer, (err: unknown) =>
            this.fail(call, new GrpcError(Status.INTERNAL, errorMessage(err), 'internal')),
          )
          .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'answering a Check failed'));
        return;
      }
      case 'health-check': {
        let service: string;
        try {
          service = decodeHealthRequest(msg);
        } catch (err) {
          this.fail(call, new GrpcError(Status.INTERNAL, errorMessage(err), 'bad-message'));
          return;
        }
        const status = this.health.get(service);
        if (status === undefined) {
          this.fail(call, new GrpcError(Status.NOT_FOUND, `unknown service ${service}`, 'health-unknown'));
          return;
        }
        call.done = true;
        this.finish(call);
        sendUnary(call.stream, frame(encodeHealthResponse(status)));
        return;
      }
      case 'health-watch': {
        let service: string;
        try {
          service = decodeHealthRequest(msg);
        } catch (err) {
          this.fail(call, new GrpcError(Status.INTERNAL, errorMessage(err), 'bad-message'));
          return;
        }
        if (this.draining) {
          this.fail(call, new GrpcError(Status.UNAVAILABLE, 'server shutting down', 'draining'));
          return;
        }
        if (call.stream.destroyed || call.stream.closed) return;
        call.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
        this.watchers.add({ call, service });
        this.writeHealth(call, service);
        return;
      }
      case 'unary': {
        const emitter = new ServerCallEmitter(undefined, peerOf(call.stream));
        try {
          emitter.request = m.def.requestDeserialize(msg);
        } catch (err) {
          this.fail(
            call,
            new GrpcError(
              Status.INTERNAL,
              `request could not be parsed: ${errorMessage(err)}`,
              'bad-message',
            ),
          );
          return;
        }
        call.emitter = emitter;
        this.runHandler(call, m, emitter);
        return;
      }
      default:
        return;
    }
  }

  private writeHealth(call: Call, service: string): void {
    if (call.done || call.stream.destroyed || call.stream.closed) return;
    call.stream.write(frame(encodeHealthResponse(this.health.get(service) ?? HealthStatus.SERVICE_UNKNOWN)));
  }

  private finishWatch(call: Call): void {
    if (call.done) return;
    call.done = true;
    this.finish(call);
    sendStatus(call.stream, Status.OK, '');
  }

  private startClientStream(call: Call, m: Extract<Method, { kind: 'client-stream' }>): void {
    const emitter = new ServerCallEmitter(undefined, peerOf(call.stream));
    call.emitter = emitter;
    this.runHandler(call, m, emitter);
  }

  private clientStreamMessage(call: Call, msg: Buffer): void {
    const m = call.method as Extract<Method, { kind: 'client-stream' }>;
    let obj: unknown;
    try {
      obj = m.def.requestDeserialize(msg);
    } catch (err) {
      throw new GrpcError(
        Status.INTERNAL,
        `request could not be parsed: ${errorMessage(err)}`,
        'bad-message',
      );
    }
    call.emitter!.emit('data', obj);
  }

  private runHandler(
    call: Call,
    m: Extract<Method, { kind: 'unary' | 'client-stream' }>,
    emitter: ServerCallEmitter,
  ): void {
    const callback = (err: (Partial<grpc.StatusObject> & { message?: string }) | null, value?: unknown) => {
      if (call.done) return;
      if (err) {
        this.fail(
          call,
          new GrpcError(err.code ?? Status.UNKNOWN, err.details ?? err.message ?? 'error', 'handler-error'),
        );
        return;
      }
      let out: Buffer;
      try {
        out = frame(m.def.responseSerialize(value));
      } catch (e) {
        this.fail(
          call,
          new GrpcError(Status.INTERNAL, `response could not be serialized: ${errorMessage(e)}`, 'internal'),
        );
        return;
      }
      call.done = true;
      this.finish(call);
      sendUnary(call.stream, out);
    };
    try {
      (m.impl as (call: unknown, cb: typeof callback) => void)(emitter, callback);
    } catch (err) {
      this.fail(call, new GrpcError(Status.UNKNOWN, `handler threw: ${errorMessage(err)}`, 'handler-error'));
    }
  }
}

function peerOf(stream: ServerHttp2Stream): string {
  const s = stream.session?.socket;
  return s ? `${s.remoteAddress}:${s.remotePort}` : 'unknown';
}
