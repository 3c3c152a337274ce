/**
 * One way to build outbound HTTP clients (API Manager, key manager, JWKS): axios with the TLS agent of
 * apim/tls.ts (the configured CA bundle and optional client certificate). Bodies come back as text so
 * each caller parses (and rejects malformed JSON) itself.
 */
import http from 'node:http';
import axios, { type AxiosInstance } from 'axios';
import { type TlsFiles, tlsAgent } from '../apim/tls.ts';

export type { TlsFiles } from '../apim/tls.ts';

export interface HttpClientOptions extends TlsFiles {
  timeoutMs: number;
  baseURL?: string;
}

export function createHttpClient(options: HttpClientOptions): AxiosInstance {
  return axios.create({
    ...(options.baseURL ? { baseURL: options.baseURL } : {}),
    timeout: options.timeoutMs,
    httpAgent: new http.Agent({ keepAlive: true }),
    httpsAgent: tlsAgent(options),
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    validateStatus: () => true,
    maxRedirects: 0,
    proxy: false,
  });
}
