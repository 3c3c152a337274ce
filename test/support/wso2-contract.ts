/**
 * Contract checks against WSO2 API Manager's published specs (../shared/contracts/wso2/, kept
 * outside this repository). Fakes of API Manager call `assertValid` on every request they receive,
 * so a client that drifts from the spec fails its tests. Validation is done by openapi-backend
 * (ajv underneath); the Swagger 2.0 internal data API is converted to OpenAPI 3 first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// js-yaml: the Publisher spec has multi-line quoted scalars that the stricter `yaml` package rejects.
import { load as parseYaml } from 'js-yaml';
import { type Request as OasRequest, OpenAPIBackend } from 'openapi-backend';
import swagger2openapi from 'swagger2openapi';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where the specs are: MESH_APIM_WSO2_CONTRACTS, else ../shared/contracts/wso2 next to the repo. */
export function contractsDir(): string {
  const candidates = [
    process.env.MESH_APIM_WSO2_CONTRACTS,
    resolve(repoRoot, '../shared/contracts/wso2'),
    // A git worktree lives elsewhere; fall back to the shared folder of this workplace.
    '/work/shared/contracts/wso2',
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(resolve(c, 'publisher-api-v4.yaml')));
  if (!found) throw new Error(`WSO2 contracts not found; looked in ${candidates.join(', ')}`);
  return found;
}

export type Wso2Spec = 'publisher' | 'internal-data';

/** Path prefix under which each API is served by API Manager. */
export const BASE_PATHS: Record<Wso2Spec, string> = {
  publisher: '/api/am/publisher/v4',
  'internal-data': '/internal/data/v1',
};

const FILES: Record<Wso2Spec, string> = {
  publisher: 'publisher-api-v4.yaml',
  'internal-data': 'internal-data-api-v1.yaml',
};

type OasDoc = {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, unknown> } }>>;
};

const backends = new Map<Wso2Spec, Promise<{ api: OpenAPIBackend; doc: OasDoc }>>();

/** Drops vendor extensions: WSO2's `x-examples` point at example files that are not published with the spec. */
function withoutExtensions(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutExtensions);
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node)
        .filter(([k]) => !k.startsWith('x-'))
        .map(([k, v]) => [k, withoutExtensions(v)]),
    );
  }
  return node;
}

async function loadBackend(spec: Wso2Spec): Promise<{ api: OpenAPIBackend; doc: OasDoc }> {
  let raw = withoutExtensions(
    parseYaml(readFileSync(resolve(contractsDir(), FILES[spec]), 'utf8')),
  ) as Record<string, unknown>;
  if (raw.swagger === '2.0') {
    const converted = await swagger2openapi.convertObj(raw, { patch: true, warnOnly: true });
    raw = converted.openapi as Record<string, unknown>;
  }
  // openapi-backend validates by operationId; the internal data API declares none.
  for (const [path, item] of Object.entries((raw as unknown as OasDoc).paths)) {
    for (const [method, op] of Object.entries(item)) {
      const o = op as { operationId?: string };
      if (typeof o === 'object' && o !== null && !o.operationId && method !== 'parameters') {
        o.operationId = `${method} ${path}`;
      }
    }
  }
  const api = new OpenAPIBackend({
    definition: raw as never,
    strict: false,
    validate: true,
    quick: true, // compile validators lazily: the Publisher spec has 170+ paths
    ajvOpts: { strict: false, allErrors: true, logger: false },
  });
  await api.init();
  return { api, doc: raw as unknown as OasDoc };
}

function backend(spec: Wso2Spec) {
  let b = backends.get(spec);
  if (!b) {
    b = loadBackend(spec);
    backends.set(spec, b);
  }
  return b;
}

export interface ContractRequest {
  method: string;
  /** Full path with query, e.g. `/api/am/publisher/v4/apis?query=name:"x"`. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed body: JSON value, form fields as an object, or undefined. */
  body?: unknown;
}

export interface ContractResult {
  valid: boolean;
  operationId: string | null;
  errors: string[];
}

/** Validates one request against the spec: path + method exist, parameters, content type, body schema. */
export async function validateRequest(spec: Wso2Spec, req: ContractRequest): Promise<ContractResult> {
  const { api, doc } = await backend(spec);
  const url = new URL(req.url, 'http://contract.invalid');
  const base = BASE_PATHS[spec];
  if (!url.pathname.startsWith(`${base}/`)) {
    return { valid: false, operationId: null, errors: [`path ${url.pathname} is not under ${base}`] };
  }
  const path = url.pathname.slice(base.length);
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = v;
  const oasReq: OasRequest = { method: req.method.toLowerCase(), path, query, headers, body: req.body };
  const operation = api.matchOperation(oasReq);
  if (!operation) {
    return {
      valid: false,
      operationId: null,
      errors: [`${req.method} ${path}: no such operation in ${FILES[spec]}`],
    };
  }
  const errors: string[] = [];
  const declared = doc.paths[operation.path]?.[operation.method]?.requestBody?.content;
  const contentType = String(headers['content-type'] ?? '')
    .split(';')[0]!
    .trim();
  if (declared && req.body !== undefined && !Object.keys(declared).includes(contentType)) {
    errors.push(`content-type "${contentType}" not declared (${Object.keys(declared).join(', ')})`);
  }
  const result = api.validateRequest(oasReq, operation);
  for (const e of result.errors ?? [])
    errors.push(`${e.instancePath || '(request)'} ${e.message ?? ''}`.trim());
  return { valid: errors.length === 0, operationId: operation.operationId ?? null, errors };
}

/** Validates a response body against the operation's declared schema for that status. */
export async function validateResponse(
  spec: Wso2Spec,
  method: string,
  path: string,
  status: number,
  body: unknown,
): Promise<ContractResult> {
  const { api } = await backend(spec);
  const operation = api.matchOperation({ method: method.toLowerCase(), path, headers: {} });
  if (!operation)
    return { valid: false, operationId: null, errors: [`${method} ${path}: no such operation`] };
  const result = api.validateResponse(body, operation, status);
  const errors = (result.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''}`.trim());
  return { valid: errors.length === 0, operationId: operation.operationId ?? null, errors };
}

/** The query parameters an operation declares (name -> schema), from the converted spec. */
export async function declaredQueryParameters(
  spec: Wso2Spec,
  method: string,
  path: string,
): Promise<string[]> {
  const { api } = await backend(spec);
  const operation = api.matchOperation({ method: method.toLowerCase(), path, headers: {} });
  if (!operation) throw new Error(`${method} ${path}: no such operation`);
  const params = (operation.parameters ?? []) as { in?: string; name?: string }[];
  return params.filter((p) => p.in === 'query' && p.name).map((p) => p.name!);
}

export class ContractViolation extends Error {}

/** Throws a ContractViolation naming the request and every problem; returns the operationId. */
export async function assertValid(spec: Wso2Spec, req: ContractRequest): Promise<string | null> {
  const result = await validateRequest(spec, req);
  if (!result.valid) {
    throw new ContractViolation(
      `${req.method} ${req.url} violates ${FILES[spec]}: ${result.errors.join('; ')}`,
    );
  }
  return result.operationId;
}

/** Parses a multipart/form-data body into fields (files as text) with the platform's own parser. */
export async function parseMultipart(body: Buffer, contentType: string): Promise<Record<string, string>> {
  const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  const fields: Record<string, string> = {};
  for (const [k, v] of form.entries()) fields[k] = typeof v === 'string' ? v : await v.text();
  return fields;
}
