/**
 * Envoy's ext_authz v3 and ALS v3 service definitions, loaded at run time from the protos that
 * the @grpc/grpc-js-xds package ships (deps/envoy-api, xds, googleapis, protoc-gen-validate).
 * No third-party .proto is committed to this repository.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const require = createRequire(import.meta.url);
const xdsRoot = dirname(require.resolve('@grpc/grpc-js-xds/package.json'));

export const ENVOY_PROTO_INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) =>
  join(xdsRoot, 'deps', d),
);

export const EXT_AUTHZ_PROTO = 'envoy/service/auth/v3/external_auth.proto';
export const ALS_PROTO = 'envoy/service/accesslog/v3/als.proto';

/**
 * Loader options shared by the server and the test client. `longs: String` keeps 64-bit values
 * lossless; `defaults` fills absent scalars so handlers need no presence checks; `oneofs` exposes
 * which oneof member is set (e.g. CheckResponse.http_response).
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: ENVOY_PROTO_INCLUDE_DIRS,
};

let cached: grpc.GrpcObject | undefined;
let cachedDefinition: protoLoader.PackageDefinition | undefined;

/** The proto-loader definitions (message descriptors, serializers) of both services. Loaded once. */
export function envoyPackageDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync([EXT_AUTHZ_PROTO, ALS_PROTO], LOADER_OPTIONS);
  return cachedDefinition;
}

/** The loaded package tree (envoy.service.auth.v3, envoy.service.accesslog.v3, ...). Loaded once. */
export function envoyProtos(): grpc.GrpcObject {
  cached ??= grpc.loadPackageDefinition(envoyPackageDefinition());
  return cached;
}

type ServiceCtor = grpc.ServiceClientConstructor;

function lookup(path: string): ServiceCtor {
  let node: unknown = envoyProtos();
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function') throw new Error(`proto service ${path} not found`);
  return node as ServiceCtor;
}

/** `envoy.service.auth.v3.Authorization` (server: `.service`; client: `new Ctor(addr, creds)`). */
export function authorizationService(): ServiceCtor {
  return lookup('envoy.service.auth.v3.Authorization');
}

/** `envoy.service.accesslog.v3.AccessLogService`. */
export function accessLogService(): ServiceCtor {
  return lookup('envoy.service.accesslog.v3.AccessLogService');
}
