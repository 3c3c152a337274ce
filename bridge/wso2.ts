/**
 * WSO2 API Manager event hub messages -> our events. Pure: the AMQP and HTTP transports call these.
 *
 * Wire formats (what API Manager's gateways consume from `amq.topic`):
 * - routing key `tokenRevocation`: {"event":{"payloadData":{eventId, revokedToken, ttl, expiryTime, type, tenantId}}}
 *   where `type` is JWT / API_KEY (revokedToken = jti), CONSUMER_APP_REVOCATION_EVENT (revokedToken =
 *   base64 JSON {consumerKey, revocationTime}), SUBJECT_ENTITY_REVOCATION_EVENT (base64 JSON {entityId,
 *   entityType USER_ID|CLIENT_ID, revocationTime}); anything else is an opaque access token.
 *   `type` TOKEN_REVOCATION_BATCH_EVENT carries no token: gateways re-pull /revokedjwt
 *   (CPTokenRevocationMessageListener -> RevokedJWTTokensRetriever); the bridge does the same.
 *   API keys of older releases are published whole (APIKeyRevokeServiceImpl): kept by signature.
 * - routing key `notification`: {"event":{"payloadData":{eventType, timestamp, event}}} where `event` is
 *   the base64 JSON of the change (APIEvent, ApplicationEvent, SubscriptionEvent, ...).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PoisonMessageError } from '../common/revocation-errors.ts';
import { ControlPlaneChanged } from '../events/control-plane-changed.ts';
import { TokenRevoked, tokenDigest } from '../events/token-revoked.ts';

export const ROUTING_KEY_REVOCATION = 'tokenRevocation';
export const ROUTING_KEY_NOTIFICATION = 'notification';
const SUPER_TENANT_ID = -1234;

const numberish = z.union([
  z.number(),
  z
    .string()
    .regex(/^-?\d+$/)
    .transform(Number),
]);

const RevocationWire = z.object({
  event: z.object({
    payloadData: z.object({
      eventId: z.string().optional(),
      revokedToken: z.string().min(1),
      ttl: z.union([z.string(), z.number()]).optional(),
      expiryTime: numberish.optional(),
      type: z.string().default('JWT'),
      tenantId: numberish.optional(),
      tenantDomain: z.string().optional(),
    }),
  }),
});

const NotificationWire = z.object({
  event: z.object({
    payloadData: z.object({
      eventType: z.string().min(1),
      timestamp: numberish.optional(),
      event: z.string(),
    }),
  }),
});

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new PoisonMessageError(`${what}: not JSON`, { cause });
  }
}

function decodeBase64Json(b64: string, what: string): Record<string, unknown> {
  const v = parseJson(Buffer.from(b64, 'base64').toString('utf8'), what);
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new PoisonMessageError(`${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

function iso(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0 || ms > 8.64e15) throw new PoisonMessageError(`invalid time ${ms}`);
  return new Date(ms).toISOString();
}

/** payloadData.type of a batch revocation (carbon-apimgt APIConstants.NotificationEvent). */
export const BATCH_REVOCATION_TYPE = 'TOKEN_REVOCATION_BATCH_EVENT';

/**
 * The id a revoked token is looked up by. A whole JWT becomes its signature segment: what WSO2
 * records for it (APIKeyRevokeServiceImpl stores splitToken[2]; /revokedjwt jwt_signature) and
 * never a usable credential on the bus. A jti or anything else is kept as is.
 */
export function revokedTokenId(token: string): string {
  const parts = token.split('.');
  return parts.length === 3 && parts[2] ? parts[2] : token;
}

/** True for a `tokenRevocation` message announcing a batch (re-pull /revokedjwt). Never throws. */
export function isBatchRevocation(body: string): boolean {
  try {
    const type = (JSON.parse(body) as { event?: { payloadData?: { type?: unknown } } })?.event?.payloadData
      ?.type;
    return typeof type === 'string' && type.toUpperCase() === BATCH_REVOCATION_TYPE;
  } catch {
    return false;
  }
}

/** Stable id: a redelivered message maps to the same event id, so consumers drop the duplicate. */
export function stableEventId(prefix: string, ...parts: unknown[]): string {
  return `${prefix}-${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32)}`;
}

function tenantDomainOf(
  tenantId: number | undefined,
  explicit: string | undefined,
  fallback: string,
): string {
  if (explicit) return explicit;
  if (tenantId === undefined || tenantId === SUPER_TENANT_ID) return 'carbon.super';
  return fallback;
}

export interface MapOptions {
  /** Tenant for messages that name none (or a numeric tenant id we cannot resolve). */
  tenantDomain: string;
  now: () => number;
}

