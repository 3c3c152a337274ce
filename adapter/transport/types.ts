/** What AdapterServer needs from a gRPC transport (adapter.transport: http2 or grpc-js). */
import type * as grpc from '@grpc/grpc-js';
import { GrpcConfigSchema } from '../config.ts';

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
