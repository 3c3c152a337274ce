/**
 * envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs: a thin transport over the pure
 * mapping in mapping.ts. Envoy keeps one client stream open per proxy and sends batches of entries;
 * each allowed request becomes one request-attributes event handed to the emitter (never awaited).
 */
import type * as grpc from '@grpc/grpc-js';
import { Counter, type Registry } from 'prom-client';
import { createLogger, type Logger } from '../../common/log.ts';
import type { Emitter } from '../emit/emitter.ts';
import type { EmissionPolicy } from '../emit/policy.ts';
import { accessLogService } from '../proto.ts';
import { decodeStreamAccessLogsMessage } from './decode.ts';
import { type HttpAccessLogEntry, mapAccessLogEntry } from './mapping.ts';

export interface AccessLogDeps {
  emitter: Pick<Emitter, 'emit' | 'emitSerialized'>;
  policy: EmissionPolicy;
  registry: Registry;
  logger?: Logger;
  now?: () => Date;
}

interface StreamAccessLogsMessage {
  identifier?: { node?: { id?: string } | null; log_name?: string } | null;
  http_logs?: { log_entry?: HttpAccessLogEntry[] | null } | null;
  tcp_logs?: { log_entry?: { length: number } | null } | null;
  /** Entries that were not valid protobuf (decode.ts): dropped and counted, the stream goes on. */
  malformed?: { count: number; problem: string | null };
}

export function accessLogMetrics(registry: Registry) {
  return {
    entries: new Counter({
      name: 'mesh_apim_als_entries_total',
      help: 'Access-log entries received, by outcome: emitted, no-context (denial already emitted by the check, or never checked: dropped as duplicate), intermediate, invalid-context, malformed (not valid protobuf: dropped), mode-off (adapter.accessLogs=false), tcp, error',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}

export function accessLogHandlers(deps: AccessLogDeps): grpc.UntypedServiceImplementation {
  const log = deps.logger ?? createLogger('als');
  const now = deps.now ?? (() => new Date());
  const metrics = accessLogMetrics(deps.registry);
  let lastInvalidLog = 0;
  let lastMalformedLog = 0;

  function onMessage(msg: StreamAccessLogsMessage): void {
    if (msg.malformed && msg.malformed.count > 0) {
      metrics.entries.inc({ outcome: 'malformed' }, msg.malformed.count);
      const at = Date.now();
      if (at - lastMalformedLog > 10_000) {
        lastMalformedLog = at;
        log.warn(
          { count: msg.malformed.count, problem: msg.malformed.problem },
          'access-log entries are not valid protobuf: dropped',
        );
      }
    }
    const tcp = msg.tcp_logs?.log_entry?.length ?? 0;
    if (tcp > 0) metrics.entries.inc({ outcome: 'tcp' }, tcp);
    const entries = msg.http_logs?.log_entry ?? [];
    if (!deps.policy.fromAccessLog()) {
      if (entries.length > 0) metrics.entries.inc({ outcome: 'mode-off' }, entries.length);
      return;
    }
    const t = now();
    for (const entry of entries) {
      const m = mapAccessLogEntry(entry, t);
      if (m.kind === 'event') {
        // Spliced from the metadata's JSON when it stands for the context exactly (mapping.ts);
        // the topic's key is the request id (events/topics.ts).
        if (m.json !== undefined) deps.emitter.emitSerialized('requestAttributes', m.key, m.json);
        else deps.emitter.emit('requestAttributes', m.event);
        metrics.entries.inc({ outcome: 'emitted' });
        continue;
      }
      metrics.entries.inc({ outcome: m.kind });
      if (m.kind === 'invalid-context' && t.getTime() - lastInvalidLog > 10_000) {
        lastInvalidLog = t.getTime();
        log.warn(
          { problem: m.problem, requestId: entry.request?.request_id },
          'access-log entry has invalid mesh_apim metadata',
        );
      }
    }
  }

  const handler: grpc.handleClientStreamingCall<StreamAccessLogsMessage, Record<string, never>> = (
    call,
    callback,
  ) => {
    call.on('data', (msg: StreamAccessLogsMessage) => {
      try {
        onMessage(msg);
      } catch (err) {
        // A mapping bug must not break Envoy's stream: the entry is lost, counted, logged.
        metrics.entries.inc({ outcome: 'error' });
        log.error({ err }, 'access-log message could not be processed');
      }
    });
    call.on('end', () => callback(null, {}));
    call.on('error', (err) => log.debug({ err }, 'access-log stream error'));
  };
  return { StreamAccessLogs: handler as grpc.UntypedHandleCall };
}

/** Registers the ALS service on a gRPC server (the adapter's AdapterServer or a plain grpc.Server), before it starts. */
export function addAccessLogService(
  server: { addService(service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void },
  deps: AccessLogDeps,
): void {
  server.addService(accessLogServiceDefinition(), accessLogHandlers(deps));
}

let definition: grpc.ServiceDefinition | null = null;

/**
 * The ALS service definition with the request decoded by decode.ts (only the fields the mapping
 * reads) instead of proto-loader's whole-message decode; responses and the client side unchanged.
 */
export function accessLogServiceDefinition(): grpc.ServiceDefinition {
  if (!definition) {
    const base = accessLogService().service;
    definition = {
      ...base,
      StreamAccessLogs: {
        ...base.StreamAccessLogs!,
        requestDeserialize: decodeStreamAccessLogsMessage,
      } as grpc.MethodDefinition<unknown, unknown>,
    };
  }
  return definition;
}
