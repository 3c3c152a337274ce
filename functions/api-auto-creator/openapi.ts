/**
 * Obtains the OpenAPI definition a service-deployed event points at: inline text, a URL, or a path
 * served by the service itself (fetched from its in-mesh endpoint). HTTP fetches have a timeout and a
 * size limit; the result is parsed (JSON or YAML) and must look like an OpenAPI/Swagger document.
 */
import axios from 'axios';
import { parse as parseYaml } from 'yaml';
import type { ServiceDeployed } from '../../events/service-lifecycle.ts';
import { OpenApiSourceError } from './errors.ts';

export interface OpenApiFetchOptions {
  timeoutMs: number;
  maxBytes: number;
}

export interface OpenApiDefinition {
  /** Canonical JSON text (sorted keys): what is sent to API Manager and hashed for change detection. */
  json: string;
  document: Record<string, unknown>;
}

export async function loadOpenApi(
  api: ServiceDeployed['api'],
  options: OpenApiFetchOptions,
): Promise<OpenApiDefinition> {
  const src = api.openapi;
  switch (src.kind) {
    case 'inline':
      return parseDefinition(src.content, 'inline definition');
    case 'url':
      return parseDefinition(await fetchText(src.url, options), src.url);
    case 'service-path': {
      const url = new URL(src.path, `${api.endpoint.replace(/\/+$/, '')}/`).toString();
      return parseDefinition(await fetchText(url, options), url);
    }
    case 'configmap':
      // The controller inlines ConfigMap sources (it has the RBAC to read them; a Lambda has not).
      throw new OpenApiSourceError(
        `ConfigMap source ${src.name}/${src.key} must be inlined by the controller before publishing`,
      );
  }
}

async function fetchText(url: string, options: OpenApiFetchOptions): Promise<string> {
  try {
    const res = await axios.get<string>(url, {
      timeout: options.timeoutMs,
      maxContentLength: options.maxBytes,
      maxRedirects: 3,
      responseType: 'text',
      transformResponse: (d: string) => d,
      validateStatus: () => true,
    });
    if (res.status >= 200 && res.status < 300) return res.data;
    throw new OpenApiSourceError(`GET ${url}: HTTP ${res.status}`, {
      retriable: res.status >= 500 || res.status === 429 || res.status === 404,
    });
  } catch (err) {
    if (err instanceof OpenApiSourceError) throw err;
    const tooBig = err instanceof Error && /maxContentLength/.test(err.message);
    throw new OpenApiSourceError(
      tooBig ? `GET ${url}: definition larger than ${options.maxBytes} bytes` : `GET ${url}: ${String(err)}`,
      // A service that is still starting answers nothing yet; an oversized document stays oversized.
      { cause: err, retriable: !tooBig },
    );
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function parseDefinition(text: string, where: string): OpenApiDefinition {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw new OpenApiSourceError(`${where}: not JSON/YAML`, { cause });
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new OpenApiSourceError(`${where}: not an OpenAPI document (top level is not a mapping)`);
  const d = doc as Record<string, unknown>;
  if (typeof d.openapi !== 'string' && typeof d.swagger !== 'string')
    throw new OpenApiSourceError(`${where}: not an OpenAPI document (no "openapi"/"swagger" version field)`);
  if (!d.paths || typeof d.paths !== 'object')
    throw new OpenApiSourceError(`${where}: OpenAPI document has no "paths"`);
  return { json: JSON.stringify(sortKeys(d)), document: d };
}
