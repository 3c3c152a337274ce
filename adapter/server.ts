/**
 * The Check logic (CheckService) and the adapter's gRPC server (AdapterServer) over one of two
 * transports (adapter/transport: node:http2 with gRPC framing by hand, or grpc-js). Every
 * transport only translates: protobuf -> CheckRequest -> credential chain -> decide() -> one
 * mapper. It never throws: an internal error is answered with the configured failure mode and counted.
 */
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import { errorMessage } from '../common/errors.ts';
import { createLogger, type Logger } from '../common/log.ts';
import { isPromise, type MaybePromise } from '../common/maybe-promise.ts';
import type { CheckObserver, CheckRecord } from './check-record.ts';
import type { CredentialChain } from './credentials/chain.ts';
import type { ClientCertOptions } from './credentials/mtls.ts';
import type { CredentialResult } from './credentials/types.ts';
import {
  ALL_IDENTITY_HEADERS,
  APIKEY_HEADER,
  APIKEY_QUERY,
  type CheckRequest,
  type Clock,
  type Decision,
  emptyMatch,
} from './domain.ts';
import type { AdapterMetrics } from './metrics.ts';
import { type DecideInput, type DecideState, decide as pureDecide } from './policy/decide.ts';
import { type CheckResponseObject, toCheckResponse, toRequestContext } from './response.ts';
import type { ShadowEnforcement } from './shadow.ts';
import type { Snapshot } from './snapshot/types.ts';
import type { CheckTracer } from './tracing-types.ts';
import { type ProtoCheckRequest, toCheckRequest } from './translate.ts';
import { GrpcJsTransport } from './transport/grpc-js.ts';
import { Http2Transport } from './transport/http2/server.ts';
import {
  type CheckHandler,
  type CheckResponder,
  DEFAULT_LIMITS,
  type Transport,
  type TransportKind,
  type TransportLimits,
} from './transport/types.ts';
import { WSO2_ERRORS } from './wso2-errors.ts';

export { AUTHORIZATION_SERVICE_NAME } from './transport/types.ts';

export type DecideFn = (input: DecideInput, snapshot: Snapshot, clock: Clock, state: DecideState) => Decision;

export interface CheckServiceOptions {
  /** The snapshot in force (SnapshotStore.current); null = not loaded yet (answered as unavailable). */
  snapshot: () => Snapshot | null;
  chain: CredentialChain;
  state: DecideState;
  clock: Clock;
  failureMode: 'closed' | 'open';
  metrics: AdapterMetrics;
  instanceId: string;
  /** Trusted X-Forwarded-For hops for the client IP (client-ip.ts; adapter.xffTrustedHops). */
  xffTrustedHops: number;
  /** Which client certificate is believed (credentials/mtls.ts; adapter.clientCertificateSource). */
  clientCertificate: ClientCertOptions;
  onCheck?: CheckObserver;
  /** Replaceable for fault-injection tests; defaults to the pure decide(). */
  decide?: DecideFn;
  logger?: Logger;
  /** Shadow enforcement (adapter/shadow.ts); absent = every decision is enforced. */
  shadow?: ShadowEnforcement | null;
  /** A span per check (adapter/tracing.ts); absent or null = tracing off. */
  tracer?: CheckTracer | null;
}

/** The Check logic without the transport (the gRPC handler and the bench call it). */
export class CheckService implements CheckHandler {
  private readonly o: CheckServiceOptions;
  private readonly decideFn: DecideFn;
  private readonly log: Logger;
  private observer: CheckObserver;
  private readonly shadow: ShadowEnforcement | null;
  private readonly tracer: CheckTracer | null;
  /** translate's options: constant, so built once rather than spread on every check. */
  private readonly translateOptions: Parameters<typeof toCheckRequest>[2];

  constructor(options: CheckServiceOptions) {
    this.o = options;
    this.translateOptions = { trustedHops: options.xffTrustedHops, ...options.clientCertificate };
    this.shadow = options.shadow ?? null;
    this.tracer = options.tracer ?? null;
    this.decideFn = options.decide ?? pureDecide;
    this.log = options.logger ?? createLogger('check');
    this.observer = options.onCheck ?? (() => {});
  }

  /** Replaces the onCheck observer (synchronous; must not block, its errors are swallowed and counted). */
  setObserver(observer: CheckObserver): void {
    this.observer = observer;
  }

