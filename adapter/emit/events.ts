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
 * Deterministic event id: the source and the check's identity (ctx.checkId, see identity.ts), so
 * every check has its own id however many requests share an x-request-id, and a re-sent event
 * keeps it. Contexts without a checkId (from an adapter before it existed, via the access log) keep
 * the former id: when, where and x-request-id, hashed only when too long.
 */
export function requestEventId(source: RequestAttributes['source'], ctx: RequestContext): string {
  if (ctx.checkId !== undefined) return `${source === 'check' ? 'chk' : 'als'}:${ctx.checkId}`;
  const id = `${source === 'check' ? 'chk' : 'als'}:${ctx.receivedAt}:${ctx.adapterInstance}:${ctx.requestId}`;
  if (id.length <= 200) return id;
  const digest = createHash('sha256').update(id).digest('base64url');
  return `${source === 'check' ? 'chk' : 'als'}:${digest}`;
}

/**
 * The RequestContext as JSON, built once per check: the response's dynamic metadata (the access
 * log reads it back) and the check's event both use it, so it is serialised once. Contexts are not
 * mutated after the decision (server.ts builds one per check).
 */
const contextJson = new WeakMap<RequestContext, string>();
export function requestContextJson(ctx: RequestContext): string {
  let json = contextJson.get(ctx);
  if (json === undefined) {
    json = JSON.stringify(ctx);
    contextJson.set(ctx, json);
  }
  return json;
}

/**
 * requestAttributesFromCheck() serialised, spliced from the context's JSON (requestContextJson)
 * rather than re-serialising the context: the same JSON text, key for key (a test checks it).
 */
export function requestAttributesJsonFromCheck(ctx: RequestContext, occurredAt: Date): string {
  const body = requestContextJson(ctx);
  const fields = body.length > 2 ? `${body.slice(1, -1)},` : '';
  return `{"type":"request-attributes","schemaVersion":1,"eventId":${JSON.stringify(requestEventId('check', ctx))},"occurredAt":"${occurredAt.toISOString()}","source":"check",${fields}"response":null}`;
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

/**
 * requestAttributesFromAccessLog() serialised, spliced from the context's JSON as the access log
 * carried it back (the check's requestContextJson): no re-serialisation of the context. Only for a
 * `json` that decodes to exactly `ctx` (the caller checks: contextMatchesJson in als/mapping.ts).
 */
export function requestAttributesJsonFromAccessLog(
  json: string,
  ctx: RequestContext,
  response: ResponseAttributes,
  occurredAt: Date,
): string {
  return `{"type":"request-attributes","schemaVersion":1,"eventId":${JSON.stringify(requestEventId('access-log', ctx))},"occurredAt":"${occurredAt.toISOString()}","source":"access-log",${json.slice(1, -1)},"response":${JSON.stringify(response)}}`;
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
