/**
 * HTTP receiver for API Manager's persistent revocation notifier (the deployments that configure it
 * instead of, or besides, the event hub):
 *   PUT <base>/jti/<jti>            value=<jti>&ttl=<s>[&expiryTime=<ms>]
 *   PUT <base>/consumer-keys/<key>  revocationTime=<ms> (or value=<ms>)
 *   PUT <base>/users/<id>           revocationTime=<ms> (or value=<ms>)
 * Basic auth. 401 wrong credentials, 400 malformed, 503 when the bus refused; nothing is published
 * unless the answer is 2xx.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../common/log.ts';
import { TokenRevoked } from '../events/token-revoked.ts';
import type { EventPublisher } from './publish.ts';
import { stableEventId } from './wso2.ts';

const log = createLogger('bridge-http');
const MAX_BODY = 64 * 1024;

export interface ReceiverOptions {
  basePath: string;
  username: string;
  password: string;
  tenantDomain: string;
  now?: () => number;
}

class BadRequest extends Error {}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function authorized(req: IncomingMessage, o: ReceiverOptions): boolean {
  const h = req.headers.authorization ?? '';
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(h);
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return false;
  // Both compared even when the first differs: no timing hint which one was wrong.
  const u = safeEqual(decoded.slice(0, i), o.username);
  const p = safeEqual(decoded.slice(i + 1), o.password);
  return u && p;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new BadRequest('body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function fields(body: string, contentType: string | undefined): Record<string, string> {
  if (/json/i.test(contentType ?? '')) {
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch {
      throw new BadRequest('body is not valid JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new BadRequest('body must be an object');
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
  }
  return Object.fromEntries(new URLSearchParams(body));
}

function epochMs(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,16}$/.test(raw)) throw new BadRequest(`${name} must be epoch milliseconds`);
  return Number(raw);
}

/** Request -> event (pure). Throws BadRequest with the reason. */
export function eventFromNotifier(
  kindSegment: string,
  id: string,
  f: Record<string, string>,
  o: ReceiverOptions,
  now: number,
): TokenRevoked {
  if (!id) throw new BadRequest('missing id in path');
  let kind: TokenRevoked['kind'];
  let revokedAt = now;
  let expiresAt: number | null = null;
  if (kindSegment === 'jti') {
    kind = 'jti';
    if (f.value !== undefined && f.value !== id)
      throw new BadRequest('value does not match the jti in the path');
    const expiry = epochMs('expiryTime', f.expiryTime);
    let ttl: number | undefined;
    if (f.ttl !== undefined && f.ttl !== '') {
      if (!/^\d{1,10}$/.test(f.ttl)) throw new BadRequest('ttl must be whole seconds');
      ttl = Number(f.ttl);
    }
    expiresAt = expiry ?? (ttl !== undefined ? now + ttl * 1000 : null);
  } else {
    kind = kindSegment === 'users' ? 'user' : 'consumer-key';
    const t = epochMs('revocationTime', f.revocationTime ?? f.value);
    if (t === undefined) throw new BadRequest('revocationTime is required');
    revokedAt = t;
  }
  const parsed = TokenRevoked.safeParse({
    type: 'token-revoked',
    schemaVersion: 1,
    eventId: stableEventId('notifier', kind, id, revokedAt, expiresAt),
    occurredAt: new Date(now).toISOString(),
    kind,
    value: id,
    revokedAt: new Date(revokedAt).toISOString(),
    expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    tenantDomain: f.tenantDomain || o.tenantDomain,
    source: 'apim-notifier',
  });
  if (!parsed.success) throw new BadRequest(parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data;
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>, headers = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export function createReceiver(publisher: EventPublisher, o: ReceiverOptions): Server {
  if (!o.username || !o.password)
    throw new Error('the revocation HTTP receiver needs bridge.httpUsername and bridge.httpPassword');
  const base = o.basePath.replace(/\/+$/, '');
  const route = new RegExp(
    `^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(jti|consumer-keys|users)/([^/]+)$`,
  );
  return createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const m = route.exec(url.pathname);
      if (!m) return reply(res, 404, { error: 'not found' });
      if (!authorized(req, o))
        return reply(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Basic realm="mesh-apim"' });
      if (req.method !== 'PUT' && req.method !== 'POST')
        return reply(res, 405, { error: 'use PUT' }, { allow: 'PUT, POST' });
      let id: string;
      try {
        id = decodeURIComponent(m[2]!);
      } catch {
        throw new BadRequest('bad percent-encoding in path');
      }
      const f = fields(await readBody(req), req.headers['content-type']);
      const event = eventFromNotifier(m[1]!, id, f, o, (o.now ?? Date.now)());
      try {
        await publisher.revoked(event);
      } catch (err) {
        log.warn({ err }, 'bus refused a revocation; notifier will retry');
        return reply(res, 503, { error: 'event stream unavailable, retry' }, { 'retry-after': '1' });
      }
      reply(res, 200, { eventId: event.eventId, kind: event.kind });
    } catch (err) {
      if (err instanceof BadRequest) return reply(res, 400, { error: err.message });
      log.error({ err }, 'revocation receiver failed');
      reply(res, 500, { error: 'internal error' });
    }
  });
}

export async function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server.address() as AddressInfo;
}
