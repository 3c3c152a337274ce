/** Admin HTTP of the adapter: /readyz = a policy snapshot is in force and the adapter is not draining. */
import { type AdminServer, startAdminHttp } from '../common/admin-http.ts';
import type { AdapterMetrics } from './metrics.ts';
import type { LeaseStatus } from './quota/leases.ts';
import type { SnapshotStore } from './snapshot/store.ts';

export { type AdminServer, splitHostPort } from '../common/admin-http.ts';

export function startAdminServer(
  address: string,
  deps: {
    metrics: AdapterMetrics;
    store: SnapshotStore;
    draining?: () => boolean;
    /** Cluster-wide quotas: shown, never a reason to be unready (the fallback share still enforces). */
    quota?: () => LeaseStatus;
  },
): Promise<AdminServer> {
  return startAdminHttp(address, {
    registry: deps.metrics.registry,
    readiness() {
      const snap = deps.store.current();
      // Draining (stop requested): not ready, so traffic moves elsewhere while checks are still answered.
      const draining = deps.draining?.() ?? false;
      return {
        ready: snap !== null && !draining,
        ...(draining ? { draining } : {}),
        snapshot: snap ? { source: snap.source, version: snap.version, apis: snap.apis.size } : null,
        lastError: deps.store.error,
        ...(deps.quota ? { throttleSync: deps.quota() } : {}),
      };
    },
  });
}
