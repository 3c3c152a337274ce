/**
 * Access-log entries shaped like Envoy's HTTP access-log service sends them (fields as in a real
 * StreamAccessLogsMessage from an Istio sidecar), run through the real protobuf encoder/decoder.
 */
import * as grpc from '@grpc/grpc-js';
import type { HttpAccessLogEntry } from '../../../adapter/als/mapping.ts';
import { accessLogService } from '../../../adapter/proto.ts';
import { toStruct } from '../../../adapter/struct.ts';
import {
  REQUEST_CONTEXT_METADATA_KEY,
  REQUEST_CONTEXT_METADATA_NAMESPACE,
} from '../../../events/request-attributes.ts';

const dur = (ms: number) => ({
  seconds: String(Math.floor(ms / 1000)),
  nanos: Math.round((ms % 1000) * 1e6),
});

export interface EntryOptions {
  requestId?: string;
  /** What the check put in dynamic_metadata; null = none (a denial, or never checked). */
  context?: Record<string, unknown> | string | null;
  status?: number;
  startMs?: number;
  intermediate?: boolean;
  accessLogType?: string;
}

/** An entry as Envoy builds it for a GET that went upstream. */
export function envoyEntry(o: EntryOptions = {}): Record<string, unknown> {
  const requestId = o.requestId ?? '5b1e1f2a-0c3d-4e5f-8a9b-0c1d2e3f4a5b';
  const startMs = o.startMs ?? Date.UTC(2026, 10, 26, 4, 20, 0, 123);
  const filterMetadata: Record<string, unknown> = {
    istio_authn: toStruct({ 'request.auth.principal': 'cluster.local/ns/shop/sa/frontend' }),
  };
  if (o.context !== null && o.context !== undefined) {
    filterMetadata[REQUEST_CONTEXT_METADATA_NAMESPACE] = toStruct({
      [REQUEST_CONTEXT_METADATA_KEY]: o.context,
    });
  }
  return {
    common_properties: {
      downstream_remote_address: { socket_address: { address: '10.1.2.3', port_value: 51234 } },
      downstream_local_address: { socket_address: { address: '10.1.4.9', port_value: 8080 } },
      start_time: { seconds: String(Math.floor(startMs / 1000)), nanos: (startMs % 1000) * 1e6 },
      time_to_last_rx_byte: dur(0.4),
      time_to_first_upstream_tx_byte: dur(1.2),
      time_to_last_upstream_tx_byte: dur(1.3),
      time_to_first_upstream_rx_byte: dur(44.1),
      time_to_last_upstream_rx_byte: dur(46.4),
      time_to_first_downstream_tx_byte: dur(44.3),
      time_to_last_downstream_tx_byte: dur(47.6),
      upstream_remote_address: { socket_address: { address: '10.1.4.7', port_value: 8080 } },
      upstream_local_address: { socket_address: { address: '10.1.4.9', port_value: 40122 } },
      upstream_cluster: 'outbound|8080||petstore.shop.svc.cluster.local',
      response_flags: {},
      metadata: { filter_metadata: filterMetadata },
      route_name: 'default',
      intermediate_log_entry: o.intermediate ?? false,
      access_log_type: o.accessLogType ?? 'NotSet',
    },
    protocol_version: 'HTTP11',
    request: {
      request_method: 'GET',
      scheme: 'http',
      authority: 'petstore.shop.svc.cluster.local',
      path: '/petstore/v1/pets/42?apikey=should-never-be-read',
      user_agent: 'curl/8.5.0',
      forwarded_for: '203.0.113.7',
      request_id: requestId,
      request_headers_bytes: '412',
      request_body_bytes: '0',
    },
    response: {
      response_code: o.status === undefined ? { value: 200 } : { value: o.status },
      response_headers_bytes: '230',
      response_body_bytes: '1532',
      response_code_details: 'via_upstream',
    },
  };
}

/** Encodes and decodes through the ALS protobuf, as the server receives it. */
export function decoded(entries: Array<Record<string, unknown>>): HttpAccessLogEntry[] {
  const m = accessLogService().service.StreamAccessLogs!;
  const msg = m.requestDeserialize(
    m.requestSerialize({
      identifier: { node: { id: 'sidecar~10.1.4.9~petstore' }, log_name: 'als' },
      http_logs: { log_entry: entries },
    }),
  ) as { http_logs: { log_entry: HttpAccessLogEntry[] } };
  return msg.http_logs.log_entry;
}

type AlsClient = grpc.Client & {
  StreamAccessLogs(cb: (err: grpc.ServiceError | null) => void): grpc.ClientWritableStream<unknown>;
};

/** Streams messages to an ALS server like an Envoy sidecar (one stream, several batches). */
export async function streamAccessLogs(
  address: string,
  batches: Array<Array<Record<string, unknown>>>,
): Promise<void> {
  const Ctor = accessLogService();
  const client = new Ctor(address, grpc.credentials.createInsecure()) as unknown as AlsClient;
  try {
    await new Promise<void>((resolve, reject) => {
      const call = client.StreamAccessLogs((err) => (err ? reject(err) : resolve()));
      batches.forEach((entries, i) => {
        call.write({
          ...(i === 0 ? { identifier: { node: { id: 'sidecar~10.1.4.9~petstore' }, log_name: 'als' } } : {}),
          http_logs: { log_entry: entries },
        });
      });
      call.end();
    });
  } finally {
    client.close();
  }
}
