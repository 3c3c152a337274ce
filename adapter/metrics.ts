/** Prometheus metrics of one adapter. A Registry per adapter: tests run several in one process. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface AdapterMetrics {
  readonly registry: Registry;
  readonly checks: Counter<'decision' | 'api' | 'code'>;
  readonly checkDuration: Histogram<'decision'>;
  readonly internalErrors: Counter<'stage'>;
  readonly snapshotReloads: Counter<'source' | 'result'>;
  readonly snapshotFailures: Counter<'source'>;
  readonly snapshotLoaded: Gauge<'source'>;
  readonly snapshotInfo: Gauge<'source' | 'version'>;
  readonly throttleKeys: Gauge;
  readonly throttleRefused: Counter;
  readonly observerErrors: Counter;
}

export function createAdapterMetrics(registry: Registry = new Registry()): AdapterMetrics {
  const r = [registry];
  return {
    registry,
    checks: new Counter({
      name: 'mesh_apim_checks_total',
      help: 'Checks answered, by decision, API id and WSO2 code (0 = allowed)',
      labelNames: ['decision', 'api', 'code'],
      registers: r,
    }),
    checkDuration: new Histogram({
      name: 'mesh_apim_check_duration_seconds',
      help: 'Time from receiving a Check to answering it',
      labelNames: ['decision'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: r,
    }),
    internalErrors: new Counter({
      name: 'mesh_apim_check_internal_errors_total',
      help: 'Checks answered with the failure mode because the adapter failed, by stage',
      labelNames: ['stage'],
      registers: r,
    }),
    snapshotReloads: new Counter({
      name: 'mesh_apim_snapshot_reloads_total',
      help: 'Policy snapshot loads, by source and result (ok, unchanged, failed)',
      labelNames: ['source', 'result'],
      registers: r,
    }),
    snapshotFailures: new Counter({
      name: 'mesh_apim_snapshot_failures_total',
      help: 'Policy snapshot loads that failed (the last good snapshot stays in force)',
      labelNames: ['source'],
      registers: r,
    }),
    snapshotLoaded: new Gauge({
      name: 'mesh_apim_snapshot_loaded',
      help: '1 when a policy snapshot is in force',
      labelNames: ['source'],
      registers: r,
    }),
    snapshotInfo: new Gauge({
      name: 'mesh_apim_snapshot_info',
      help: 'Version of the snapshot in force (value 1)',
      labelNames: ['source', 'version'],
      registers: r,
    }),
    throttleKeys: new Gauge({
      name: 'mesh_apim_throttle_keys',
      help: 'Throttle counters held in memory',
      registers: r,
    }),
    throttleRefused: new Counter({
      name: 'mesh_apim_throttle_refused_total',
      help: 'Requests denied 429 because every throttle counter held was live and none could be made for them (client: authenticated | unauthenticated)',
      labelNames: ['client'],
      registers: r,
    }),
    observerErrors: new Counter({
      name: 'mesh_apim_check_observer_errors_total',
      help: 'onCheck observer calls that threw (the check was answered regardless)',
      registers: r,
    }),
  };
}
