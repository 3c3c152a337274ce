/**
 * WSO2 API Manager Publisher REST API v4 client (axios). Owns the credentials dance: Dynamic Client
 * Registration (Basic auth) once, an OAuth2 token cached until shortly before it expires and fetched
 * again on expiry or on a 401. Every call retries 5xx, 429, timeouts and network errors with
 * exponential backoff; anything else surfaces as a non-retriable ApimError carrying APIM's body.
 */
import type { Agent } from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import pRetry from 'p-retry';
import { sleep } from '../common/backoff.ts';
import type { Logger } from '../common/log.ts';
import { ApimError } from './errors.ts';

export const PUBLISHER_SCOPES = [
  'apim:api_view',
  'apim:api_create',
  'apim:api_publish',
  'apim:api_manage',
  'apim:api_import_export',
] as const;

export interface PublisherClientOptions {
  /** e.g. https://apim:9443 */
  baseUrl: string;
  username: string;
  password: string;
  clientName: string;
  scopes?: readonly string[];
  timeoutMs: number;
  /** Attempts per call, first included. */
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs?: number;
  httpsAgent?: Agent;
  /** Jitter source in [0, 1); injectable for tests. */
  random?: () => number;
  log?: Logger;
  now?: () => number;
}

export interface ApiInfo {
  id: string;
  name: string;
  version: string;
  context: string;
  lifeCycleStatus?: string;
  [k: string]: unknown;
}

export interface ApiRevisionDeployment {
  revisionUuid?: string;
  name: string;
  vhost?: string;
  displayOnDevportal?: boolean;
  status?: string;
  deployedTime?: string;
}

export interface ApiRevision {
  id: string;
  displayName?: string;
  description?: string;
  createdTime?: string;
  deploymentInfo?: ApiRevisionDeployment[];
}

export interface DeploymentTarget {
  name: string;
  vhost: string;
  displayOnDevportal: boolean;
}

interface Token {
  value: string;
  expiresAt: number;
}

interface CallOptions {
  params?: Record<string, string | number | boolean>;
  data?: unknown;
  headers?: Record<string, string>;
  /** Statuses that are success for this call besides 2xx (none by default). */
  okStatuses?: number[];
  /** 'arraybuffer' for binary bodies (a certificate download); JSON otherwise. */
  responseType?: 'arraybuffer';
}

/** Publisher `ClientCertMetadata`: one certificate uploaded for an API's mutual TLS. */
export interface ClientCertMetadata {
  alias: string;
  apiId?: string;
  tier?: string;
}

/** Scope of the two client-certificate reads (the Publisher spec's least privilege for them). */
export const CLIENT_CERTIFICATES_VIEW_SCOPE = 'apim:client_certificates_view';

export class PublisherClient {
  private readonly http: AxiosInstance;
  private readonly opts: Required<Pick<PublisherClientOptions, 'retryMaxMs'>> & PublisherClientOptions;
  private client: { clientId: string; clientSecret: string } | null = null;
  private token: Token | null = null;
  private tokenInFlight: Promise<Token> | null = null;
  /** Counters for tests and logs. */
  readonly stats = { registrations: 0, tokens: 0, calls: 0, retries: 0 };

