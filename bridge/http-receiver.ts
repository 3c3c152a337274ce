/**
 * HTTP receiver for API Manager's persistent revocation notifier, accepting exactly what
 * wso2/carbon-apimgt TokenRevocationNotifierImpl.sendMessageToPersistentStorage sends: one
 * configured `hostname` (our <base>/) with the key appended, Basic auth, and a form body
 * `value=true&ttl=<s>` plus
 *   expiryTime=<ms>                                   a revoked token: the key is its jti, an opaque
 *                                                     token, or (API keys of older releases) the whole JWT
 *   consumerKey=<ck>&revocationTime=<ms>              tokens of an application issued before that time
 *   entityId=<id>&entityType=USER_ID|CLIENT_ID&revocationTime=<ms>   tokens of a subject
 *     PUT <base>/<key>
 * Older releases defaulted to one path per stream (<base>/jti/, /consumer-keys/, /users/); that
 * segment is accepted too. 401 wrong credentials, 400 malformed, 503 when the bus refused; nothing
 * is published unless the answer is 2xx.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../common/log.ts';
import { TokenRevoked, tokenDigest } from '../events/token-revoked.ts';
import type { EventPublisher } from './publish.ts';
import { revokedTokenId, stableEventId } from './wso2.ts';

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

const LEGACY_SEGMENT = /^(jti|consumer-keys|users)\/(.+)$/;

function positiveMs(name: string, raw: string | undefined): number | undefined {
  const t = epochMs(name, raw);
  return t === undefined || t === 0 ? undefined : t;
}

/** Request -> event (pure). `key` is the path below the base. Throws BadRequest with the reason. */
export function eventFromNotifier(
  key: string,
  f: Record<string, string>,
  o: ReceiverOptions,
  now: number,
): TokenRevoked {
  const legacy = LEGACY_SEGMENT.exec(key);
  const id = legacy ? legacy[2]! : key;
  if (!id) throw new BadRequest('missing key in path');
  if (f.value !== undefined && f.value !== 'true' && !(legacy && legacy[1] !== 'jti'))
    throw new BadRequest('value must be "true"');
  let ttl: number | undefined;
  if (f.ttl !== undefined && f.ttl !== '') {
    if (!/^\d{1,10}$/.test(f.ttl)) throw new BadRequest('ttl must be whole seconds');
    ttl = Number(f.ttl);
  }
  let kind: TokenRevoked['kind'];
  let value: string;
  let revokedAt = now;
  let expiresAt: number | null = null;
  const kindOfLegacy = legacy?.[1];
  if (f.consumerKey !== undefined || kindOfLegacy === 'consumer-keys') {
    kind = 'consumer-key';
    value = f.consumerKey || id;
    const t = positiveMs('revocationTime', f.revocationTime ?? (legacy ? f.value : undefined));
    if (t === undefined) throw new BadRequest('revocationTime is required');
    revokedAt = t;
  } else if (f.entityId !== undefined || f.entityType !== undefined || kindOfLegacy === 'users') {
    value = f.entityId || id;
    const et = (f.entityType ?? 'USER_ID').toUpperCase();
    if (et === 'USER_ID') kind = 'user';
    else if (et === 'CLIENT_ID') kind = 'consumer-key';
    else throw new BadRequest(`unknown entityType "${f.entityType}"`);
    const t = positiveMs('revocationTime', f.revocationTime ?? (legacy ? f.value : undefined));
    if (t === undefined) throw new BadRequest('revocationTime is required');
    revokedAt = t;
  } else {
    if (f.revocationTime !== undefined) throw new BadRequest('revocationTime needs consumerKey or entityId');
    // WSO2 sends no type here. A JWT (an API key revoked whole) is reduced to its signature, as
    // WSO2's gateway keys it (JMSMessageListener.handleRevokedTokenMessage: getSignatureIfJWT).
    // Anything else is what that gateway drops from its token cache (removeTokenFromGatewayCache):
    // an opaque access token, so only its digest travels. Adapters also match the digest against
    // a credential's jti (RevocationStore.revokedBy): a bare jti revokes that JWT as before.
    const signature = revokedTokenId(id);
    if (signature !== id || kindOfLegacy === 'jti') {
      kind = 'jti';
      value = signature;
    } else {
      kind = 'token';
      value = tokenDigest(id);
    }
    // expiryTime is 0 for opaque tokens: then the store's ttl bounds how long we remember it.
    const expiry = positiveMs('expiryTime', f.expiryTime);
    expiresAt = expiry ?? (ttl !== undefined ? now + ttl * 1000 : null);
  }
  const parsed = TokenRevoked.safeParse({
    type: 'token-revoked',
    schemaVersion: 1,
    eventId: stableEventId('notifier', kind, value, revokedAt, expiresAt),
    occurredAt: new Date(now).toISOString(),
    kind,
    value,
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
  return createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const rest = url.pathname.startsWith(`${base}/`) ? url.pathname.slice(base.length + 1) : '';
      if (!rest) return reply(res, 404, { error: 'not found' });
      if (!authorized(req, o))
        return reply(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Basic realm="mesh-apim"' });
      if (req.method !== 'PUT' && req.method !== 'POST')
        return reply(res, 405, { error: 'use PUT' }, { allow: 'PUT, POST' });
      let key: string;
      try {
        key = decodeURIComponent(rest);
      } catch {
        throw new BadRequest('bad percent-encoding in path');
      }
      const f = fields(await readBody(req), req.headers['content-type']);
      const event = eventFromNotifier(key, f, o, (o.now ?? Date.now)());
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
