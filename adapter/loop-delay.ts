/**
 * Event-loop delay of the adapter process (perf_hooks.monitorEventLoopDelay), exported on /metrics:
 * the check path runs on this loop, so a stall here (a synchronous SQLite commit, a long GC, a
 * backtracking regex) delays every check in flight. Percentiles are over the window since the previous
 * scrape (the histogram is reset on each collect), so a p99 reads as "the last scrape interval".
 * prom-client's own nodejs_eventloop_lag_* come from collectDefaultMetrics, which the adapter does not
 * enable (it would add a dozen process metrics per scrape); this is the one figure the mission needs.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

export interface LoopDelayMonitor {
  readonly histogram: IntervalHistogram;
  stop(): void;
}

const QUANTILES = [0.5, 0.9, 0.99, 0.999, 1] as const;

/** Starts sampling (resolutionMs: the sampling timer; 10 ms is Node's default, 1 ms finer but costlier). */
export function monitorLoopDelay(registry: Registry, resolutionMs = 10): LoopDelayMonitor {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  new Gauge({
    name: 'mesh_apim_event_loop_delay_seconds',
    help: `Event-loop delay over the window since the previous scrape (monitorEventLoopDelay, resolution ${resolutionMs} ms), by quantile; quantile="1" is the maximum`,
    labelNames: ['quantile'] as const,
    registers: [registry],
    collect() {
      if (histogram.count === 0) return;
      for (const q of QUANTILES) {
        const ns = q === 1 ? histogram.max : histogram.percentile(q * 100);
        this.set({ quantile: String(q) }, ns / 1e9);
      }
      histogram.reset();
    },
  });
  return { histogram, stop: () => histogram.disable() };
}
