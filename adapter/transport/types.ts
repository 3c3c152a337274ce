/**
 * The contract between AdapterServer and a gRPC transport (adapter.transport: http2 or grpc-js), both
 * ways: what the server needs from a transport, and what a transport calls on the Check logic. Types
 * only on the check side, so a transport never imports server.ts (which imports the transports).
 */
import type * as grpc from '@grpc/grpc-js';
import type { MaybePromise } from '../../common/maybe-promise.ts';
import type { RequestContext } from '../../events/request-attributes.ts';
import type { CheckRecord } from '../check-record.ts';
import { GrpcConfigSchema } from '../config.ts';
import type { Decision } from '../domain.ts';
import type { CheckResponseObject } from '../response.ts';
import type { ProtoCheckRequest } from '../translate.ts';

export const AUTHORIZATION_SERVICE_NAME = 'envoy.service.auth.v3.Authorization';
export const CHECK_PATH = `/${AUTHORIZATION_SERVICE_NAME}/Check`;

export type TransportKind = 'http2' | 'grpc-js';

export interface Transport {
  /** Registers a grpc-js style service definition + implementation; only before start(). */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void;
  /** grpc.health.v1 status of '' and the Authorization service. */
  setServing(serving: boolean): void;
  /** Binds host:port (plaintext) and resolves the bound port. */
  start(address: string): Promise<number>;
  /** GOAWAY, in-flight calls finish, forced after graceMs. */
  stop(graceMs: number): Promise<void>;
}

/** How a transport turns the Decision into its answer: one mapping, plus the last-resort answer. */
export interface CheckResponder<R> {
  respond(decision: Decision, context: RequestContext | null): R;
  /** The answer when even respond() failed (a bare status, per failure mode). */
  failed(failureMode: 'closed' | 'open'): R;
}

/** What a transport calls on the Check logic (adapter/server.ts CheckService). */
export interface CheckHandler {
  /** The answer and the record for the observer (null only when even the mapping failed). Never rejects. */
  evaluate(proto: ProtoCheckRequest): Promise<{ response: CheckResponseObject; record: CheckRecord | null }>;
  /**
   * evaluate() with the transport's own mapping of the Decision; a plain value when the check
   * needed nothing asynchronous (a cached credential). Never throws, never rejects.
   */
  evaluateWith<R>(
    proto: ProtoCheckRequest,
    responder: CheckResponder<R>,
  ): MaybePromise<{ response: R; record: CheckRecord | null }>;
  /** Calls the onCheck observer, after the answer is sent; never throws. */
  notify(record: CheckRecord | null): void;
}

export interface TransportLimits {
  /** Largest request message accepted (after decompression); larger: RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
  /** Concurrent streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
  /** A unary call must be received and answered within this (ms), grpc-timeout or not (http2 only). */
  requestTimeoutMs: number;
  /** Server PING interval on idle-or-not connections; 0 = off (http2 only). */
  keepaliveIntervalMs: number;
  /** A PING unanswered this long closes the connection (http2 only). */
  keepaliveTimeoutMs: number;
}

/** The documented defaults of `adapter.grpc` (one source: adapter/config.ts). */
export const DEFAULT_LIMITS: TransportLimits = GrpcConfigSchema.parse(undefined);
