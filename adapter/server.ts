/**
 * The gRPC transport: envoy.service.auth.v3.Authorization/Check and grpc.health.v1.Health, plus
 * any service registered with addService() before start() (the access-log service). The Check
 * handler only translates: protobuf -> CheckRequest -> credential chain -> decide() -> one mapper.
 * It never throws: an internal error is answered with the configured failure mode and counted.
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { errorMessage } from '../common/errors.ts';
import { createLogger, type Logger } from '../common/log.ts';
import type { CredentialChain } from './credentials/chain.ts';
import type { CredentialResult } from './credentials/types.ts';
import { type DecideInput, type DecideState, decide as pureDecide } from './decide.ts';
import {
  ALL_IDENTITY_HEADERS,
  APIKEY_HEADER,
  APIKEY_QUERY,
  type CheckObserver,
  type CheckRecord,
  type CheckRequest,
  type Clock,
  type Decision,
  emptyMatch,
} from './domain.ts';
import type { AdapterMetrics } from './metrics.ts';
import { authorizationService } from './proto.ts';
import { type CheckResponseObject, toCheckResponse, toRequestContext } from './response.ts';
import type { Snapshot } from './snapshot/types.ts';
import { type ProtoCheckRequest, toCheckRequest } from './translate.ts';
import { WSO2_ERRORS } from './wso2-errors.ts';

export const AUTHORIZATION_SERVICE_NAME = 'envoy.service.auth.v3.Authorization';

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
  /** Trusted X-Forwarded-For hops for the client IP (client-ip.ts); default 0. */
  xffTrustedHops?: number;
  onCheck?: CheckObserver;
  /** Replaceable for fault-injection tests; defaults to the pure decide(). */
  decide?: DecideFn;
  logger?: Logger;
}

/** The Check logic without the transport (the gRPC handler and the bench call it). */
export class CheckService {
  private readonly o: CheckServiceOptions;
  private readonly decideFn: DecideFn;
  private readonly log: Logger;
  private observer: CheckObserver;

  constructor(options: CheckServiceOptions) {
    this.o = options;
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
    const t0 = performance.now();
    const startedAt = this.o.clock.now();
    let request: CheckRequest | null = null;
    let credential: CredentialResult = { status: 'missing', type: 'none' };
    let decision: Decision;
    let internalError = false;
    let credentialMs = 0;
    let decideMs = 0;
    try {
      request = toCheckRequest(proto, startedAt, { trustedHops: this.o.xffTrustedHops ?? 0 });
      const snapshot = this.o.snapshot();
      if (!snapshot) throw new Error('no policy snapshot loaded');
      const t1 = performance.now();
      credential = await this.o.chain.verify(request, snapshot, this.o.clock.now());
      const t2 = performance.now();
      credentialMs = t2 - t1;
      decision = this.decideFn({ request, credential }, snapshot, this.o.clock, this.o.state);
      decideMs = performance.now() - t2;
    } catch (err) {
      internalError = true;
      decision = this.failure(request ? 'decide' : 'translate', err, request);
    }
    let response: CheckResponseObject;
    let record: CheckRecord | null = null;
    let context = null;
    try {
      const req = request ?? toCheckRequest({}, startedAt);
      const credType = credential.status === 'missing' ? 'none' : credential.type;
      context = toRequestContext(req, decision, credType, this.o.instanceId);
      response = toCheckResponse(decision, decision.kind === 'allow' && !internalError ? context : null);
      const totalMs = performance.now() - t0;
      this.o.metrics.checks.inc({
        decision: decision.kind,
        api: decision.match.api?.id ?? 'none',
        code: String(decision.code ?? 0),
      });
      this.o.metrics.checkDuration.observe({ decision: decision.kind }, totalMs / 1000);
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
      response =
        this.o.failureMode === 'open'
          ? { status: { code: 0, message: 'FAIL_OPEN' } }
          : { status: { code: 14, message: 'INTERNAL_ERROR' } };
    }
    return { response, record };
  }
}

export interface AdapterServerOptions {
  check: CheckService;
  logger?: Logger;
}

/** The gRPC server. Register extra services before start(). */
export class AdapterServer {
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  private readonly check: CheckService;
  private started = false;
  private readonly log: Logger;

  constructor(options: AdapterServerOptions) {
    this.check = options.check;
    this.log = options.logger ?? createLogger('grpc');
    this.server = new grpc.Server({ 'grpc.max_concurrent_streams': 1000 });
    this.health = new HealthImplementation({
      '': 'NOT_SERVING',
      [AUTHORIZATION_SERVICE_NAME]: 'NOT_SERVING',
    });
    this.health.addToServer(this.server);
    this.server.addService(authorizationService().service, {
      Check: (
        call: grpc.ServerUnaryCall<ProtoCheckRequest, CheckResponseObject>,
        callback: grpc.sendUnaryData<CheckResponseObject>,
      ) => {
        this.check.evaluate(call.request).then(
          ({ response, record }) => {
            // Answer Envoy first; the observer (event emitter) runs after the reply is queued.
            callback(null, response);
            this.check.notify(record);
          },
          // check() does not reject; this is the last line of defence.
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: errorMessage(err) }),
        );
      },
    });
  }

  /** Adds a service (e.g. envoy.service.accesslog.v3.AccessLogService). Only before start(). */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    if (this.started) throw new Error('addService must be called before start()');
    this.server.addService(service, implementation);
  }

  /** Serving status reported by grpc.health.v1 (overall and for the Authorization service). */
  setServing(serving: boolean): void {
    const s = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', s);
    this.health.setStatus(AUTHORIZATION_SERVICE_NAME, s);
  }

  /** Binds (plaintext: Envoy talks to the adapter inside the pod/mesh) and returns the port. */
  start(address: string): Promise<number> {
    this.started = true;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(err);
        else {
          this.log.info({ address, port }, 'gRPC server listening');
          resolve(port);
        }
      });
    });
  }

  /** Graceful: in-flight calls finish; forced after graceMs. */
  stop(graceMs = 5000): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
