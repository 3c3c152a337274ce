/** Admin HTTP: /healthz (process alive), /readyz (a policy snapshot is in force, not draining), /metrics (Prometheus). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../common/errors.ts';
import type { AdapterMetrics } from './metrics.ts';
import type { SnapshotStore } from './snapshot/store.ts';

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`not host:port: ${address}`);
  return { host: m[1]!, port: Number(m[2]) };
}

export async function startAdminServer(
  address: string,
  deps: { metrics: AdapterMetrics; store: SnapshotStore; draining?: () => boolean },
): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const snap = deps.store.current();
      // Draining (stop requested): not ready, so traffic moves elsewhere while checks are still answered.
      const draining = deps.draining?.() ?? false;
      const ready = snap !== null && !draining;
      const body = JSON.stringify({
        ready,
        ...(draining ? { draining } : {}),
        snapshot: snap ? { source: snap.source, version: snap.version, apis: snap.apis.size } : null,
        lastError: deps.store.error,
      });
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(body);
    } else if (path === '/metrics') {
      deps.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': deps.metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(errorMessage(err)),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  const { host, port } = splitHostPort(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
