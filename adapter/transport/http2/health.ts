/**
 * grpc.health.v1.Health messages: HealthCheckRequest { string service = 1 } and
 * HealthCheckResponse { ServingStatus status = 1 } (grpc/health/v1/health.proto, as the
 * grpc-health-check package ships it). Two one-field messages: encoded here directly.
 */
import { Reader, tagOf, WireError, WT_LEN, WT_VARINT } from './wire.ts';

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch';

export const HealthStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

const SERVICE_TAG = tagOf(1, WT_LEN);

export function decodeHealthRequest(buf: Buffer): string {
  const r = new Reader(buf);
  let service = '';
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag === SERVICE_TAG) service = r.string();
    else if (tag >>> 3 === 1) throw new WireError('HealthCheckRequest.service has the wrong wire type');
    else r.skip(tag);
  }
  return service;
}

export function encodeHealthResponse(status: number): Buffer {
  return Buffer.from([tagOf(1, WT_VARINT), status]);
}
