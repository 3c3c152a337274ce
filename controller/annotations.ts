/**
 * The opt-in annotation set on a Kubernetes Service, and the pure translation of a Service into the
 * API it exposes. Documented in docs/api-auto-creation.md; keep both in step.
 */
import type { ServiceDeployed } from '../events/service-lifecycle.ts';

export const ANNOTATION_PREFIX = 'mesh-apim.io/';

export const ANNOTATIONS = {
  expose: `${ANNOTATION_PREFIX}expose`,
  apiName: `${ANNOTATION_PREFIX}api-name`,
  apiVersion: `${ANNOTATION_PREFIX}api-version`,
  context: `${ANNOTATION_PREFIX}context`,
  openapi: `${ANNOTATION_PREFIX}openapi`,
  port: `${ANNOTATION_PREFIX}port`,
  environments: `${ANNOTATION_PREFIX}environments`,
  tiers: `${ANNOTATION_PREFIX}tiers`,
} as const;

/** The parts of a core/v1 Service the controller reads (client-node's V1Service is assignable). */
export interface ServiceObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    annotations?: { [k: string]: string };
  };
  spec?: { ports?: { name?: string; port: number }[] };
}

export interface ServiceDefaults {
  /** `{name}`, `{namespace}`, `{port}` are substituted. */
  endpointTemplate: string;
  environments: string[];
  tiers: string[];
  openapiPath: string;
  defaultVersion: string;
}

export type ApiFromService = ServiceDeployed['api'];

export type Translation =
  | { kind: 'not-exposed' }
  | { kind: 'invalid'; errors: string[] }
  | { kind: 'exposed'; api: ApiFromService };

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,59}$/;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$/;
const CONTEXT_RE = /^(\/[A-Za-z0-9._~{}-]+)+$/;
const ENTRY_RE = /^[A-Za-z0-9][A-Za-z0-9 ._-]*$/;

function list(value: string | undefined, fallback: string[], what: string, errors: string[]): string[] {
  if (value === undefined) return fallback;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) errors.push(`${what}: empty list`);
  for (const i of items) if (!ENTRY_RE.test(i)) errors.push(`${what}: invalid entry "${i}"`);
  return items;
}

export function translateService(svc: ServiceObject, defaults: ServiceDefaults): Translation {
  const a = svc.metadata?.annotations ?? {};
  const expose = a[ANNOTATIONS.expose];
  if (expose === undefined || /^(false|0|no|off)$/i.test(expose.trim())) return { kind: 'not-exposed' };
  const errors: string[] = [];
  if (!/^(true|1|yes|on)$/i.test(expose.trim()))
    errors.push(`${ANNOTATIONS.expose}: expected "true" or "false", got "${expose}"`);
  const name = svc.metadata?.name ?? '';
  const namespace = svc.metadata?.namespace ?? 'default';

  const apiName = a[ANNOTATIONS.apiName]?.trim() ?? name;
  if (!NAME_RE.test(apiName)) errors.push(`${ANNOTATIONS.apiName}: invalid API name "${apiName}"`);
  const version = a[ANNOTATIONS.apiVersion]?.trim() ?? defaults.defaultVersion;
  if (!VERSION_RE.test(version)) errors.push(`${ANNOTATIONS.apiVersion}: invalid version "${version}"`);
  const context = a[ANNOTATIONS.context]?.trim() ?? `/${name}`;
  if (!CONTEXT_RE.test(context))
    errors.push(`${ANNOTATIONS.context}: must be a path such as /petstore (got "${context}")`);

  const ports = svc.spec?.ports ?? [];
  const wantPort = a[ANNOTATIONS.port]?.trim();
  const port = wantPort
    ? ports.find((p) => p.name === wantPort || String(p.port) === wantPort)
    : (ports.find((p) => p.name === 'http') ?? ports[0]);
  if (!port)
    errors.push(
      wantPort
        ? `${ANNOTATIONS.port}: the Service has no port named or numbered "${wantPort}"`
        : 'the Service declares no port to route the API to',
    );

  const src = (a[ANNOTATIONS.openapi] ?? defaults.openapiPath).trim();
  let openapi: ApiFromService['openapi'] | null = null;
  if (src.startsWith('/')) openapi = { kind: 'service-path', path: src };
  else if (/^https?:\/\//.test(src)) {
    try {
      openapi = { kind: 'url', url: new URL(src).toString() };
    } catch {
      errors.push(`${ANNOTATIONS.openapi}: invalid URL "${src}"`);
    }
  } else {
    const cm = /^configmap:([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/([-._a-zA-Z0-9]+)$/.exec(src);
    if (cm) openapi = { kind: 'configmap', name: cm[1]!, key: cm[3]! };
    else
      errors.push(
        `${ANNOTATIONS.openapi}: expected a path served by the service (/openapi.json), an http(s) URL or configmap:<name>/<key>, got "${src}"`,
      );
  }

  const environments = list(
    a[ANNOTATIONS.environments],
    defaults.environments,
    ANNOTATIONS.environments,
    errors,
  );
  const tiers = list(a[ANNOTATIONS.tiers], defaults.tiers, ANNOTATIONS.tiers, errors);

  if (errors.length > 0 || !port || !openapi) return { kind: 'invalid', errors };
  const endpoint = defaults.endpointTemplate
    .replaceAll('{name}', name)
    .replaceAll('{namespace}', namespace)
    .replaceAll('{port}', String(port.port));
  return {
    kind: 'exposed',
    api: { name: apiName, version, context, endpoint, openapi, environments, tiers },
  };
}
