/**
 * One way to build outbound HTTP clients (API Manager, key manager, JWKS): axios with an agent that
 * carries the configured CA bundle and optional client certificate. Bodies come back as text so each
 * caller parses (and rejects malformed JSON) itself.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance } from 'axios';

export interface TlsFiles {
  /** PEM CA bundle to trust (empty = system CAs). */
  caFile?: string;
  /** Client certificate and key (PEM) for mutual TLS (empty = none). */
  certFile?: string;
  keyFile?: string;
}

export interface HttpClientOptions extends TlsFiles {
  timeoutMs: number;
  baseURL?: string;
}

function read(file: string | undefined): Buffer | undefined {
  return file ? readFileSync(file) : undefined;
}

export function createHttpClient(options: HttpClientOptions): AxiosInstance {
  const ca = read(options.caFile);
  const cert = read(options.certFile);
  const key = read(options.keyFile);
  return axios.create({
    ...(options.baseURL ? { baseURL: options.baseURL } : {}),
    timeout: options.timeoutMs,
    httpAgent: new http.Agent({ keepAlive: true }),
    httpsAgent: new https.Agent({
      keepAlive: true,
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
    }),
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    validateStatus: () => true,
    maxRedirects: 0,
    proxy: false,
  });
}
