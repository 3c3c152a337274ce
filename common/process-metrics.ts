/**
 * Process-level metrics of every mesh-apim program, next to its own: prom-client's default metrics
 * (CPU, memory, GC, handles, `nodejs_eventloop_lag_*`) and `mesh_apim_build_info` (value 1; the
 * version and Node.js running, for dashboards and "which version serves this" questions).
 * Shared by the adapter, the controller and the bridge.
 */
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import { PACKAGE_VERSION as version } from './package-root.ts';

export function registerProcessMetrics(registry: Registry, program: string): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  new Gauge({
    name: 'mesh_apim_build_info',
    help: 'Build of the running program (value 1): version, Node.js version, program',
    labelNames: ['version', 'nodejs', 'program'],
    registers: [registry],
  }).set({ version, nodejs: process.versions.node, program }, 1);
}
