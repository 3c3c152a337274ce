/** Prometheus metrics of one adapter. A Registry per adapter: tests run several in one process. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Decision } from './domain.ts';

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
  /** Requests the gRPC transport answered with an error status or dropped (bad input, timeouts). */
  readonly transportErrors: Counter<'transport' | 'reason'>;
  /** Counts one answered check and its duration (labelled children cached: no label hashing per call). */
  observeCheck(decision: Decision, seconds: number): void;
}

type HistogramChild = ReturnType<Histogram<string>['labels']>;

/** A label set of the checks counter and the checks counted since the last scrape. */
interface PendingChecks {
  labels: { decision: string; api: string; code: string };
  n: number;
}

/** Guard on the checks counter's label sets held between scrapes (decision x API x code are few). */
const MAX_LABEL_SETS = 10_000;

export function createAdapterMetrics(registry: Registry = new Registry()): AdapterMetrics {
  const r = [registry];
  // Counted per check into plain numbers and added to prom-client when it collects (a scrape, or
  // a get()): a labelled child's inc() re-hashes and re-validates its labels on every call.
  const pending: PendingChecks[] = [];
  const checks = new Counter({
    name: 'mesh_apim_checks_total',
    help: 'Checks answered, by decision, API id and WSO2 code (0 = allowed)',
    labelNames: ['decision', 'api', 'code'] as const,
    registers: r,
    collect() {
      flush();
    },
  });
  const checkDuration = new Histogram({
    name: 'mesh_apim_check_duration_seconds',
    help: 'Time from receiving a Check to answering it',
    labelNames: ['decision'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: r,
  });
  // Label sets are few (decision x API x code): nested maps keyed by the decision's own strings and
  // number, so no key is built per check. Bounded as a guard: emptied (after a flush) at MAX_LABEL_SETS.
  const byDecision = new Map<string, Map<string, Map<number, PendingChecks>>>();
  function flush(): void {
    for (const p of pending) {
      if (p.n === 0) continue;
      checks.inc(p.labels, p.n);
      p.n = 0;
    }
  }
  const durationChildren = new Map<string, HistogramChild>();
  return {
    registry,
    checks,
    checkDuration,
    observeCheck(decision, seconds) {
      if (pending.length >= MAX_LABEL_SETS) {
        flush();
        pending.length = 0;
        byDecision.clear();
      }
      const kind = decision.kind;
      const api = decision.match.api?.id ?? 'none';
      const code = decision.code ?? 0;
      let byApi = byDecision.get(kind);
      if (!byApi) {
        byApi = new Map();
        byDecision.set(kind, byApi);
      }
      let byCode = byApi.get(api);
      if (!byCode) {
        byCode = new Map();
        byApi.set(api, byCode);
      }
      let p = byCode.get(code);
      if (!p) {
        p = { labels: { decision: kind, api, code: String(code) }, n: 0 };
        pending.push(p);
        byCode.set(code, p);
      }
      p.n++;
      let h = durationChildren.get(kind);
      if (!h) {
        h = checkDuration.labels({ decision: kind });
        durationChildren.set(kind, h);
      }
      h.observe(seconds);
    },
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
    transportErrors: new Counter({
      name: 'mesh_apim_grpc_transport_errors_total',
      help: 'gRPC requests the transport answered with an error status or dropped, by transport and reason (bad input, deadline, reset, ...)',
      labelNames: ['transport', 'reason'],
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
