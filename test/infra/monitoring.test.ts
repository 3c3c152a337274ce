/**
 * Monitoring cannot drift from the code: docs/metrics.md is the registry of a running adapter, and
 * every metric the Grafana dashboard and the alert rules query exists in it (histogram series by their
 * _bucket/_sum/_count names). The dashboard covers what an operator looks at first.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { adapterMetricRefs, type MetricRef, metricsDoc } from '../../infra/monitoring/metrics-reference.ts';

const root = path.resolve(import.meta.dirname, '../..');
const files = path.join(root, 'infra/helm/mesh-apim/files');
const dashboard = JSON.parse(readFileSync(path.join(files, 'grafana-dashboard.json'), 'utf8')) as {
  panels: { title: string; targets: { expr: string }[] }[];
  templating: { list: { query?: unknown }[] };
};
const alerts = parse(readFileSync(path.join(files, 'alerts.yaml'), 'utf8')) as {
  groups: { rules: { alert: string; expr: string }[] }[];
};
const exprs = [
  ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
  ...dashboard.templating.list
    .map((v) => v.query)
    .filter((q): q is string => typeof q === 'string' && q.includes('(')),
  ...alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)),
];

/** Metric names in a PromQL expression (identifiers followed by a selector, a range or an operator). */
function metricNames(expr: string): string[] {
  const noStrings = expr.replace(/"[^"]*"/g, '""');
  return [...noStrings.matchAll(/\b((?:mesh_apim|nodejs|process)_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
}

describe('monitoring', () => {
  let refs: MetricRef[];
  let series: Set<string>;
  beforeAll(async () => {
    refs = await adapterMetricRefs();
    series = new Set(
      refs.flatMap((m) =>
        m.type === 'histogram' || m.type === 'summary'
          ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]
          : [m.name],
      ),
    );
  });

  it('docs/metrics.md is the registry (regenerate: npm run metrics:docs)', () => {
    expect(readFileSync(path.join(root, 'docs/metrics.md'), 'utf8')).toBe(metricsDoc(refs));
  });

  it('the registry has the build info and the default process metrics (event-loop lag)', () => {
    const names = refs.map((m) => m.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'mesh_apim_build_info',
        'nodejs_eventloop_lag_p99_seconds',
        'process_cpu_seconds_total',
      ]),
    );
  });

  it('the dashboard and the alerts query only metrics that exist', () => {
    const used = [...new Set(exprs.flatMap(metricNames))];
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((n) => !series.has(n))).toEqual([]);
  });

  it('metricNames finds names outside label values only', () => {
    expect(metricNames('sum(rate(mesh_apim_x_total{decision="mesh_apim_not_a_metric"}[5m]))')).toEqual([
      'mesh_apim_x_total',
    ]);
  });

  it('the dashboard shows checks by decision and API, p50/p99, event lag, spool, snapshot age, throttling', () => {
    const all = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const needle of [
      'sum by (decision) (rate(mesh_apim_checks_total',
      'sum by (api) (rate(mesh_apim_checks_total',
      'histogram_quantile(0.5, sum by (le) (rate(mesh_apim_check_duration_seconds_bucket',
      'histogram_quantile(0.99, sum by (le) (rate(mesh_apim_check_duration_seconds_bucket',
      'mesh_apim_emit_lag_seconds_bucket',
      'mesh_apim_emit_spool_bytes',
      'mesh_apim_snapshot_age_seconds',
      'decision="rate-limited"',
    ]) {
      expect(all, needle).toContain(needle);
    }
  });

  it('alerts: snapshot not loaded, events dropped, internal errors, spool filling, event-loop lag', () => {
    const names = alerts.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(names).toEqual(
      expect.arrayContaining([
        'MeshApimSnapshotNotLoaded',
        'MeshApimEventsDropped',
        'MeshApimInternalErrors',
        'MeshApimSpoolFilling',
        'MeshApimEventLoopLag',
      ]),
    );
  });
});
