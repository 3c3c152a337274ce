/**
 * A stateful fake of WSO2 API Manager's Publisher REST API v4 (plus DCR and the token endpoint) on
 * 127.0.0.1:0. Keeps APIs, revisions, deployments and lifecycle state like APIM does, enforces a
 * revision limit, expires tokens on demand and injects failures. Every Publisher request is handed to
 * `validate` (the WSO2 contract check); a violation is recorded and answered 400 so it cannot pass.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, expect } from 'vitest';
import { assertValid } from '../wso2-contract.ts';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** JSON value, form fields (multipart / urlencoded) or raw text. */
  body: unknown;
}

export type RequestValidator = (req: RecordedRequest) => void | Promise<void>;

interface Fault {
  method: string;
  path: RegExp;
  status: number;
  body: unknown;
  remaining: number;
}

interface Revision {
  id: string;
  displayName: string;
  description: string;
  createdTime: string;
  apiInfo: { id: string };
  deploymentInfo: {
    revisionUuid: string;
    name: string;
    vhost: string;
    displayOnDevportal: boolean;
    status: string;
    deployedTime: string;
  }[];
}

export interface FakeApi {
  id: string;
  name: string;
  version: string;
  context: string;
  provider: string;
  type: string;
  lifeCycleStatus: string;
  policies: string[];
  endpointConfig: unknown;
  definition: string;
  additionalProperties: unknown[];
  /** API Manager's default when the request names none: OAuth2 only (no API keys). */
  securityScheme: string[];
  apiKeyHeader: string;
  revisionCounter: number;
  revisions: Revision[];
  /** Mutual TLS: uploaded client certificates (POST .../client-certificates), file content as sent. */
  clientCertificates: { alias: string; tier: string; content: Buffer }[];
}

/** Scopes any of which the spec's `security` lists for the two client-certificate reads. */
const CLIENT_CERT_VIEW_SCOPES = [
  'apim:api_view',
  'apim:api_manage',
  'apim:client_certificates_view',
  'apim:client_certificates_manage',
];

const PUB = '/api/am/publisher/v4';

export class FakeApim {
  private server: Server | null = null;
  readonly apis = new Map<string, FakeApi>();
  readonly log: { method: string; path: string; status: number; at: number }[] = [];
  readonly violations: string[] = [];
  private readonly clients = new Map<string, string>();
  private readonly tokens = new Map<string, number>();
  private readonly tokenScopes = new Map<string, string[]>();
  private readonly faults: Fault[] = [];
  tokenTtlSeconds = 3600;
  maxRevisions = 5;
  /** Status the deploy-revision endpoint answers (WSO2 versions differ: 200 or 201). */
  deployStatus = 201;
  url = '';

  constructor(
    private readonly validate: RequestValidator | null,
    private readonly credentials = { username: 'admin', password: 'admin' },
  ) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.reply(req, res, 500, { code: 500, message: `fake APIM bug: ${String(err)}` });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** The next `times` requests matching answer `status` with `body` (APIM error format by default). */
  fail(method: string, path: RegExp, status: number, times = 1, body?: unknown): void {
    this.faults.push({
      method,
      path,
      status,
      remaining: times,
      body: body ?? {
        code: status,
        message: status >= 500 ? 'Internal server error' : 'Bad Request',
        description: 'injected',
      },
    });
  }

  /** Drops the injected failures not yet used up. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Every issued access token becomes invalid (APIM answers 401 until a new one is fetched). */
  expireTokens(): void {
    this.tokens.clear();
  }

  private readonly expiries: { method: string; path: RegExp }[] = [];
  private readonly stalls: { method: string; path: RegExp; ms: number; remaining: number }[] = [];

  private readonly delayed = new WeakMap<IncomingMessage, number>();

  /**
   * The next `times` matching requests are processed at once (state changes) but answered only after
   * `ms`: a client timeout whose request APIM nevertheless carried out.
   */
  stall(method: string, path: RegExp, ms: number, times = 1): void {
    this.stalls.push({ method, path, ms, remaining: times });
  }

  /** Tokens expire just as the next matching request arrives (that request sees a 401). */
  expireTokensAt(method: string, path: RegExp): void {
    this.expiries.push({ method, path });
  }

