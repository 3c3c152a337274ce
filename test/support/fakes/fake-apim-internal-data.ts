/**
 * A fake WSO2 API Manager on 127.0.0.1:0 for tests: the internal data API (`/internal/data/v1`, the
 * spec's response shapes), the key manager's `/oauth2/introspect` (RFC 7662) and `/oauth2/jwks`.
 * Tests change its data between polls and switch it into failure modes (down, slow, 500, malformed
 * JSON). Every request is recorded as {method, url, headers, body} for contract validation.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { JWK } from 'jose';
import { validateRequest } from '../wso2-contract.ts';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export type FakeMode = 'ok' | 'down' | 'slow' | 'error' | 'malformed';

/** Internal data API collections in the spec's item shapes. */
export interface FakeApimData {
  apis: Record<string, unknown>[];
  applications: Record<string, unknown>[];
  subscriptions: Record<string, unknown>[];
  keyMappings: Record<string, unknown>[];
  subscriptionPolicies: Record<string, unknown>[];
  applicationPolicies: Record<string, unknown>[];
  apiPolicies: Record<string, unknown>[];
  revoked: Record<string, unknown>;
}

const COLLECTIONS: Record<string, keyof FakeApimData> = {
  '/apis': 'apis',
  '/applications': 'applications',
  '/subscriptions': 'subscriptions',
  '/application-key-mappings': 'keyMappings',
  '/subscription-policies': 'subscriptionPolicies',
  '/application-policies': 'applicationPolicies',
  '/api-policies': 'apiPolicies',
};

function limit(requestCount: number, timeUnit = 'min', unitTime = 1) {
  // `type` is required by the spec's ThrottleLimit; WSO2 also sends quotaType.
  return {
    type: 'REQUESTCOUNTLIMIT',
    quotaType: 'requestCount',
    requestCount: { timeUnit, unitTime, requestCount },
  };
}

/** A small but complete API Manager state: petstore API, three applications, default policies. */
export function sampleApimData(): FakeApimData {
  return {
    apis: [
      {
        uuid: 'a1b2c3d4-0000-4000-8000-000000000001',
        apiId: 1,
        provider: 'admin',
        name: 'PetStore',
        version: 'v1',
        context: '/petstore/v1',
        policy: '50KPerMin',
        apiType: 'HTTP',
        status: 'PUBLISHED',
        isDefaultVersion: false,
        urlMappings: [
          {
            authScheme: 'Any',
            throttlingPolicy: 'Unlimited',
            httpMethod: 'GET',
            urlPattern: '/pets',
            scopes: [],
          },
          {
            authScheme: 'Any',
            throttlingPolicy: 'Unlimited',
            httpMethod: 'POST',
            urlPattern: '/pets',
            scopes: ['pets:write'],
          },
          {
            authScheme: 'Any',
            throttlingPolicy: 'Unlimited',
            httpMethod: 'GET',
            urlPattern: '/pets/{id}',
            scopes: [],
          },
        ],
      },
    ],
    applications: [
      {
        uuid: 'app-uuid-demo',
        id: 10,
        name: 'demo-app',
        subName: 'admin',
        policy: 'Unlimited',
        tokenType: 'JWT',
        groupIds: [],
        attributes: {},
      },
      {
        uuid: 'app-uuid-bronze',
        id: 11,
        name: 'bronze-app',
        subName: 'admin',
        policy: '10PerMin',
        tokenType: 'JWT',
        groupIds: [],
        attributes: {},
      },
      {
        uuid: 'app-uuid-unsub',
        id: 12,
        name: 'unsubscribed-app',
        subName: 'admin',
        policy: 'Unlimited',
        tokenType: 'JWT',
        groupIds: [],
        attributes: {},
      },
    ],
    subscriptions: [
      { subscriptionId: 100, policyId: 'Gold', apiId: 1, appId: 10, subscriptionState: 'UNBLOCKED' },
      { subscriptionId: 101, policyId: 'Bronze', apiId: 1, appId: 11, subscriptionState: 'UNBLOCKED' },
    ],
    keyMappings: [
      {
        applicationId: 10,
        consumerKey: 'demo-consumer-key',
        keyType: 'PRODUCTION',
        keyManager: 'Resident Key Manager',
      },
      {
        applicationId: 10,
        consumerKey: 'demo-sandbox-key',
        keyType: 'SANDBOX',
        keyManager: 'Resident Key Manager',
      },
      {
        applicationId: 11,
        consumerKey: 'bronze-consumer-key',
        keyType: 'PRODUCTION',
        keyManager: 'Resident Key Manager',
      },
      {
        applicationId: 12,
        consumerKey: 'unsub-consumer-key',
        keyType: 'PRODUCTION',
        keyManager: 'Resident Key Manager',
      },
    ],
    subscriptionPolicies: [
      {
        id: 1,
        tenantId: -1234,
        tenantDomain: 'carbon.super',
        name: 'Gold',
        quotaType: 'requestCount',
        rateLimitCount: 0,
        rateLimitTimeUnit: 'NA',
        stopOnQuotaReach: true,
        defaultLimit: limit(5000),
      },
      {
        id: 2,
        tenantId: -1234,
        tenantDomain: 'carbon.super',
        name: 'Bronze',
        quotaType: 'requestCount',
        rateLimitCount: 10,
        rateLimitTimeUnit: 'sec',
        stopOnQuotaReach: true,
        defaultLimit: limit(1000),
      },
      {
        id: 3,
        tenantId: -1234,
        tenantDomain: 'carbon.super',
        name: 'Unlimited',
        quotaType: 'requestCount',
        stopOnQuotaReach: true,
        defaultLimit: limit(2147483647),
      },
    ],
    applicationPolicies: [
      {
        id: 1,
        tenantId: -1234,
        tenantDomain: 'carbon.super',
        name: '10PerMin',
        quotaType: 'requestCount',
        defaultLimit: limit(10),
      },
      {
        id: 2,
        tenantId: -1234,
        tenantDomain: 'carbon.super',
        name: 'Unlimited',
        quotaType: 'requestCount',
        defaultLimit: limit(2147483647),
      },
    ],
    apiPolicies: [
      {
        id: 1,
        tenantId: -1234,
        tenantDomain: 'carbon.super',
        name: '50KPerMin',
        quotaType: 'requestCount',
        applicableLevel: 'apiLevel',
        conditionGroups: [],
        defaultLimit: limit(50000),
      },
    ],
    revoked: { revokedJWTList: [], revokedJWTSubjectEntityList: [], revokedJWTConsumerKeyList: [] },
  };
}