  constructor(options: PublisherClientOptions) {
    // timeoutMs, attempts, retry base and client name come resolved from the caller's settings
    // (apim.requestTimeoutMs, autoCreator.*); only the retry cap is this client's own.
    this.opts = { retryMaxMs: 5_000, ...options };
    this.http = axios.create({
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      timeout: this.opts.timeoutMs,
      validateStatus: () => true,
      ...(options.httpsAgent ? { httpsAgent: options.httpsAgent } : {}),
    });
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /**
   * Retries `fn` on retriable ApimErrors with capped exponential backoff and jitter. The wait is drawn
   * and slept here, not by p-retry, so the logged delay is the wait that happens (p-retry draws its
   * own after onFailedAttempt and never reports it).
   */
  private withRetry<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const { maxAttempts, retryBaseMs, retryMaxMs } = this.opts;
    const random = this.opts.random ?? Math.random;
    // p-retry rethrows a non-network TypeError (a bug, not an outage) without retrying: no wait for it.
    const retriable = (err: unknown) =>
      err instanceof ApimError ? err.retriable : !(err instanceof TypeError);
    return pRetry(fn, {
      retries: maxAttempts - 1,
      minTimeout: 0,
      randomize: false,
      shouldRetry: ({ error }) => retriable(error),
      onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft === 0 || !retriable(error)) return;
        this.stats.retries++;
        // Half to all of base * 2^n ("equal jitter"): never a hot loop, replicas still spread out.
        const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** (attemptNumber - 1));
        const delay = Math.round(ceiling * (0.5 + 0.5 * random()));
        this.opts.log?.warn(
          { operation, attempt: attemptNumber, delay, err: String(error) },
          'API Manager call failed, retrying',
        );
        await sleep(delay);
      },
    });
  }

  /** One HTTP exchange; transport failures become ApimError status 0 (retriable). */
  private async send(
    operation: string,
    config: Parameters<AxiosInstance['request']>[0],
  ): Promise<AxiosResponse> {
    this.stats.calls++;
    try {
      return await this.http.request(config);
    } catch (cause) {
      throw new ApimError(operation, 0, null, { cause });
    }
  }

  private async register(): Promise<{ clientId: string; clientSecret: string }> {
    if (this.client) return this.client;
    const res = await this.send('dcr register', {
      method: 'POST',
      url: '/client-registration/v0.17/register',
      auth: { username: this.opts.username, password: this.opts.password },
      headers: { 'content-type': 'application/json' },
      data: {
        callbackUrl: 'www.mesh-apim.invalid',
        clientName: this.opts.clientName,
        owner: this.opts.username,
        grantType: 'password refresh_token client_credentials',
        saasApp: true,
      },
    });
    if (res.status !== 200 && res.status !== 201) throw new ApimError('dcr register', res.status, res.data);
    const { clientId, clientSecret } = res.data as { clientId?: string; clientSecret?: string };
    if (!clientId || !clientSecret)
      throw new ApimError('dcr register', res.status, { message: 'response lacks clientId/clientSecret' });
    this.stats.registrations++;
    this.client = { clientId, clientSecret };
    return this.client;
  }

  private async fetchToken(): Promise<Token> {
    const client = await this.register();
    const form = new URLSearchParams({
      grant_type: 'password',
      username: this.opts.username,
      password: this.opts.password,
      scope: (this.opts.scopes ?? PUBLISHER_SCOPES).join(' '),
    });
    const res = await this.send('token', {
      method: 'POST',
      url: '/oauth2/token',
      auth: { username: client.clientId, password: client.clientSecret },
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      data: form.toString(),
    });
    if (res.status === 401) {
      // The registered client is gone (APIM reset): register again next time.
      this.client = null;
      throw new ApimError('token', res.status, res.data, { retriable: true });
    }
    if (res.status !== 200) throw new ApimError('token', res.status, res.data);
    const body = res.data as { access_token?: string; expires_in?: number };
    if (!body.access_token) throw new ApimError('token', res.status, { message: 'no access_token' });
    this.stats.tokens++;
    // Renew 10% (max 60 s) early so a token never expires between check and use.
    const ttl = (body.expires_in ?? 3600) * 1000;
    return { value: body.access_token, expiresAt: this.now() + ttl - Math.min(60_000, ttl / 10) };
  }

  private async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt > this.now()) return this.token.value;
    this.tokenInFlight ??= this.fetchToken().finally(() => {
      this.tokenInFlight = null;
    });
    this.token = await this.tokenInFlight;
    return this.token.value;
  }

  /** A Publisher API call (path relative to /api/am/publisher/v4) with token, 401 refresh and retries. */
  async call<T = unknown>(
    operation: string,
    method: string,
    path: string,
    options: CallOptions = {},
  ): Promise<{ status: number; data: T }> {
    return this.withRetry(operation, async () => {
      let refreshed = false;
      for (;;) {
        const token = await this.accessToken();
        const res = await this.send(operation, {
          method,
          url: `/api/am/publisher/v4${path}`,
          params: options.params,
          data: options.data,
          ...(options.responseType ? { responseType: options.responseType } : {}),
          headers: { ...options.headers, authorization: `Bearer ${token}` },
        });
        if (res.status === 401 && !refreshed) {
          refreshed = true;
          this.token = null;
          continue;
        }
        if ((res.status >= 200 && res.status < 300) || options.okStatuses?.includes(res.status))
          return { status: res.status, data: res.data as T };
        throw new ApimError(operation, res.status, res.data);
      }
    });
  }

  /** APIs whose name and version are exactly these (APIM's search matches substrings). */
  async findApis(name: string, version: string): Promise<ApiInfo[]> {
    const { data } = await this.call<{ list?: ApiInfo[] }>('search apis', 'GET', '/apis', {
      params: { query: `name:"${name}" version:"${version}"`, limit: 100 },
    });
    return (data.list ?? []).filter((a) => a.name === name && a.version === version);
  }

  async getApi(apiId: string): Promise<ApiInfo> {
    return (await this.call<ApiInfo>('get api', 'GET', `/apis/${encodeURIComponent(apiId)}`)).data;
  }

  async updateApi(apiId: string, api: Record<string, unknown>): Promise<ApiInfo> {
    return (
      await this.call<ApiInfo>('update api', 'PUT', `/apis/${encodeURIComponent(apiId)}`, {
        data: api,
        headers: { 'content-type': 'application/json' },
      })
    ).data;
  }

  async importOpenApi(definition: string, additionalProperties: Record<string, unknown>): Promise<ApiInfo> {
    // A fresh form per attempt: a FormData body is consumed by the first send.
    const form = new FormData();
    form.append('inlineAPIDefinition', definition);
    form.append('additionalProperties', JSON.stringify(additionalProperties));
    return (await this.call<ApiInfo>('import openapi', 'POST', '/apis/import-openapi', { data: form })).data;
  }

  async updateDefinition(apiId: string, definition: string): Promise<void> {
    const form = new FormData();
    form.append('apiDefinition', definition);
    await this.call('update definition', 'PUT', `/apis/${encodeURIComponent(apiId)}/swagger`, { data: form });
  }

  async listRevisions(apiId: string): Promise<ApiRevision[]> {
    const { data } = await this.call<{ list?: ApiRevision[] }>(
      'list revisions',
      'GET',
      `/apis/${encodeURIComponent(apiId)}/revisions`,
    );
    return data.list ?? [];
  }

  async createRevision(apiId: string, description: string): Promise<ApiRevision> {
    return (
      await this.call<ApiRevision>(
        'create revision',
        'POST',
        `/apis/${encodeURIComponent(apiId)}/revisions`,
        {
          data: { description },
          headers: { 'content-type': 'application/json' },
        },
      )
    ).data;
  }

  async deleteRevision(apiId: string, revisionId: string): Promise<void> {
    await this.call(
      'delete revision',
      'DELETE',
      `/apis/${encodeURIComponent(apiId)}/revisions/${encodeURIComponent(revisionId)}`,
    );
  }

  async deployRevision(apiId: string, revisionId: string, targets: DeploymentTarget[]): Promise<void> {
    // Servers answer 200 (spec) or 201 (some versions); both are success.
    await this.call('deploy revision', 'POST', `/apis/${encodeURIComponent(apiId)}/deploy-revision`, {
      params: { revisionId },
      data: targets,
      headers: { 'content-type': 'application/json' },
    });
  }

  async undeployRevision(apiId: string, revisionId: string, targets: DeploymentTarget[]): Promise<void> {
    await this.call('undeploy revision', 'POST', `/apis/${encodeURIComponent(apiId)}/undeploy-revision`, {
      params: { revisionId },
      data: targets,
      headers: { 'content-type': 'application/json' },
    });
  }

  async listDeployments(apiId: string): Promise<ApiRevisionDeployment[]> {
    const { data } = await this.call<{ list?: ApiRevisionDeployment[] }>(
      'list deployments',
      'GET',
      `/apis/${encodeURIComponent(apiId)}/deployments`,
    );
    return data.list ?? [];
  }

  async changeLifecycle(apiId: string, action: string): Promise<void> {
    await this.call('change lifecycle', 'POST', '/apis/change-lifecycle', { params: { apiId, action } });
  }

  async deleteApi(apiId: string): Promise<void> {
    await this.call('delete api', 'DELETE', `/apis/${encodeURIComponent(apiId)}`);
  }

  /** GET /apis/{apiId}/client-certificates, every page (limit/offset) until the list is complete. */
  async listClientCertificates(apiId: string): Promise<ClientCertMetadata[]> {
    const limit = 100;
    const out: ClientCertMetadata[] = [];
    for (let offset = 0; ; offset += limit) {
      const { data } = await this.call<{
        count?: number;
        certificates?: ClientCertMetadata[];
        pagination?: { total?: number };
      }>('list client certificates', 'GET', `/apis/${encodeURIComponent(apiId)}/client-certificates`, {
        params: { limit, offset },
      });
      const page = data?.certificates ?? [];
      out.push(...page);
      const total = data?.pagination?.total;
      if (page.length < limit || (typeof total === 'number' && out.length >= total)) return out;
    }
  }

  /** GET /apis/{apiId}/client-certificates/{alias}/content: the uploaded certificate file, as bytes. */
  async getClientCertificateContent(apiId: string, alias: string): Promise<Buffer> {
    const { data } = await this.call<ArrayBuffer>(
      'get client certificate',
      'GET',
      `/apis/${encodeURIComponent(apiId)}/client-certificates/${encodeURIComponent(alias)}/content`,
      { responseType: 'arraybuffer' },
    );
    return Buffer.from(data);
  }
}