  /** Publisher calls that change state (everything but GET), in order. */
  mutations(): string[] {
    return this.log
      .filter((l) => l.method !== 'GET' && l.path.startsWith(PUB) && l.status < 400)
      .map((l) => `${l.method} ${l.path.slice(PUB.length).replace(/\?.*$/, '')}`);
  }

  clearLog(): void {
    this.log.length = 0;
  }

  /** Answers and logs; returns true so handlers can `return this.reply(...)`. */
  private reply(req: IncomingMessage, res: ServerResponse, status: number, body?: unknown): true {
    this.log.push({ method: req.method ?? '', path: req.url ?? '', status, at: Date.now() });
    const send = () => {
      if (res.destroyed) return;
      if (body === undefined) res.writeHead(status).end();
      else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const delay = this.delayed.get(req);
    if (delay) setTimeout(send, delay);
    else send();
    return true;
  }

  private async readBody(req: IncomingMessage, url: URL): Promise<{ raw: Buffer; parsed: unknown }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const type = String(req.headers['content-type'] ?? '');
    if (raw.length === 0) return { raw, parsed: undefined };
    if (type.startsWith('multipart/form-data')) {
      const form = await new Request(url, {
        method: 'POST',
        headers: { 'content-type': type },
        body: raw,
      }).formData();
      const fields: Record<string, string> = {};
      for (const [k, v] of form.entries()) fields[k] = typeof v === 'string' ? v : await v.text();
      return { raw, parsed: fields };
    }
    if (type.startsWith('application/x-www-form-urlencoded'))
      return { raw, parsed: Object.fromEntries(new URLSearchParams(raw.toString())) };
    if (type.includes('json')) return { raw, parsed: JSON.parse(raw.toString()) };
    return { raw, parsed: raw.toString() };
  }

  private basic(req: IncomingMessage): [string, string] | null {
    const m = /^Basic (.+)$/.exec(String(req.headers.authorization ?? ''));
    if (!m) return null;
    const [u, ...p] = Buffer.from(m[1]!, 'base64').toString().split(':');
    return [u ?? '', p.join(':')];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<true> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const { parsed } = await this.readBody(req, url);

    const stall = this.stalls.find(
      (f) => f.remaining > 0 && f.method === method && f.path.test(url.pathname),
    );
    if (stall) {
      stall.remaining--;
      this.delayed.set(req, stall.ms);
    }
    const fault = this.faults.find(
      (f) => f.remaining > 0 && f.method === method && f.path.test(url.pathname),
    );
    if (fault) {
      fault.remaining--;
      return this.reply(req, res, fault.status, fault.body);
    }

    if (method === 'POST' && url.pathname === '/client-registration/v0.17/register') {
      const b = this.basic(req);
      if (!b || b[0] !== this.credentials.username || b[1] !== this.credentials.password)
        return this.reply(req, res, 401, { error: 'invalid credentials' });
      const clientId = randomUUID();
      const clientSecret = randomUUID();
      this.clients.set(clientId, clientSecret);
      return this.reply(req, res, 200, {
        clientId,
        clientSecret,
        clientName: (parsed as { clientName?: string })?.clientName,
        isSaasApplication: true,
      });
    }
    if (method === 'POST' && url.pathname === '/oauth2/token') {
      const b = this.basic(req);
      const form = parsed as Record<string, string>;
      if (!b || this.clients.get(b[0]) !== b[1])
        return this.reply(req, res, 401, { error: 'invalid_client' });
      if (form.grant_type !== 'password' || form.username !== this.credentials.username)
        return this.reply(req, res, 400, { error: 'invalid_grant' });
      const token = randomUUID();
      this.tokens.set(token, Date.now() + this.tokenTtlSeconds * 1000);
      this.tokenScopes.set(
        token,
        String(form.scope ?? '')
          .split(' ')
          .filter(Boolean),
      );
      return this.reply(req, res, 200, {
        access_token: token,
        token_type: 'Bearer',
        expires_in: this.tokenTtlSeconds,
        scope: form.scope,
      });
    }
    if (!url.pathname.startsWith(PUB)) return this.reply(req, res, 404, { code: 404, message: 'Not Found' });
    const expiry = this.expiries.findIndex((e) => e.method === method && e.path.test(url.pathname));
    if (expiry >= 0) {
      this.expiries.splice(expiry, 1);
      this.expireTokens();
    }

    const m = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
    const exp = m ? this.tokens.get(m[1]!) : undefined;
    if (!exp || exp < Date.now())
      return this.reply(req, res, 401, {
        code: 900901,
        message: 'Invalid Credentials',
        description: 'Access failure',
      });

    if (this.validate) {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      try {
        await this.validate({ method, url: `${url.pathname}${url.search}`, headers, body: parsed });
      } catch (err) {
        const msg = `${method} ${url.pathname}${url.search}: ${err instanceof Error ? err.message : String(err)}`;
        this.violations.push(msg);
        return this.reply(req, res, 400, { code: 400, message: 'contract violation', description: msg });
      }
    }
    this.scopes = this.tokenScopes.get(m![1]!) ?? [];
    return this.publisher(req, res, method, url.pathname.slice(PUB.length), url.searchParams, parsed);
  }