export interface FakeToken {
  active: boolean;
  claims?: Record<string, unknown>;
}

export class FakeApim {
  data: FakeApimData = sampleApimData();
  mode: FakeMode = 'ok';
  /** Delay in 'slow' mode. */
  slowMs = 2_000;
  /** Page size of internal data lists (0 = everything in one page). */
  pageSize = 0;
  jwks: { keys: JWK[] } = { keys: [] };
  /** Opaque tokens the introspection endpoint knows; unknown tokens are inactive. */
  tokens = new Map<string, FakeToken>();
  /** Client credentials the introspection endpoint accepts. */
  introspectionClient = { id: 'gateway-client', secret: 'gateway-secret' };
  /** Gate for introspection answers (tests hold it to build a concurrent burst). */
  introspectionGate: Promise<void> | undefined;
  readonly requests: RecordedRequest[] = [];
  /** Internal data API requests that violated the spec (each also answered 400). */
  readonly violations: string[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    // Load the spec validator now, so the first request's answer time is the fake's, not the loader's.
    for (const path of [...Object.keys(COLLECTIONS), '/revokedjwt']) {
      await validateRequest('internal-data', { method: 'GET', url: `/internal/data/v1${path}`, headers: {} });
    }
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  requestsTo(pathPrefix: string): RecordedRequest[] {
    return this.requests.filter((r) => new URL(r.url).pathname.startsWith(pathPrefix));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const url = `${this.url}${req.url ?? '/'}`;
    this.requests.push({
      method: req.method ?? 'GET',
      url,
      headers,
      ...(body !== undefined ? { body } : {}),
    });

    const path = new URL(url).pathname;
    if (path.startsWith('/internal/data/v1/')) {
      const result = await validateRequest('internal-data', {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers,
        body,
      });
      if (!result.valid) {
        const message = `${req.method} ${req.url}: ${result.errors.join('; ')}`;
        this.violations.push(message);
        return this.json(res, 400, { code: 400, message });
      }
    }
    if (this.mode === 'down') {
      req.socket.destroy();
      return;
    }
    if (this.mode === 'slow') await new Promise((r) => setTimeout(r, this.slowMs).unref());
    if (res.destroyed) return;
    if (this.mode === 'error') return this.json(res, 500, { code: 500, message: 'Internal server error' });
    if (this.mode === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"count": 1, "list": [{"apiId": ');
      return;
    }
    if (path === '/oauth2/jwks') return this.json(res, 200, this.jwks);
    if (path === '/oauth2/introspect' && req.method === 'POST') return this.introspect(req, res, body ?? '');
    if (path.startsWith('/internal/data/v1/') && req.method === 'GET') {
      if (headers.authorization !== `Basic ${Buffer.from('admin:admin').toString('base64')}`) {
        return this.json(res, 401, { code: 401, message: 'Unauthenticated request' });
      }
      const sub = path.slice('/internal/data/v1'.length);
      if (sub === '/revokedjwt') return this.json(res, 200, this.data.revoked);
      const key = COLLECTIONS[sub];
      if (key) {
        const all = this.data[key] as Record<string, unknown>[];
        const offset = Number(new URL(url).searchParams.get('offset') ?? 0);
        if (!this.pageSize)
          return this.json(res, 200, {
            count: all.length,
            list: all,
            pagination: { offset: 0, limit: all.length, total: all.length, next: '', previous: '' },
          });
        const list = all.slice(offset, offset + this.pageSize);
        const nextOffset = offset + this.pageSize;
        const next = nextOffset < all.length ? `${sub}?offset=${nextOffset}&limit=${this.pageSize}` : '';
        return this.json(res, 200, {
          count: list.length,
          list,
          pagination: { offset, limit: this.pageSize, total: all.length, next, previous: '' },
        });
      }
    }
    this.json(res, 404, { code: 404, message: 'Not found' });
  }

  private async introspect(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const form = new URLSearchParams(body);
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      id = decodeURIComponent(u ?? '');
      secret = decodeURIComponent(p ?? '');
    }
    if (id !== this.introspectionClient.id || secret !== this.introspectionClient.secret) {
      return this.json(res, 401, { error: 'invalid_client' });
    }
    if (this.introspectionGate) await this.introspectionGate;
    const token = this.tokens.get(form.get('token') ?? '');
    if (!token?.active) return this.json(res, 200, { active: false });
    this.json(res, 200, { active: true, ...token.claims });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}
