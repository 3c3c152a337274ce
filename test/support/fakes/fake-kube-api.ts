/**
 * A fake Kubernetes API server on 127.0.0.1:0 speaking the list/watch HTTP protocol for core/v1
 * Services: paginated lists carrying a resourceVersion, chunked watch streams of newline-delimited
 * JSON events from a resourceVersion, BOOKMARK events when asked for, `timeoutSeconds`, and 410 Gone
 * for a resourceVersion older than the retained history (as an HTTP status or, like a real server
 * mid-stream, an ERROR event). Also ConfigMap reads and core/v1 Event creation.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Obj = Record<string, unknown> & {
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string; [k: string]: unknown };
};

interface HistoryEntry {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}

interface OpenWatch {
  res: ServerResponse;
  namespace: string | null;
  bookmarks: boolean;
}

export class FakeKubeApi {
  private server: Server | null = null;
  private rv = 100;
  readonly services = new Map<string, Obj>();
  readonly configMaps = new Map<string, Record<string, string>>();
  readonly events: Record<string, unknown>[] = [];
  private history: HistoryEntry[] = [];
  /** Oldest resourceVersion a watch may start from; older -> 410. */
  private compactedBelow = 0;
  private readonly watches = new Set<OpenWatch>();
  readonly requests: { method: string; path: string; query: Record<string, string>; status: number }[] = [];
  /** How an expired resourceVersion is reported: as an HTTP 410 or as an ERROR event in a 200 stream. */
  goneAs: 'status' | 'event' = 'event';
  /** Next N list requests answer 500. */
  failLists = 0;
  url = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.status(req, res, 500, String(err));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.dropWatches();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
    this.server = null;
  }

  /** A kubeconfig (YAML text) pointing at this server. */
  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: fake\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true`,
      'users:',
      '- name: fake\n  user:\n    token: fake-token',
      'contexts:',
      '- name: fake\n  context:\n    cluster: fake\n    user: fake',
      'current-context: fake',
      '',
    ].join('\n');
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  openWatches(): number {
    return this.watches.size;
  }

  /** Creates or replaces a Service; returns the stored object (with uid and resourceVersion). */
  apply(svc: {
    metadata: { name: string; namespace: string; annotations?: Record<string, string> };
    spec?: unknown;
  }): Obj {
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const prev = this.services.get(key);
    this.rv++;
    const obj: Obj = {
      apiVersion: 'v1',
      kind: 'Service',
      ...structuredClone(svc),
      metadata: {
        ...structuredClone(svc.metadata),
        uid: prev?.metadata.uid ?? randomUUID(),
        resourceVersion: String(this.rv),
        creationTimestamp: new Date().toISOString(),
      },
    } as Obj;
    this.services.set(key, obj);
    this.publish({ rv: this.rv, type: prev ? 'MODIFIED' : 'ADDED', object: obj });
    return obj;
  }

  remove(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const prev = this.services.get(key);
    if (!prev) return;
    this.services.delete(key);
    this.rv++;
    const obj = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(this.rv) } };
    this.publish({ rv: this.rv, type: 'DELETED', object: obj });
  }

  /** Forgets the watch history: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedBelow = this.rv;
  }

  /** Ends every open watch stream (a restarted API server or a dropped connection). */
  dropWatches(): void {
    for (const w of this.watches) w.res.destroy();
    this.watches.clear();
  }

  /** Sends a BOOKMARK with the current resourceVersion to watches that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      this.write(w.res, {
        type: 'BOOKMARK',
        object: { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } },
      });
    }
  }

  private publish(entry: HistoryEntry): void {
    this.history.push(entry);
    for (const w of this.watches) {
      if (w.namespace && w.namespace !== entry.object.metadata.namespace) continue;
      this.write(w.res, { type: entry.type, object: entry.object });
    }
  }

  private write(res: ServerResponse, event: unknown): void {
    res.write(`${JSON.stringify(event)}\n`);
  }

  private status(
    req: IncomingMessage,
    res: ServerResponse,
    code: number,
    message: string,
    reason = '',
  ): void {
    this.log(req, code);
    res.writeHead(code, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason,
        code,
      }),
    );
  }

  private log(req: IncomingMessage, status: number): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status,
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.headers.authorization !== 'Bearer fake-token')
      return this.status(req, res, 401, 'Unauthorized', 'Unauthorized');

    const svcList = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/services$/.exec(url.pathname);
    if (svcList && req.method === 'GET') {
      const namespace = svcList[1] ? decodeURIComponent(svcList[1]) : null;
      if (q.get('watch') === 'true' || q.get('watch') === '1') return this.watch(req, res, namespace, q);
      if (this.failLists > 0) {
        this.failLists--;
        return this.status(req, res, 500, 'etcd unavailable', 'InternalError');
      }
      const all = [...this.services.values()]
        .filter((s) => !namespace || s.metadata.namespace === namespace)
        .sort((a, b) =>
          `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
            `${b.metadata.namespace}/${b.metadata.name}`,
          ),
        );
      const limit = Number(q.get('limit') ?? 0) || all.length;
      const start = Number(q.get('continue') || 0);
      const page = all.slice(start, start + limit);
      const next = start + limit < all.length ? String(start + limit) : undefined;
      this.log(req, 200);
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'ServiceList',
          apiVersion: 'v1',
          metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) },
          items: page,
        }),
      );
      return;
    }
    const cm = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/.exec(url.pathname);
    if (cm && req.method === 'GET') {
      const data = this.configMaps.get(`${cm[1]}/${cm[2]}`);
      if (!data) return this.status(req, res, 404, `configmaps "${cm[2]}" not found`, 'NotFound');
      this.log(req, 200);
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'ConfigMap',
          apiVersion: 'v1',
          metadata: { name: cm[2], namespace: cm[1] },
          data,
        }),
      );
      return;
    }
    const ev = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(url.pathname);
    if (ev && req.method === 'POST') {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> & {
        metadata?: Record<string, unknown>;
      };
      if (body.kind !== 'Event' || !body.involvedObject)
        return this.status(req, res, 422, 'invalid Event', 'Invalid');
      const stored = {
        ...body,
        metadata: {
          ...body.metadata,
          name: `${body.metadata?.generateName ?? 'event.'}${randomUUID().slice(0, 8)}`,
          namespace: ev[1],
        },
      };
      this.events.push(stored);
      this.log(req, 201);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(stored));
      return;
    }
    return this.status(req, res, 404, 'the server could not find the requested resource', 'NotFound');
  }

  private watch(
    req: IncomingMessage,
    res: ServerResponse,
    namespace: string | null,
    q: URLSearchParams,
  ): void {
    const from = Number(q.get('resourceVersion') || this.rv);
    if (from < this.compactedBelow) {
      const message = `too old resource version: ${from} (${this.compactedBelow})`;
      if (this.goneAs === 'status') {
        this.status(req, res, 410, message, 'Expired');
        return;
      }
      this.log(req, 200);
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      this.write(res, {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message,
          reason: 'Expired',
          code: 410,
        },
      });
      res.end();
      return;
    }
    this.log(req, 200);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: OpenWatch = { res, namespace, bookmarks: q.get('allowWatchBookmarks') === 'true' };
    for (const e of this.history) {
      if (e.rv > from && (!namespace || e.object.metadata.namespace === namespace))
        this.write(res, { type: e.type, object: e.object });
    }
    this.watches.add(w);
    const timeout = Number(q.get('timeoutSeconds') || 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : null;
    res.on('close', () => {
      if (timer) clearTimeout(timer);
      this.watches.delete(w);
    });
  }
}
