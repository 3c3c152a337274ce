/**
 * Step route: the API and the resource a request is for, matched on the normalised path; what an
 * upstream could read another way is denied (adapter/path.ts). The credential verifiers read the
 * same target (an API's key header, its fail-open setting), so it is resolved once per request.
 */
import type { CheckRequest, MatchInfo } from '../domain.ts';
import { normalizePath, type PathAmbiguity } from '../path.ts';
import type { ApiEntry, ResourceEntry, Snapshot } from '../snapshot/types.ts';
import { deny, type Step } from './decision.ts';

/** context_extensions key naming the API (its id or versioned context) for a route. */
export const API_CONTEXT_EXTENSION = 'api';

/** The API and the normalised path a request is matched on (adapter/path.ts). */
export interface Target {
  api: ApiEntry | null;
  /** Normalised path: what resources are matched on. */
  path: string;
  ambiguity: PathAmbiguity | null;
  /**
   * True when the raw path and its normalised form name different APIs (`/a/v1/../../b/v1/x`):
   * Envoy routed on the raw form, so the upstream is not the API this check would authorise.
   */
  contextMismatch: boolean;
}

// The credential verifiers (apiKeyHeader, per-API fail-open) and decide() all need the request's
// target: computed once per request and snapshot, not once per caller (it normalises the path).
const targets = new WeakMap<CheckRequest, { snapshot: Snapshot; target: Target }>();

export function resolveTarget(request: CheckRequest, snapshot: Snapshot): Target {
  const hit = targets.get(request);
  if (hit && hit.snapshot === snapshot) return hit.target;
  const target = computeTarget(request, snapshot);
  targets.set(request, { snapshot, target });
  return target;
}

function apiByPath(path: string, snapshot: Snapshot): ApiEntry | null {
  for (const ctx of snapshot.contextsByLength) {
    if (path === ctx || path.startsWith(`${ctx}/`)) return snapshot.apisByContext.get(ctx)!;
  }
  return null;
}

function computeTarget(request: CheckRequest, snapshot: Snapshot): Target {
  const n = normalizePath(request.path);
  const named = request.contextExtensions[API_CONTEXT_EXTENSION];
  if (named) {
    const api = snapshot.apis.get(named) ?? snapshot.apisByContext.get(named) ?? null;
    return { api, path: n.path, ambiguity: n.ambiguity, contextMismatch: false };
  }
  const api = apiByPath(n.path, snapshot);
  const contextMismatch = n.path !== request.path && apiByPath(request.path, snapshot) !== api;
  return { api, path: n.path, ambiguity: n.ambiguity, contextMismatch };
}

export function resolveApi(request: CheckRequest, snapshot: Snapshot): ApiEntry | null {
  return resolveTarget(request, snapshot).api;
}

/** The context the request came in by: the versioned one, or the default version's unversioned one. */
function contextOf(path: string, api: ApiEntry): string {
  const v = api.versionedContext;
  if (path === v || path.startsWith(`${v}/`)) return v;
  const d = api.defaultContext;
  if (d && (path === d || path.startsWith(d === '/' ? '/' : `${d}/`))) return d === '/' ? '' : d;
  return v;
}

/** Resource by method + template, on the normalised path (relative to the context it came in by). */
export function resolveResource(
  request: CheckRequest,
  api: ApiEntry,
  path = request.path,
): ResourceEntry | null {
  const ctx = contextOf(path, api);
  const rest = path.startsWith(ctx) ? path.slice(ctx.length) || '/' : path;
  const method = request.method.toUpperCase();
  for (const r of api.resources) {
    if ((r.method === method || r.method === '*') && r.pattern.test(rest)) return r;
  }
  return null;
}

const AMBIGUITY_TEXT: Record<PathAmbiguity, string> = {
  ENCODED_SLASH: 'an encoded slash (%2F)',
  BACKSLASH: 'a backslash (raw or %5C)',
  ENCODED_DOT_SEGMENT: 'an encoded dot segment (%2e)',
  PATH_PARAMETER: "a ';' path parameter",
  DOUBLE_ENCODING: 'a double percent-encoding (%25XX)',
  BAD_ENCODING: "a '%' not followed by two hex digits",
  CONTROL_CHARACTER: 'a control character',
  EMPTY_SEGMENT: "an empty segment ('//')",
};

/** The API a request is for: one that is live (not CREATED, RETIRED or BLOCKED), on an unambiguous path. */
export function routeApi(target: Target, match: MatchInfo): Step<ApiEntry> {
  const api = target.api;
  if (target.contextMismatch) {
    return deny('AMBIGUOUS_PATH', 'AMBIGUOUS_PATH_CONTEXT_MISMATCH', match, {
      description: 'The request path is ambiguous: its dot segments or encodings lead into another API',
    });
  }
  if (target.ambiguity && !api?.allowAmbiguousPaths) {
    if (api) match.api = api.info;
    return deny('AMBIGUOUS_PATH', `AMBIGUOUS_PATH_${target.ambiguity}`, match, {
      description: `The request path is ambiguous: it contains ${AMBIGUITY_TEXT[target.ambiguity]}, which upstream servers may resolve to another resource. Send the path in normal form.`,
    });
  }
  if (!api || api.lifecycle === 'CREATED' || api.lifecycle === 'RETIRED') {
    return deny('NO_MATCHING_RESOURCE', 'API_NOT_FOUND', match);
  }
  match.api = api.info;
  if (api.lifecycle === 'BLOCKED') return deny('API_BLOCKED', 'API_BLOCKED', match);
  return api;
}

/** The API's resource the method and the normalised path match. */
export function routeResource(
  request: CheckRequest,
  api: ApiEntry,
  target: Target,
  match: MatchInfo,
): Step<ResourceEntry> {
  const resource = resolveResource(request, api, target.path);
  if (!resource) return deny('NO_MATCHING_RESOURCE', 'RESOURCE_NOT_FOUND', match);
  match.resource = { method: resource.method, template: resource.template };
  return resource;
}
