/**
 * The few lines `mesh-apim start` prints once it listens: where, with what data, and one command to
 * paste that proves it works (an API key for a subscribed application, then a check with it).
 */
import { resolve } from 'node:path';
import type { Snapshot } from '../adapter/snapshot/types.ts';

export interface BannerInput {
  version: string;
  controlPlane: string;
  grpcAddress: string;
  grpcPort: number;
  adminAddress: string;
  adminPort: number;
  dataDir: string;
  configFile?: string | undefined;
  snapshot: Snapshot | null;
}

/** host:port as a client reaches it: a wildcard listen address is reached on loopback. */
function reachable(address: string, port: number): string {
  const host = address.slice(0, address.lastIndexOf(':'));
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return `${h}:${port}`;
}

/** A subscribed application and a GET resource of its API, for the example (null: nothing to show). */
export function exampleCheck(snapshot: Snapshot | null): { application: string; path: string } | null {
  if (!snapshot) return null;
  for (const sub of snapshot.subscriptions.values()) {
    if (sub.state !== 'UNBLOCKED') continue;
    const app = snapshot.applications.get(sub.applicationId);
    const api = snapshot.apis.get(sub.apiId);
    const resource = api?.resources.find((r) => r.method === 'GET' && !r.template.includes('{'));
    if (app && api && resource) {
      const template = resource.template.replace(/\/\*$/, '');
      return { application: app.name, path: `${api.versionedContext}${template === '/' ? '' : template}` };
    }
  }
  return null;
}

export function startBanner(b: BannerInput): string {
  const grpc = reachable(b.grpcAddress, b.grpcPort);
  const admin = reachable(b.adminAddress, b.adminPort);
  const config = b.configFile ? ` --config ${b.configFile}` : '';
  const lines = [
    `mesh-apim ${b.version} ready (${b.controlPlane} control plane)`,
    `  ext_authz gRPC  ${grpc}`,
    `  admin HTTP      http://${admin}  (/healthz /readyz /metrics)`,
    `  data dir        ${resolve(b.dataDir)}`,
  ];
  const example = b.controlPlane === 'standalone' ? exampleCheck(b.snapshot) : null;
  if (example) {
    lines.push(
      '  try:',
      `    KEY=$(npx mesh-apim apikey -a ${example.application}${config})`,
      `    npx mesh-apim check --address ${grpc} --path ${example.path} --apikey "$KEY"`,
    );
  } else {
    lines.push(`  try: npx mesh-apim check --address ${grpc} --path <path> --apikey <key>`);
  }
  return `${lines.join('\n')}\n`;
}