  /** Scopes of the token of the request being handled. */
  private scopes: string[] = [];

  /**
   * An API as the Publisher keeps it, with client certificates uploaded for mutual TLS (what
   * `POST /apis/{apiId}/client-certificates` does); the id is the internal data API's uuid.
   */
  addApiWithCertificates(
    id: string,
    certificates: { alias: string; tier: string; pem: string }[],
    props: { name?: string; version?: string; context?: string } = {},
  ): void {
    this.apis.set(id, {
      id,
      name: props.name ?? id,
      version: props.version ?? 'v1',
      context: props.context ?? `/${id}`,
      provider: 'admin',
      type: 'HTTP',
      lifeCycleStatus: 'PUBLISHED',
      policies: ['Unlimited'],
      endpointConfig: null,
      definition: '',
      additionalProperties: [],
      securityScheme: ['mutualssl', 'mutualssl_mandatory'],
      apiKeyHeader: 'ApiKey',
      revisionCounter: 0,
      revisions: [],
      clientCertificates: certificates.map((c) => ({
        alias: c.alias,
        tier: c.tier,
        content: Buffer.from(c.pem),
      })),
    });
  }

  private notFound(req: IncomingMessage, res: ServerResponse): true {
    return this.reply(req, res, 404, {
      code: 404,
      message: 'Not Found',
      description: 'Requested resource not found',
    });
  }

  private apiView(a: FakeApi): Record<string, unknown> {
    return {
      id: a.id,
      name: a.name,
      version: a.version,
      context: a.context,
      provider: a.provider,
      type: a.type,
      lifeCycleStatus: a.lifeCycleStatus,
      policies: a.policies,
      endpointConfig: a.endpointConfig,
      additionalProperties: a.additionalProperties,
      securityScheme: a.securityScheme,
      apiKeyHeader: a.apiKeyHeader,
    };
  }