/** A `tokenRevocation` message -> token-revoked. Throws PoisonMessageError when it can never be mapped. */
export function revocationFromWso2(body: string, o: MapOptions): TokenRevoked {
  const parsed = RevocationWire.safeParse(parseJson(body, 'tokenRevocation message'));
  if (!parsed.success)
    throw new PoisonMessageError(`tokenRevocation message:\n${z.prettifyError(parsed.error)}`);
  const p = parsed.data.event.payloadData;
  const now = o.now();
  const tenantDomain = tenantDomainOf(p.tenantId, p.tenantDomain, o.tenantDomain);
  let kind: TokenRevoked['kind'];
  let value: string;
  let revokedAt = now;
  let expiresAt: number | null = p.expiryTime && p.expiryTime > 0 ? p.expiryTime : null;
  const type = p.type.toUpperCase();
  if (type === 'CONSUMER_APP_REVOCATION_EVENT' || type === 'SUBJECT_ENTITY_REVOCATION_EVENT') {
    const m = decodeBase64Json(p.revokedToken, `${type} revokedToken`);
    const time = Number(m.revocationTime);
    if (!Number.isFinite(time) || time <= 0)
      throw new PoisonMessageError(`${type}: revocationTime missing or not a number`);
    revokedAt = time;
    // Tokens issued before revokedAt stay dead until their own expiry, which we do not know: keep.
    expiresAt = null;
    if (type === 'CONSUMER_APP_REVOCATION_EVENT') {
      if (typeof m.consumerKey !== 'string' || !m.consumerKey)
        throw new PoisonMessageError(`${type}: consumerKey missing`);
      kind = 'consumer-key';
      value = m.consumerKey;
    } else {
      if (typeof m.entityId !== 'string' || !m.entityId)
        throw new PoisonMessageError(`${type}: entityId missing`);
      const et = String(m.entityType ?? '').toUpperCase();
      if (et === 'USER_ID') kind = 'user';
      else if (et === 'CLIENT_ID') kind = 'consumer-key';
      else throw new PoisonMessageError(`${type}: unknown entityType "${m.entityType}"`);
      value = m.entityId;
    }
  } else if (type === 'JWT' || type === 'API_KEY' || type === 'APIKEY') {
    kind = 'jti';
    value = revokedTokenId(p.revokedToken);
  } else {
    // An opaque access token: only its digest leaves this function (the raw token is a live credential).
    kind = 'token';
    value = tokenDigest(p.revokedToken);
  }
  const event: TokenRevoked = {
    type: 'token-revoked',
    schemaVersion: 1,
    eventId: p.eventId ? `apim-${p.eventId}` : stableEventId('apim', kind, value, revokedAt),
    occurredAt: iso(now),
    kind,
    value,
    revokedAt: iso(revokedAt),
    expiresAt: expiresAt === null ? null : iso(expiresAt),
    tenantDomain,
    source: 'apim-eventhub',
  };
  return TokenRevoked.parse(event);
}

/** WSO2 notification eventType -> the cached entity it changes. */
export function entityOf(eventType: string): ControlPlaneChanged['entity'] {
  const t = eventType.toUpperCase();
  if (/^(APPLICATION_REGISTRATION_|REMOVE_APPLICATION_KEYMAPPING)/.test(t)) return 'key-mapping';
  if (/^(API_|DEPLOY_API_IN_GATEWAY|REMOVE_API_FROM_GATEWAY)/.test(t)) return 'api';
  if (t.startsWith('APPLICATION_')) return 'application';
  if (t.startsWith('SUBSCRIPTIONS_')) return 'subscription';
  if (t.startsWith('POLICY_')) return 'policy';
  return 'other';
}

/** A `notification` message -> control-plane-changed. */
export function notificationFromWso2(body: string, o: MapOptions): ControlPlaneChanged {
  const parsed = NotificationWire.safeParse(parseJson(body, 'notification message'));
  if (!parsed.success)
    throw new PoisonMessageError(`notification message:\n${z.prettifyError(parsed.error)}`);
  const p = parsed.data.event.payloadData;
  const details = decodeBase64Json(p.event, `${p.eventType} event`);
  const now = o.now();
  const tenantId = typeof details.tenantId === 'number' ? details.tenantId : undefined;
  const tenantDomain = tenantDomainOf(
    tenantId,
    typeof details.tenantDomain === 'string' ? details.tenantDomain : undefined,
    o.tenantDomain,
  );
  const eventId =
    typeof details.eventId === 'string' && details.eventId
      ? `apim-${details.eventId}`
      : stableEventId('apim', p.eventType, p.timestamp, p.event);
  return ControlPlaneChanged.parse({
    type: 'control-plane-changed',
    schemaVersion: 1,
    eventId,
    occurredAt: iso(p.timestamp && p.timestamp > 0 ? p.timestamp : now),
    entity: entityOf(p.eventType),
    action: p.eventType,
    tenantDomain,
    details,
  });
}
