import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Emitter metrics, registered on the registry the adapter passes in (one per process; tests use their own). */
export function emitterMetrics(registry: Registry) {
  const registers = [registry];
  return {
    accepted: new Counter({
      name: 'mesh_apim_emit_events_accepted_total',
      help: 'Events handed to the emitter by the check path or the access-log stream',
      labelNames: ['topic'] as const,
      registers,
    }),
    emitted: new Counter({
      name: 'mesh_apim_emit_events_emitted_total',
      help: 'Events the bus accepted (directly or drained from the spool)',
      labelNames: ['topic', 'path'] as const,
      registers,
    }),
    batches: new Counter({
      name: 'mesh_apim_emit_batches_total',
      help: 'Producer batches the bus accepted',
      labelNames: ['path'] as const,
      registers,
    }),
    spooled: new Counter({
      name: 'mesh_apim_emit_events_spooled_total',
      help: 'Events written to the on-disk spool (bus down or slow, or buffer above the eager-spool threshold)',
      registers,
    }),
    dropped: new Counter({
      name: 'mesh_apim_emit_events_dropped_total',
      help: 'Events lost: spool-full (oldest spooled dropped), buffer-full (newest, disk slower than input), corrupt (damaged spool), spool-error (disk write failed), unserializable, stopped (emitted after stop)',
      labelNames: ['reason'] as const,
      registers,
    }),
    spoolBytes: new Gauge({
      name: 'mesh_apim_emit_spool_bytes',
      help: 'Bytes in the on-disk spool',
      registers,
    }),
    spoolPending: new Gauge({
      name: 'mesh_apim_emit_spool_events',
      help: 'Events in the spool waiting for the bus',
      registers,
    }),
    buffered: new Gauge({
      name: 'mesh_apim_emit_buffer_events',
      help: 'Events in memory waiting for the next batch (lost on SIGKILL)',
      registers,
    }),
    producerErrors: new Counter({
      name: 'mesh_apim_emit_producer_errors_total',
      help: 'Failed producer calls: error (rejected) or timeout (did not settle within emitter.produceTimeoutMs)',
      labelNames: ['kind'] as const,
      registers,
    }),
    lag: new Histogram({
      name: 'mesh_apim_emit_lag_seconds',
      help: 'End-to-end emit lag: from handing an event to the emitter until the bus accepted it',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers,
    }),
  };
}

export type EmitterMetrics = ReturnType<typeof emitterMetrics>;
