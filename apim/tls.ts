/**
 * TLS to WSO2 API Manager, one path for every client (the internal data client, the Publisher
 * client of the adapter and of the api-auto-creator, and the adapter's key-manager calls to the same
 * origin): the `apim` settings' CA bundle (trusted instead of the system CAs) and optional client
 * certificate + key (mutual TLS), read once into a keep-alive agent.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { Config } from '../common/config/index.ts';

export interface TlsFiles {
  /** PEM CA bundle to trust (empty = system CAs). */
  caFile?: string;
  /** Client certificate and key (PEM) for mutual TLS (empty = none). */
  certFile?: string;
  keyFile?: string;
}

/** The TLS files of the `apim` settings. */
export function apimTlsFiles(apim: Pick<Config['apim'], 'caFile' | 'certFile' | 'keyFile'>): TlsFiles {
  return { caFile: apim.caFile, certFile: apim.certFile, keyFile: apim.keyFile };
}

export function hasTlsFiles(files: TlsFiles): boolean {
  return Boolean(files.caFile || files.certFile || files.keyFile);
}

function read(file: string | undefined): Buffer | undefined {
  return file ? readFileSync(file) : undefined;
}

/** A keep-alive HTTPS agent presenting/trusting the given files (none: Node's defaults). */
export function tlsAgent(files: TlsFiles): https.Agent {
  const ca = read(files.caFile);
  const cert = read(files.certFile);
  const key = read(files.keyFile);
  return new https.Agent({
    keepAlive: true,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
  });
}
