/**
 * The admin HTTP endpoint every long-running mesh-apim program serves (adapter, controller, bridge):
 * GET /healthz (the process answers), /readyz (200 or 503 with a JSON body the program describes),
 * /metrics (its Prometheus registry). Anything else is 404; methods other than GET/HEAD 405.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { errorMessage } from './errors.ts';
import { registerProcessMetrics } from './process-metrics.ts';

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

export interface Readiness {
  ready: boolean;
  [detail: string]: unknown;
}

export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`not host:port: ${address}`);
  return { host: m[1]!, port: Number(m[2]) };
}

export async function startAdminHttp(
  address: string,
  deps: { registry: Registry; readiness(): Readiness },
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
      const r = deps.readiness();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r));
    } else if (path === '/metrics') {
      deps.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': deps.registry.contentType }).end(text),
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

/**
 * The admin endpoint of a program without metrics of its own (controller, bridge): its registry holds
 * the process metrics and mesh_apim_build_info. Empty address = no endpoint (null).
 */
export async function startProgramAdmin(
  address: string,
  program: string,
  readiness: () => Readiness,
): Promise<AdminServer | null> {
  if (!address) return null;
  const registry = new Registry();
  registerProcessMetrics(registry, program);
  return startAdminHttp(address, { registry, readiness });
}
