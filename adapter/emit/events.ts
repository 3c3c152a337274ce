/**
 * Pure builders of request-attributes events: from the request context the check decided on, and
 * from that context plus what the access log says about the response. No clock, no I/O: the caller
 * passes the time, so the same inputs give the same event (and the same eventId, so a re-sent
 * event is deduplicated by consumers).
 */
import { createHash } from 'node:crypto';
import type { RequestAttributes, RequestContext } from '../../events/request-attributes.ts';

export type ResponseAttributes = NonNullable<RequestAttributes['response']>;

/**
 * Deterministic event id. x-request-id can come from the client (Envoy may keep an incoming one),
 * so the id also covers when the check saw the request: two requests reusing one id stay distinct.
 */
export function requestEventId(source: RequestAttributes['source'], ctx: RequestContext): string {
  const digest = createHash('sha256')
    .update(`${ctx.requestId}\n${ctx.receivedAt}\n${ctx.adapterInstance}`)
    .digest('base64url')
    .slice(0, 32);
  return `${source === 'check' ? 'chk' : 'als'}-${digest}`;
}

/** The event the check emits: denials always; every request when access logs are off. */
export function requestAttributesFromCheck(ctx: RequestContext, occurredAt: Date): RequestAttributes {
  return {
    type: 'request-attributes',
    schemaVersion: 1,
    eventId: requestEventId('check', ctx),
    occurredAt: occurredAt.toISOString(),
    source: 'check',
    ...ctx,
    response: null,
  };
}

/** The complete event of an allowed request, rebuilt on whichever replica received the access log. */
export function requestAttributesFromAccessLog(
  ctx: RequestContext,
  response: ResponseAttributes,
  occurredAt: Date,
): RequestAttributes {
  return {
    type: 'request-attributes',
    schemaVersion: 1,
    eventId: requestEventId('access-log', ctx),
    occurredAt: occurredAt.toISOString(),
    source: 'access-log',
    ...ctx,
    response,
  };
}