  private publisher(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    q: URLSearchParams,
    body: unknown,
  ): true {
    const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (method === 'GET' && path === '/apis') {
      const query = q.get('query') ?? '';
      const name = /name:"([^"]*)"/.exec(query)?.[1];
      const version = /version:"([^"]*)"/.exec(query)?.[1];
      // APIM's search matches substrings; the client must filter for the exact API.
      const list = [...this.apis.values()]
        .filter((a) => (!name || a.name.includes(name)) && (!version || a.version.includes(version)))
        .map((a) => this.apiView(a));
      return this.reply(req, res, 200, {
        count: list.length,
        list,
        pagination: { offset: 0, limit: Number(q.get('limit') ?? 25), total: list.length },
      });
    }
    if (method === 'POST' && path === '/apis/import-openapi') {
      const form = body as Record<string, string>;
      let props: Record<string, unknown>;
      try {
        props = JSON.parse(form.additionalProperties ?? '');
      } catch {
        return this.reply(req, res, 400, { code: 400, message: 'additionalProperties is not JSON' });
      }
      const definition = form.inlineAPIDefinition ?? form.file;
      if (!definition || !props.name || !props.version || !props.context)
        return this.reply(req, res, 400, {
          code: 400,
          message: 'definition, name, version and context are required',
        });
      for (const a of this.apis.values()) {
        if (a.name === props.name && a.version === props.version)
          return this.reply(req, res, 409, { code: 409, message: 'API already exists' });
        if (a.context === props.context)
          return this.reply(req, res, 409, { code: 409, message: `context ${a.context} already exists` });
      }
      const api: FakeApi = {
        id: randomUUID(),
        name: String(props.name),
        version: String(props.version),
        context: String(props.context),
        provider: 'admin',
        type: 'HTTP',
        lifeCycleStatus: 'CREATED',
        policies: (props.policies as string[]) ?? ['Unlimited'],
        endpointConfig: props.endpointConfig,
        additionalProperties: (props.additionalProperties as unknown[]) ?? [],
        securityScheme: (props.securityScheme as string[]) ?? [
          'oauth2',
          'oauth_basic_auth_api_key_mandatory',
        ],
        apiKeyHeader: (props.apiKeyHeader as string) ?? 'ApiKey',
        definition,
        revisionCounter: 0,
        revisions: [],
        clientCertificates: [],
      };
      this.apis.set(api.id, api);
      return this.reply(req, res, 201, this.apiView(api));
    }
    if (method === 'POST' && path === '/apis/change-lifecycle') {
      const api = this.apis.get(q.get('apiId') ?? '');
      if (!api) return this.notFound(req, res);
      const transitions: Record<string, Record<string, string>> = {
        CREATED: { Publish: 'PUBLISHED' },
        PUBLISHED: { Deprecate: 'DEPRECATED', Block: 'BLOCKED', 'Demote to Created': 'CREATED' },
        DEPRECATED: { Retire: 'RETIRED' },
      };
      const next = transitions[api.lifeCycleStatus]?.[q.get('action') ?? ''];
      if (!next)
        return this.reply(req, res, 400, {
          code: 400,
          message: `action ${q.get('action')} not allowed in state ${api.lifeCycleStatus}`,
        });
      api.lifeCycleStatus = next;
      return this.reply(req, res, 200, { workflowStatus: 'APPROVED', lifecycleState: { state: next } });
    }
    if (seg[0] !== 'apis' || !seg[1]) return this.notFound(req, res);
    const api = this.apis.get(seg[1]);
    if (!api) return this.notFound(req, res);
    const sub = seg.slice(2).join('/');

    if (sub === '' && method === 'GET') return this.reply(req, res, 200, this.apiView(api));
    if (seg[2] === 'client-certificates' && method === 'GET') {
      // APIM answers 403 (900910) when the token lacks every scope the operation lists.
      if (!this.scopes.some((sc) => CLIENT_CERT_VIEW_SCOPES.includes(sc)))
        return this.reply(req, res, 403, {
          code: 900910,
          message: 'The access token does not allow you to access the requested resource',
          description: 'User is NOT authorized to access the Resource. Scope validation failed.',
        });
      if (seg.length === 3) {
        const alias = q.get('alias');
        const all = api.clientCertificates.filter((c) => !alias || c.alias === alias);
        const limit = Number(q.get('limit') ?? 25);
        const offset = Number(q.get('offset') ?? 0);
        const page = all.slice(offset, offset + limit);
        return this.reply(req, res, 200, {
          count: page.length,
          certificates: page.map((c) => ({ alias: c.alias, apiId: api.id, tier: c.tier })),
          pagination: { offset, limit, total: all.length },
        });
      }
      if (seg.length === 5 && seg[4] === 'content') {
        const cert = api.clientCertificates.find((c) => c.alias === seg[3]);
        if (!cert) return this.notFound(req, res);
        // As WSO2 sends it: the uploaded file as an attachment.
        this.log.push({ method, path: req.url ?? '', status: 200, at: Date.now() });
        res
          .writeHead(200, {
            'content-type': 'application/octet-stream',
            'content-disposition': `attachment; filename="${cert.alias}.crt"`,
          })
          .end(cert.content);
        return true;
      }
    }
    if (sub === '' && method === 'PUT') {
      const b = body as Partial<FakeApi>;
      if (b.context) api.context = b.context;
      if (b.policies) api.policies = b.policies;
      if (b.endpointConfig) api.endpointConfig = b.endpointConfig;
      if (b.securityScheme) api.securityScheme = b.securityScheme;
      if (b.apiKeyHeader) api.apiKeyHeader = b.apiKeyHeader;
      return this.reply(req, res, 200, this.apiView(api));
    }
    if (sub === '' && method === 'DELETE') {
      if (api.revisions.some((r) => r.deploymentInfo.length > 0))
        return this.reply(req, res, 409, { code: 409, message: 'API has deployed revisions' });
      this.apis.delete(api.id);
      return this.reply(req, res, 200);
    }
    if (sub === 'swagger' && method === 'GET') return this.reply(req, res, 200, api.definition);
    if (sub === 'swagger' && method === 'PUT') {
      const def = (body as Record<string, string>).apiDefinition;
      if (!def) return this.reply(req, res, 400, { code: 400, message: 'apiDefinition required' });
      api.definition = def;
      return this.reply(req, res, 200, def);
    }
    if (sub === 'revisions' && method === 'GET')
      return this.reply(req, res, 200, { count: api.revisions.length, list: api.revisions });
    if (sub === 'revisions' && method === 'POST') {
      if (api.revisions.length >= this.maxRevisions)
        return this.reply(req, res, 400, {
          code: 902010,
          message:
            'Maximum number of revisions per API has reached. Need to remove any revision to create a new Revision',
        });
      api.revisionCounter++;
      const rev: Revision = {
        id: randomUUID(),
        displayName: `Revision ${api.revisionCounter}`,
        description: String((body as { description?: string })?.description ?? ''),
        createdTime: String(Date.now()),
        apiInfo: { id: api.id },
        deploymentInfo: [],
      };
      api.revisions.push(rev);
      return this.reply(req, res, 201, rev);
    }
    if (seg[2] === 'revisions' && seg[3] && method === 'DELETE') {
      const rev = api.revisions.find((r) => r.id === seg[3]);
      if (!rev) return this.notFound(req, res);
      if (rev.deploymentInfo.length > 0)
        return this.reply(req, res, 400, { code: 400, message: 'revision is deployed; undeploy it first' });
      api.revisions = api.revisions.filter((r) => r !== rev);
      return this.reply(req, res, 200, { count: api.revisions.length, list: api.revisions });
    }
    if (sub === 'deployments' && method === 'GET') {
      const list = api.revisions.flatMap((r) => r.deploymentInfo);
      return this.reply(req, res, 200, { count: list.length, list });
    }
    if ((sub === 'deploy-revision' || sub === 'undeploy-revision') && method === 'POST') {
      const rev = api.revisions.find((r) => r.id === q.get('revisionId'));
      if (!rev) return this.notFound(req, res);
      const targets = (body as { name: string; vhost: string; displayOnDevportal: boolean }[]) ?? [];
      for (const t of targets) {
        for (const r of api.revisions) r.deploymentInfo = r.deploymentInfo.filter((d) => d.name !== t.name);
        if (sub === 'deploy-revision')
          rev.deploymentInfo.push({
            revisionUuid: rev.id,
            name: t.name,
            vhost: t.vhost,
            displayOnDevportal: t.displayOnDevportal,
            status: 'APPROVED',
            deployedTime: String(Date.now()),
          });
      }
      return this.reply(req, res, sub === 'deploy-revision' ? this.deployStatus : 201, rev.deploymentInfo);
    }
    return this.notFound(req, res);
  }
}

/**
 * A fake Publisher for each test of the calling suite, every request checked against WSO2's published
 * spec: started before each test (handed to `use`), stopped after it, and a request outside the spec
 * fails the test.
 */
export function contractCheckedPublisherPerTest(use: (apim: FakeApim) => void): void {
  let apim: FakeApim;
  beforeEach(async () => {
    apim = new FakeApim(async (req) => {
      await assertValid('publisher', req);
    });
    await apim.start();
    use(apim);
  });
  afterEach(async () => {
    await apim.stop();
    expect(apim.violations).toEqual([]);
  });
}