  private failure(stage: string, err: unknown, request: CheckRequest | null): Decision {
    this.o.metrics.internalErrors.inc({ stage });
    this.log.error(
      { err: errorMessage(err), stage, requestId: request?.requestId },
      'check failed internally',
    );
    if (this.o.failureMode === 'open') {
      return {
        kind: 'allow',
        httpStatus: 200,
        code: null,
        reason: 'FAIL_OPEN',
        match: emptyMatch(),
        overQuota: false,
        throttleKey: null,
        rateLimit: null,
        headersToSet: {},
        // Even failing open, client-sent identity headers and credentials never reach the upstream.
        headersToRemove: [...ALL_IDENTITY_HEADERS, APIKEY_HEADER],
        queryParamsToRemove: [APIKEY_QUERY],
      };
    }
    const e = WSO2_ERRORS.INTERNAL_ERROR;
    return {
      kind: 'unavailable',
      httpStatus: e.httpStatus,
      code: e.code,
      message: e.message,
      description: e.description,
      reason: 'INTERNAL_ERROR',
      match: emptyMatch(),
      throttleKey: null,
      headers: {},
    };
  }

  /** Evaluates and notifies the observer; the gRPC handler answers before notifying. */
  async check(proto: ProtoCheckRequest): Promise<CheckResponseObject> {
    const { response, record } = await this.evaluate(proto);
    this.notify(record);
    return response;
  }

  /** Calls the onCheck observer; never throws. */
  notify(record: CheckRecord | null): void {
    if (!record) return;
    try {
      this.observer(record);
    } catch (err) {
      this.o.metrics.observerErrors.inc();
      this.log.warn({ err: errorMessage(err) }, 'onCheck observer threw');
    }
  }

  /** The answer and the record for the observer (null only when even the mapping failed). Never rejects. */
  async evaluate(
    proto: ProtoCheckRequest,
  ): Promise<{ response: CheckResponseObject; record: CheckRecord | null }> {
    return this.evaluateWith(proto, OBJECT_RESPONDER);
  }

  /**
   * evaluate() with the transport's own mapping of the Decision (the http2 transport encodes bytes
   * directly; grpc-js gets the proto-loader object from response.ts). Never throws, never rejects.
   * Synchronous when the credential chain answers synchronously (a cached credential, no
   * credential): the common check then costs no promise and no microtask turn.
   */
  evaluateWith<R>(proto: ProtoCheckRequest, responder: CheckResponder<R>): MaybePromise<Evaluated<R>> {
    const t0 = performance.now();
    const startedAt = this.o.clock.now();
    let request: CheckRequest | null = null;
    try {
      request = toCheckRequest(proto, startedAt, this.translateOptions);
      const snapshot = this.o.snapshot();
      if (!snapshot) throw new Error('no policy snapshot loaded');
      const t1 = performance.now();
      const verified = this.o.chain.verify(request, snapshot, this.o.clock.now());
      if (!isPromise(verified))
        return this.decided(t0, startedAt, request, snapshot, verified, t1, responder);
      const req = request;
      return verified.then(
        (credential) => this.decided(t0, startedAt, req, snapshot, credential, t1, responder),
        (err: unknown) =>
          this.answer(
            t0,
            startedAt,
            req,
            MISSING,
            this.failure('decide', err, req),
            null,
            true,
            0,
            0,
            responder,
          ),
      );
    } catch (err) {
      const decision = this.failure(request ? 'decide' : 'translate', err, request);
      return this.answer(t0, startedAt, request, MISSING, decision, null, true, 0, 0, responder);
    }
  }

  /** decide() on a verified credential (and shadow mode), then the answer. Never throws. */
  private decided<R>(
    t0: number,
    startedAt: number,
    request: CheckRequest,
    snapshot: Snapshot,
    credential: CredentialResult,
    t1: number,
    responder: CheckResponder<R>,
  ): Evaluated<R> {
    const t2 = performance.now();
    let decision: Decision;
    let waived: Decision | null = null;
    try {
      decision = this.decideFn({ request, credential }, snapshot, this.o.clock, this.o.state);
      // Shadow mode: a denial is counted, logged and answered as an allow (shadow.ts).
      if (decision.kind !== 'allow' && this.shadow !== null) {
        const w = this.shadow.waive(decision, request, credential, snapshot);
        if (w) {
          waived = w.denied;
          decision = w.served;
        }
      }
    } catch (err) {
      decision = this.failure('decide', err, request);
      return this.answer(t0, startedAt, request, credential, decision, null, true, t2 - t1, 0, responder);
    }
    return this.answer(
      t0,
      startedAt,
      request,
      credential,
      decision,
      waived,
      false,
      t2 - t1,
      performance.now() - t2,
      responder,
    );
  }

