/**
 * A local fake of Stripe's usage-record endpoint (`POST /v1/subscription_items/{id}/usage_records`)
 * on 127.0.0.1:0 that checks what Stripe checks: `Authorization: Bearer <secret key>`, a form-encoded
 * body with exactly `quantity` (non-negative integer), `timestamp` (unix seconds or `now`) and
 * `action` (increment | set), a known subscription item (under the `Stripe-Account` it belongs to).
 * Idempotency as Stripe documents it: a repeated `Idempotency-Key` with the same request replays the
 * first answer (header `Idempotent-Replayed: true`); with other parameters it is a 400
 * `idempotency_error`. Faults injected with `failNext` answer before the request is executed (like a
 * 429 rate limit or a 503), so, as at Stripe, nothing is stored under the key for them.
 * Usage is kept like Stripe sums a metered item: per timestamp, `set` overwrites, `increment` adds.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StripeRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  form: Record<string, string>;
  status: number;
  replayed: boolean;
}

interface Stored {
  fingerprint: string;
  status: number;
  body: unknown;
}

export interface FakeStripeOptions {
  secretKey?: string;
  /** Subscription item id -> the connected account it lives in (undefined: the platform account). */
  items?: Record<string, string | undefined>;
}

export class FakeStripe {
  readonly secretKey: string;
  readonly requests: StripeRequest[] = [];
  private readonly items: Map<string, string | undefined>;
  private readonly idempotency = new Map<string, Stored>();
  /** item -> timestamp -> quantity. */
  private readonly usage = new Map<string, Map<number, number>>();
  private readonly faults: {
    status: number;
    headers: Record<string, string>;
    body: unknown;
    stored: boolean;
  }[] = [];
  private server: Server | null = null;
  url = '';

  constructor(options: FakeStripeOptions = {}) {
    this.secretKey = options.secretKey ?? 'sk_test_fake';
    this.items = new Map(Object.entries(options.items ?? {}));
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
    this.server = null;
  }

  /** The next n requests are answered with this status (default a 500 api_error) before executing. */
  failNext(n: number, status = 500, headers: Record<string, string> = {}, stored = false): void {
    for (let i = 0; i < n; i++)
      this.faults.push({
        status,
        headers,
        stored,
        body: {
          error: {
            type: status === 429 ? 'rate_limit_error' : 'api_error',
            message: status === 429 ? 'Too many requests' : 'An unknown error occurred',
          },
        },
      });
  }

  /** Sum over timestamps of the item's usage (what Stripe bills for a metered `sum` price). */
  total(item: string): number {
    let t = 0;
    for (const q of this.usage.get(item)?.values() ?? []) t += q;
    return t;
  }

  usageOf(item: string): Map<number, number> {
    return new Map(this.usage.get(item) ?? []);
  }

  /** Requests that executed (not replays, not faults). */
  executed(): StripeRequest[] {
    return this.requests.filter((r) => r.status === 200 && !r.replayed);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]),
    );
    const path = (req.url ?? '').split('?')[0] ?? '';
    const form = Object.fromEntries(new URLSearchParams(raw));
    const rec: StripeRequest = { method: req.method ?? '', path, headers, form, status: 0, replayed: false };
    this.requests.push(rec);
    const send = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      rec.status = status;
      res.writeHead(status, {
        'content-type': 'application/json',
        'request-id': `req_${randomUUID()}`,
        ...extra,
      });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, type: string, message: string, more: Record<string, unknown> = {}) =>
      send(status, { error: { type, message, ...more } });

    const auth = headers.authorization ?? '';
    if (auth !== `Bearer ${this.secretKey}`)
      return error(401, 'invalid_request_error', 'Invalid API Key provided');
    const fault = this.faults[0]?.stored ? undefined : this.faults.shift();
    if (fault) return send(fault.status, fault.body, fault.headers);
    const m = /^\/v1\/subscription_items\/([^/]+)\/usage_records$/.exec(path);
    if (req.method !== 'POST' || !m)
      return error(404, 'invalid_request_error', `Unrecognized request URL (${req.method}: ${path})`);
    if (!(headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
      return error(400, 'invalid_request_error', 'Content-Type must be application/x-www-form-urlencoded');

    const key = headers['idempotency-key'];
    const account = headers['stripe-account'];
    const fingerprint = JSON.stringify([path, account ?? '', form]);
    if (key !== undefined) {
      if (key.length === 0 || key.length > 255)
        return error(400, 'idempotency_error', 'Idempotency keys are 1 to 255 characters');
      const stored = this.idempotency.get(key);
      if (stored) {
        if (stored.fingerprint !== fingerprint)
          return error(
            400,
            'idempotency_error',
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          );
        rec.replayed = true;
        return send(stored.status, stored.body, { 'idempotent-replayed': 'true' });
      }
    }
    // A fault after execution began (stored: true) is saved under the key like any answer.
    const late = this.faults[0]?.stored ? this.faults.shift() : undefined;
    const answer = late
      ? { status: late.status, body: late.body }
      : this.execute(decodeURIComponent(m[1] ?? ''), account, form);
    // Stripe saves the result of a request that began executing, errors included.
    if (key !== undefined) this.idempotency.set(key, { fingerprint, ...answer });
    send(answer.status, answer.body);
  }

  private execute(
    item: string,
    account: string | undefined,
    form: Record<string, string>,
  ): { status: number; body: unknown } {
    const bad = (message: string, param?: string) => ({
      status: 400,
      body: { error: { type: 'invalid_request_error', message, ...(param ? { param } : {}) } },
    });
    for (const p of Object.keys(form))
      if (!['quantity', 'timestamp', 'action'].includes(p)) return bad(`Received unknown parameter: ${p}`, p);
    if (!/^\d+$/.test(form.quantity ?? '')) return bad('Invalid integer: quantity', 'quantity');
    const ts =
      form.timestamp === undefined || form.timestamp === 'now'
        ? Math.floor(Date.now() / 1000)
        : Number(form.timestamp);
    if (!Number.isSafeInteger(ts)) return bad('Invalid integer: timestamp', 'timestamp');
    const action = form.action ?? 'increment';
    if (action !== 'increment' && action !== 'set')
      return bad('Invalid action: must be one of increment or set', 'action');
    if (!this.items.has(item) || this.items.get(item) !== account)
      return {
        status: 404,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'resource_missing',
            message: `No such subscription_item: '${item}'`,
            param: 'subscription_item',
          },
        },
      };
    const quantity = Number(form.quantity);
    let byTs = this.usage.get(item);
    if (!byTs) {
      byTs = new Map();
      this.usage.set(item, byTs);
    }
    byTs.set(ts, action === 'set' ? quantity : (byTs.get(ts) ?? 0) + quantity);
    return {
      status: 200,
      body: {
        id: `mbur_${randomUUID().replace(/-/g, '').slice(0, 24)}`,
        object: 'usage_record',
        livemode: false,
        quantity,
        subscription_item: item,
        timestamp: ts,
      },
    };
  }
}
