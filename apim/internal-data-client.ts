/**
 * Client of WSO2 API Manager's internal data API (`/internal/data/v1`), the endpoint family WSO2's own
 * gateways pull their subscription-validation data from. Basic auth + the `xWSO2Tenant` header, TLS
 * with the configured CA / client certificate. Each response is parsed against the spec's shape; any
 * error fails the whole pull (a snapshot is built from a complete, consistent read or not at all).
 */
import type { AxiosInstance } from 'axios';
import { z } from 'zod';
import { createHttpClient } from '../adapter/http-client.ts';
import type { Config } from '../common/config/index.ts';
import { errorMessage } from '../common/errors.ts';
import { ApimResponseError, ApimUnavailableError } from './errors.ts';
import {
  ApiList,
  type ApimData,
  ApiPolicyList,
  ApplicationList,
  ApplicationPolicyList,
  KeyMappingList,
  RevokedEvents,
  SubscriptionList,
  SubscriptionPolicyList,
} from './internal-data-types.ts';
import { apimTlsFiles, type TlsFiles } from './tls.ts';

export const INTERNAL_DATA_PATH = '/internal/data/v1';

export interface InternalDataClientOptions extends TlsFiles {
  /** API Manager base URL, e.g. https://apim:9443 */
  url: string;
  username: string;
  password: string;
  tenant: string;
  timeoutMs: number;
  /** Only APIs deployed to this gateway environment (empty = all). */
  gatewayLabel?: string;
  http?: AxiosInstance;
}

/** The client of the `apim` settings: one place that maps them (the snapshot source, the revocation re-pulls). */
export function internalDataClientFor(apim: Config['apim']): InternalDataClient {
  return new InternalDataClient({
    url: apim.url,
    username: apim.username,
    password: apim.password,
    tenant: apim.tenant,
    timeoutMs: apim.requestTimeoutMs,
    gatewayLabel: apim.gatewayLabel,
    ...apimTlsFiles(apim),
  });
}

export class InternalDataClient {
  private readonly http: AxiosInstance;
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: InternalDataClientOptions) {
    this.base = `${options.url.replace(/\/+$/, '')}${INTERNAL_DATA_PATH}`;
    this.http = options.http ?? createHttpClient(options);
    const basic = Buffer.from(`${options.username}:${options.password}`).toString('base64');
    this.headers = {
      authorization: `Basic ${basic}`,
      xWSO2Tenant: options.tenant,
      accept: 'application/json',
    };
  }

  /** Reads every collection the adapter needs, concurrently; rejects if any one fails. */
  async fetchAll(): Promise<ApimData> {
    const label = this.options.gatewayLabel;
    const [
      apis,
      applications,
      subscriptions,
      keyMappings,
      subscriptionPolicies,
      applicationPolicies,
      apiPolicies,
      revoked,
    ] = await Promise.all([
      // As WSO2's gateway asks (SubscriptionDataLoaderImpl.loadAllApis): plain /apis, whose answer
      // carries each API's urlMappings; the published spec declares no `expand` to send
      // (test/apim/contract.test.ts holds the client to the spec).
      this.list('/apis', ApiList, label ? { gatewayLabel: label } : {}),
      this.list('/applications', ApplicationList),
      this.list('/subscriptions', SubscriptionList),
      this.list('/application-key-mappings', KeyMappingList),
      this.list('/subscription-policies', SubscriptionPolicyList),
      this.list('/application-policies', ApplicationPolicyList),
      this.list('/api-policies', ApiPolicyList),
      this.get('/revokedjwt', RevokedEvents),
    ]);
    return {
      apis,
      applications,
      subscriptions,
      keyMappings,
      subscriptionPolicies,
      applicationPolicies,
      apiPolicies,
      revoked,
      // Not in the internal data API: the snapshot source adds them from the Publisher API.
      clientCertificates: {},
    };
  }

  /** GET /revokedjwt alone: the revocation feed's start-up load (before the adapter reports ready). */
  fetchRevoked(): Promise<z.infer<typeof RevokedEvents>> {
    return this.get('/revokedjwt', RevokedEvents);
  }

  private async list<T>(
    path: string,
    schema: z.ZodType<{ list: T[]; pagination?: { next?: string | undefined } | undefined }>,
    query: Record<string, string> = {},
  ): Promise<T[]> {
    const body = await this.getUrl(this.url(path, query), path, schema);
    // The spec declares no paging parameters: the list is complete in one answer. A server that
    // announces a next page anyway cannot be followed within the contract, and a partial list must
    // never become a snapshot.
    if (body.pagination?.next) {
      throw new ApimResponseError(`GET ${path}: partial list (pagination.next=${body.pagination.next})`);
    }
    return body.list;
  }

  private get<T>(path: string, schema: z.ZodType<T>): Promise<T> {
    return this.getUrl(this.url(path, {}), path, schema);
  }

  private url(path: string, query: Record<string, string>): string {
    const qs = new URLSearchParams(query).toString();
    return `${this.base}${path}${qs ? `?${qs}` : ''}`;
  }

  private async getUrl<T>(url: string, path: string, schema: z.ZodType<T>): Promise<T> {
    let status: number;
    let text: string;
    try {
      const res = await this.http.get<string>(url, { headers: this.headers });
      status = res.status;
      text = res.data;
    } catch (cause) {
      throw new ApimUnavailableError(`GET ${path}: ${errorMessage(cause)}`, { cause });
    }
    if (status !== 200) throw new ApimUnavailableError(`GET ${path}: HTTP ${status}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new ApimResponseError(`GET ${path}: response is not JSON`, { cause });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      // The first five only: a response of thousands of malformed entries would flood the log.
      const first = new z.ZodError(parsed.error.issues.slice(0, 5));
      throw new ApimResponseError(`GET ${path}: unexpected response shape:\n${z.prettifyError(first)}`);
    }
    return parsed.data;
  }
}