  /** The response, the metrics and the observer's record of a decided check. Never throws. */
  private answer<R>(
    t0: number,
    startedAt: number,
    request: CheckRequest | null,
    credential: CredentialResult,
    decision: Decision,
    waived: Decision | null,
    internalError: boolean,
    credentialMs: number,
    decideMs: number,
    responder: CheckResponder<R>,
  ): Evaluated<R> {
    let response: R;
    let record: CheckRecord | null = null;
    let context = null;
    try {
      const req = request ?? toCheckRequest({}, startedAt);
      const credType = credential.status === 'missing' ? 'none' : credential.type;
      context = toRequestContext(req, decision, credType, this.o.instanceId);
      if (waived !== null) {
        context.shadow = {
          kind: waived.kind,
          httpStatus: waived.httpStatus,
          code: waived.code,
          reason: waived.reason,
          throttleKey: waived.throttleKey,
        };
      }
      // Tracing off: this one null check is its whole cost (bench/transport.ts measures it).
      if (this.tracer !== null) {
        const ids = this.tracer.record(req, decision, waived, performance.timeOrigin + t0);
        if (ids !== null) {
          context.traceId = ids.traceId;
          context.spanId = ids.spanId;
        }
      }
      response = responder.respond(decision, decision.kind === 'allow' && !internalError ? context : null);
      const totalMs = performance.now() - t0;
      this.o.metrics.observeCheck(decision, totalMs / 1000);
      record = {
        request: req,
        credential,
        decision,
        context,
        timings: { startedAt, credentialMs, decideMs, totalMs },
        internalError,
      };
    } catch (err) {
      // Mapping itself failed: answer with the failure mode, built without the mapper's helpers.
      this.o.metrics.internalErrors.inc({ stage: 'respond' });
      this.log.error({ err: errorMessage(err) }, 'check response mapping failed');
      response = responder.failed(this.o.failureMode);
    }
    return { response, record };
  }
}

type Evaluated<R> = { response: R; record: CheckRecord | null };
const MISSING: CredentialResult = { status: 'missing', type: 'none' };

const OBJECT_RESPONDER: CheckResponder<CheckResponseObject> = {
  respond: toCheckResponse,
  failed: (mode) =>
    mode === 'open'
      ? { status: { code: 0, message: 'FAIL_OPEN' } }
      : { status: { code: 14, message: 'INTERNAL_ERROR' } },
};

export interface AdapterServerOptions {
  check: CheckService;
  /** Which gRPC server carries the services (adapter.transport). */
  transport: TransportKind;
  /** Limits of the http2 transport (the grpc-js transport applies maxMessageBytes and maxConcurrentStreams). */
  limits?: Partial<TransportLimits>;
  /** Transport errors counter (AdapterMetrics.transportErrors). */
  errors?: { inc(labels: { transport: string; reason: string }): void };
  logger?: Logger;
}

/**
 * The adapter's gRPC server: Check, grpc.health.v1 and any service registered with addService()
 * before start() (the access-log service), on the configured transport.
 */
export class AdapterServer implements Transport {
  readonly kind: TransportKind;
  readonly transport: Transport;

  constructor(options: AdapterServerOptions) {
    this.kind = options.transport;
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.transport =
      this.kind === 'http2'
        ? new Http2Transport({
            check: options.check,
            limits,
            ...(options.errors ? { errors: options.errors } : {}),
            ...(options.logger ? { logger: options.logger } : {}),
          })
        : new GrpcJsTransport({
            check: options.check,
            limits,
            ...(options.logger ? { logger: options.logger } : {}),
          });
  }

  /** Adds a service (e.g. envoy.service.accesslog.v3.AccessLogService). Only before start(). */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.transport.addService(service, implementation);
  }

  /** Serving status reported by grpc.health.v1 (overall and for the Authorization service). */
  setServing(serving: boolean): void {
    this.transport.setServing(serving);
  }

  /** Binds (plaintext: Envoy talks to the adapter inside the pod/mesh) and returns the port. */
  start(address: string): Promise<number> {
    return this.transport.start(address);
  }

  /** Graceful: GOAWAY, in-flight calls finish; forced after graceMs. */
  stop(graceMs = 5000): Promise<void> {
    return this.transport.stop(graceMs);
  }
}
