/**
 * Adversarial CheckRequests for the fuzz properties (test/scenarios/fuzz.test.ts) and the long fuzz run
 * (`npm run bench -- fuzz`). The oracle is derived from the standalone YAML itself, never from
 * decide(): an allow must be explained by an unsecured resource, or by a genuine credential whose
 * application holds a usable subscription to the API the path (or context_extensions) names.
 */
import * as fc from 'fast-check';
import { parse } from 'yaml';
import { decodeCheckResponse } from '../../adapter/check-client.ts';
import type { CredentialResult } from '../../adapter/credentials/types.ts';
import type { CheckRequest } from '../../adapter/domain.ts';
import type { ProtoCheckRequest } from '../../adapter/translate.ts';
import { WSO2_ERRORS } from '../../adapter/wso2-errors.ts';

export const FUZZ_POLICIES = new URL('../adapter/fixtures/every-decision.yaml', import.meta.url).pathname;

interface YamlResource {
  method: string;
  path: string;
  auth?: string;
  scopes?: string[];
}
interface YamlApi {
  id: string;
  version: string;
  context: string;
  lifecycle?: string;
  trustClaims?: boolean;
  allowAmbiguousPaths?: boolean;
  resources: YamlResource[];
}
interface YamlSub {
  application: string;
  api: string;
  state?: string;
}

/** The parts of the policy file the oracle needs, read straight from the YAML. */
export interface Oracle {
  apis: {
    id: string;
    ctx: string;
    lifecycle: string;
    trustClaims: boolean;
    allowAmbiguousPaths: boolean;
    resources: YamlResource[];
  }[];
  /** `${application}|${apiId}` -> subscription state. */
  subs: Map<string, string>;
  applications: string[];
}

export function oracleFromYaml(text: string): Oracle {
  const doc = parse(text) as { apis: YamlApi[]; applications: { name: string }[]; subscriptions: YamlSub[] };
  const apis = doc.apis.map((a) => ({
    id: a.id,
    ctx: `${a.context.replace(/\/+$/, '')}/${a.version}`,
    lifecycle: a.lifecycle ?? 'PUBLISHED',
    trustClaims: a.trustClaims ?? false,
    allowAmbiguousPaths: a.allowAmbiguousPaths ?? false,
    resources: a.resources,
  }));
  const subs = new Map<string, string>();
  for (const s of doc.subscriptions) {
    const api = apis.find((a) => a.id === s.api || a.ctx === s.api)!;
    subs.set(`${s.application}|${api.id}`, s.state ?? 'UNBLOCKED');
  }
  return { apis, subs, applications: doc.applications.map((a) => a.name) };
}

/** Independent template matcher: `{x}` is one non-empty segment, a trailing `/*` anything, one optional trailing slash. */
export function templateMatches(template: string, rest: string): boolean {
  if (template === '/*') return rest.startsWith('/');
  if (template.endsWith('/*')) {
    const base = template.slice(0, -2);
    return templateMatches(base, rest) || (rest.startsWith(`${base}/`) && !base.includes('{'));
  }
  const r = rest.length > 1 && rest.endsWith('/') ? rest.slice(0, -1) : rest;
  const want = template.split('/');
  const got = r.split('/');
  if (want.length !== got.length) return false;
  return want.every((w, i) => (/^\{[^}]+\}$/.test(w) ? got[i] !== '' : w === got[i]));
}

function usableState(state: string | undefined, keyType: string | null): boolean {
  if (state === undefined) return false;
  if (state === 'UNBLOCKED' || state === 'TIER_UPDATE_PENDING') return true;
  return state === 'PROD_ONLY_BLOCKED' && keyType === 'SANDBOX';
}

export interface AllowedCredential {
  application: string;
  keyType: string | null;
  /** Versioned contexts the credential's subscribedAPIs claim names. */
  claimContexts: string[];
  permittedIPs?: readonly string[] | null;
  /** OAuth2-style scopes the credential carries (API keys: none). */
  scopes?: readonly string[];
  /** API keys meet no resource scope (WSO2 ApiKeyAuthenticator skips resource-level scopes). */
  apiKey?: boolean;
}

/**
 * Why an allow is legitimate, or null when it is not. `creds`: the genuine credentials present in
 * the request; `ctxApi`: context_extensions.api; `path` without query; `clientIp` the trusted client
 * address (x-envoy-external-address, rightmost X-Forwarded-For, source address).
 */
export function explainAllow(
  o: Oracle,
  req: { method: string; path: string; ctxApi: string | undefined; clientIp: string | null },
  creds: AllowedCredential[],
  allowedApplication: string | undefined,
): string | null {
  const normal = oraclePath(req.path);
  const byPath = (p: string) =>
    [...o.apis]
      .sort((a, b) => b.ctx.length - a.ctx.length)
      .find((a) => p === a.ctx || p.startsWith(`${a.ctx}/`));
  let api: Oracle['apis'][number] | undefined;
  if (req.ctxApi) api = o.apis.find((a) => a.id === req.ctxApi || a.ctx === req.ctxApi);
  else {
    api = byPath(normal.path);
    // Envoy routed on the raw path: it must name the same API as the normalised one.
    if (normal.path !== req.path && byPath(req.path) !== api) return null;
  }
  if (!api) return null;
  if (normal.ambiguous && !api.allowAmbiguousPaths) return null;
  if (api.lifecycle !== 'PUBLISHED') return null;
  const path = normal.path;
  const rest = path.startsWith(api.ctx) ? path.slice(api.ctx.length) || '/' : path;
  const method = req.method.toUpperCase();
  const resources = api.resources.filter(
    (r) => (r.method === method || r.method === '*') && templateMatches(r.path, rest),
  );
  if (resources.length === 0) return null;
  if (resources.some((r) => r.auth === 'none')) return 'unsecured resource';
  for (const c of creds) {
    const scoped =
      c.apiKey === true ||
      resources.some((r) => (r.scopes ?? []).length === 0 || r.scopes!.some((x) => c.scopes?.includes(x)));
    if (!scoped) continue;
    if (allowedApplication !== undefined && c.application !== allowedApplication) continue;
    if (c.permittedIPs) {
      const ip = req.clientIp?.replace(/^::ffff:/i, '');
      if (!ip || !c.permittedIPs.includes(ip)) continue;
    }
    if (usableState(o.subs.get(`${c.application}|${api.id}`), c.keyType))
      return `subscription of ${c.application}`;
    if (api.trustClaims && c.claimContexts.includes(api.ctx)) return `claim of ${c.application}`;
  }
  return null;
}

/**
 * The oracle's own reading of a path (written apart from adapter/path.ts): unreserved escapes
 * decoded, then node's posix dot-segment resolution; ambiguous when an encoded slash, backslash,
 * `;`, `%25XX`, a stray `%`, a control character, `//` or an encoded dot segment remains.
 */
export function oraclePath(raw: string): { path: string; ambiguous: boolean } {
  if (!raw.startsWith('/')) return { path: raw, ambiguous: false };
  let ambiguous =
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
    /[\\;\u0000-\u001f\u007f]|%(?![0-9a-f]{2})|%(2f|5c|3b|[01][0-9a-f]|7f)|%25[0-9a-f]{2}/i.test(raw);
  const decoded = raw
    .split('/')
    .map((seg) => {
      const d = seg.replace(/%([0-9a-f]{2})/gi, (m, h: string) => {
        const c = String.fromCharCode(Number.parseInt(h, 16));
        return /[A-Za-z0-9._~-]/.test(c) ? c : m.toUpperCase();
      });
      if ((d === '.' || d === '..') && d !== seg) ambiguous = true;
      return d;
    })
    .join('/');
  if (/\/\//.test(decoded.replace(/\/\.{1,2}(?=\/|$)/g, '/x'))) ambiguous = true;
  return { path: removeDotSegments(decoded), ambiguous };
}

/** RFC 3986 5.2.4 as written there: an input buffer consumed from the left, rules A-E. */
function removeDotSegments(path: string): string {
  let input = path;
  let output = '';
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3);
    else if (input.startsWith('./')) input = input.slice(2);
    else if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../') || input === '/..') {
      input = `/${input.slice(input === '/..' ? 3 : 4)}`;
      output = output.slice(0, Math.max(0, output.lastIndexOf('/')));
    } else if (input === '.' || input === '..') input = '';
    else {
      const next = input.indexOf('/', 1);
      const end = next < 0 ? input.length : next;
      output += input.slice(0, end);
      input = input.slice(end);
    }
  }
  return output;
}

// ---------------------------------------------------------------- request pieces

const CONTEXTS = [
  '/petstore/v1',
  '/files/v1',
  '/legacy/v1',
  '/blocked/v1',
  '/retired/v1',
  '/tiny/v1',
  '/trusted/v1',
  '/petstore',
  '/PETSTORE/v1',
  '',
];
const SEGMENTS = [
  'pets',
  '42',
  'public',
  'admin',
  'limited',
  '..',
  '.',
  '%2e%2e',
  '%2E',
  '%2F',
  '%2f..',
  '',
  ' ',
  'ä',
  '\u0000',
  '\uD800',
  '*',
  '{id}',
  'pets;x=1',
  '..;',
  '%2e',
  '.%2E',
  '%5c',
  '%5C..',
  '%252f',
  '%3b',
  '%00',
  '%61dmin',
  '%70ets',
  '%7e',
  '%zz',
  '%',
  '\\',
];

export const pathArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      '/petstore/v1/pets',
      '/petstore/v1/pets/42',
      '/petstore/v1/pets/42/',
      '/petstore/v1/public',
      '/petstore/v1/admin',
      '/petstore/v1/limited',
      '/tiny/v1/x',
      '/trusted/v1/y',
      '/blocked/v1/z',
      '/pets',
      '/pets/7',
    ),
  },
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...CONTEXTS),
        fc.array(fc.oneof(fc.constantFrom(...SEGMENTS), fc.string({ maxLength: 12 })), { maxLength: 5 }),
        fc.constantFrom('/', '//', '/./', '\\'),
        fc.boolean(),
      )
      .map(
        ([ctx, segs, sep, trailing]) =>
          `${ctx}${segs.length ? sep : ''}${segs.join(sep)}${trailing ? '/' : ''}`,
      ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1_000, max: 60_000 }).map((n) => `/petstore/v1/pets/${'a'.repeat(n)}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '/petstore/v1/pets/../admin',
      '/petstore/v1/%2e%2e/pets',
      '/petstore/v1/pets%2F42',
      '//petstore/v1/pets',
      '/petstore/v1//pets',
      '/petstore/v1/pets/42/',
      '*',
      'petstore/v1/pets',
      // Issue 19 item 1: each names another resource or API for an upstream that decodes, merges or strips.
      '/petstore/v1/pets/..%2f..%2f..%2fadmin%2fv1%2fsecret',
      '/files/v1/..;/..;/petstore/v1/admin',
      '/files/v1/../../petstore/v1/admin',
      '/files/v1/%2e%2e/%2e%2e/petstore/v1/admin',
      '/files/v1/..%5c..%5cpetstore/v1/admin',
      '/files/v1/%252e%252e/%252e%252e/petstore/v1/admin',
      '/petstore/v1/%61dmin',
      '/petstore/v1//admin',
      '/petstore/v1/pets/../admin',
      '/petstore/v1/pets/..',
      '/legacy/v1/a%2fb',
      '/legacy/v1/../../petstore/v1/admin',
      '/%70etstore/v1/pets',
    ),
  },
);

export const methodArb = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'get', 'PUT', 'DELETE', 'OPTIONS', 'HEAD'),
  },
  { weight: 1, arbitrary: fc.constantFrom('', '*', 'G\u0000ET', 'ge t') },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
);

/** A credential string: one from the pool as is, mutated, or junk. */
export function tokenArb(pool: readonly string[]): fc.Arbitrary<string> {
  const pick = fc.constantFrom(...pool);
  return fc.oneof(
    { weight: 4, arbitrary: pick },
    { weight: 1, arbitrary: pick.chain((t) => fc.nat({ max: t.length }).map((n) => t.slice(0, n))) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(pick, fc.nat(), fc.constantFrom('A', '_', '-', '.', '=', '%', '\u00ff'))
        .map(([t, at, c]) => {
          const i = at % Math.max(1, t.length);
          return `${t.slice(0, i)}${c}${t.slice(i + 1)}`;
        }),
    },
    { weight: 1, arbitrary: pick.map((t) => t.split('.').slice(0, 2).join('.')) },
    { weight: 1, arbitrary: pick.map((t) => `${t}.${t.split('.')[2] ?? ''}`) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'Bearer x', '...', 'eyJ.eyJ.', 'e30.e30.e30') },
    { weight: 1, arbitrary: fc.integer({ min: 10_000, max: 100_000 }).map((n) => 'eyJ'.padEnd(n, 'A')) },
  );
}

const headerNameArb = fc.oneof(
  fc.constantFrom(
    'apikey',
    'APIKEY',
    'Apikey',
    'authorization',
    'referer',
    'x-mesh-apim-application-name',
    'x-mesh-apim-api-id',
    ':path',
    ':authority',
    'host',
    'user-agent',
    'x-request-id',
    'x-forwarded-for',
    '',
  ),
  fc.string({ maxLength: 20 }),
);
const headerValueArb = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'x'.repeat(n)) },
);

export interface FuzzCase {
  proto: ProtoCheckRequest & Record<string, unknown>;
}

/** A CheckRequest as Envoy might send it (or worse): fields missing, headers odd, bytes not UTF-8. */
export function protoArb(pool: readonly string[]): fc.Arbitrary<ProtoCheckRequest> {
  const token = tokenArb(pool);
  const query = fc.oneof(
    fc.constant(''),
    token.map((t) => `?apikey=${encodeURIComponent(t)}`),
    token.map((t) => `?a=1&apikey=${t}&apikey=x`),
    fc.string({ maxLength: 30 }).map((s) => `?${s}`),
    fc.constant('#frag?apikey=x'),
  );
  const headers = fc
    .tuple(fc.option(token, { nil: undefined }), fc.dictionary(headerNameArb, headerValueArb, { maxKeys: 6 }))
    .map(([t, h]) => ({ ...h, ...(t !== undefined ? { apikey: t } : {}) }));
  const headerMap = fc.array(
    fc.record(
      {
        key: headerNameArb,
        value: fc.option(fc.oneof(headerValueArb, token), { nil: undefined }),
        raw_value: fc.option(
          fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
          { nil: undefined },
        ),
      },
      { requiredKeys: ['key'] },
    ),
    { maxLength: 3 },
  );
  const http = fc.record(
    {
      id: fc.string({ maxLength: 8 }),
      method: methodArb,
      path: fc.tuple(pathArb, query).map(([p, q]) => p + q),
      host: fc.oneof(fc.constant('api.example.com'), fc.string({ maxLength: 20 })),
      headers,
      header_map: headerMap.map((headers) => ({ headers })),
      query: fc.string({ maxLength: 20 }),
    },
    { requiredKeys: [] },
  );
  const source = fc.option(
    fc.record({
      address: fc.option(
        fc.record({
          socket_address: fc.record({
            address: fc.oneof(
              fc.constantFrom('10.1.2.3', '127.0.0.1', '::ffff:10.1.2.3', '::1', '', 'not-an-ip'),
              fc.ipV4(),
              fc.string({ maxLength: 10 }),
            ),
            port_value: fc.nat({ max: 65535 }),
          }),
        }),
        { nil: null },
      ),
    }),
    { nil: undefined },
  );
  const contextExtensions = fc.option(
    fc.dictionary(
      fc.constantFrom('api', 'x', ''),
      fc.oneof(
        fc.constantFrom('petstore-v1', '/petstore/v1', 'trusted-v1', 'blocked-v1', 'nope', ''),
        fc.string({ maxLength: 10 }),
      ),
      { maxKeys: 2 },
    ),
    { nil: undefined },
  );
  return fc.oneof(
    {
      weight: 12,
      arbitrary: fc
        .record(
          {
            source,
            request: fc.option(fc.record({ http: fc.option(http, { nil: null }) }), { nil: null }),
            context_extensions: contextExtensions,
          },
          { requiredKeys: ['request'] },
        )
        .map((attributes) => ({ attributes }) as ProtoCheckRequest),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<ProtoCheckRequest>(
        {},
        { attributes: null },
        { attributes: {} },
        { attributes: { request: {} } },
      ),
    },
  );
}

/** Domain-level request (for decide() directly): as translate.ts would produce, but unconstrained. */
export function domainRequestArb(): fc.Arbitrary<CheckRequest> {
  return fc
    .record({
      requestId: fc.string({ maxLength: 8 }),
      method: methodArb,
      host: fc.string({ maxLength: 10 }),
      path: pathArb,
      queryEntries: fc.array(
        fc.tuple(
          fc.constantFrom('apikey', '%61pikey', 'api%6Bey', 'APIKEY', 'a', ''),
          fc.array(fc.string({ maxLength: 8 }), { maxLength: 2 }),
        ),
        { maxLength: 3 },
      ),
      headers: fc.dictionary(headerNameArb, headerValueArb, { maxKeys: 4 }),
      clientIp: fc.option(
        fc.oneof(
          fc.constantFrom('10.1.2.3', '::ffff:10.1.2.3', '::1'),
          fc.ipV4(),
          fc.string({ maxLength: 8 }),
        ),
        { nil: null },
      ),
      contextExtensions: fc.oneof(
        fc.constant({}),
        fc.record({
          api: fc.oneof(
            fc.constantFrom(
              'petstore-v1',
              '/petstore/v1',
              'trusted-v1',
              'tiny-v1',
              'blocked-v1',
              'retired-v1',
            ),
            fc.string({ maxLength: 8 }),
          ),
        }),
      ),
      receivedAt: fc.constant(0),
    })
    .map(({ queryEntries, ...rest }): CheckRequest => {
      // As translate.ts builds them: decoded names, and each decoded name's raw spellings.
      const query = new Map<string, string[]>();
      const rawQueryNames = new Map<string, string[]>();
      for (const [raw, values] of queryEntries) {
        const name = decodeURIComponent(raw);
        query.set(name, [...(query.get(name) ?? []), ...values]);
        const spellings = rawQueryNames.get(name) ?? [];
        if (!spellings.includes(raw)) spellings.push(raw);
        rawQueryNames.set(name, spellings);
      }
      return { ...rest, query, rawQueryNames };
    });
}

/** Any credential result the chain could hand decide(), including valid ones for unknown apps. */
export function credentialArb(o: Oracle): fc.Arbitrary<CredentialResult> {
  const strip = { headers: ['apikey'], queryParams: ['apikey'] };
  const appId = fc.oneof(fc.constantFrom(...o.applications), fc.string({ maxLength: 10 }));
  const valid = fc
    .record({
      id: appId,
      altId: fc.option(appId, { nil: undefined }),
      keyType: fc.constantFrom('PRODUCTION', 'SANDBOX') as fc.Arbitrary<'PRODUCTION' | 'SANDBOX'>,
      scopes: fc.subarray(['admin', 'read', '']),
      jti: fc.option(fc.string({ maxLength: 6 }), { nil: null }),
      subscribedApis: fc.option(
        fc.array(
          fc.record({
            context: fc.constantFrom(...o.apis.map((a) => a.ctx), '/x/v1'),
            version: fc.constantFrom('v1', 'v2'),
            subscriptionTier: fc.constantFrom('Gold', 'Unlimited', 'Nope', ''),
          }),
          { maxLength: 2 },
        ),
        { nil: null },
      ),
      permittedIPs: fc.option(
        fc.array(fc.constantFrom('10.1.2.3', '127.0.0.1', '::1'), { minLength: 1, maxLength: 2 }),
        { nil: null },
      ),
    })
    .map(
      (v): CredentialResult => ({
        status: 'valid',
        type: 'apikey',
        application: { by: 'id', id: v.id, ...(v.altId !== undefined ? { altId: v.altId } : {}) },
        keyType: v.keyType,
        scopes: v.scopes,
        jti: v.jti,
        subject: 'fuzz@carbon.super',
        issuer: 'fuzz',
        issuedAt: null,
        expiresAt: null,
        subscribedApis:
          v.subscribedApis?.map((s) => ({ name: 'x', publisher: 'x', subscriberTenantDomain: 'x', ...s })) ??
          null,
        tierInfo: null,
        restrictions: { permittedIPs: v.permittedIPs, permittedReferers: null },
        strip,
      }),
    );
  return fc.oneof(
    fc.constant<CredentialResult>({ status: 'missing', type: 'none' }),
    fc.constant<CredentialResult>({ status: 'missing', type: 'apikey' }),
    fc
      .constantFrom('MALFORMED', 'SIGNATURE_INVALID')
      .map((reason): CredentialResult => ({ status: 'invalid', type: 'apikey', reason, strip })),
    fc.constant<CredentialResult>({ status: 'expired', type: 'apikey', jti: null, strip }),
    { weight: 4, arbitrary: valid },
  );
}

// ---------------------------------------------------------------- response shape

const KNOWN_CODES = new Set(Object.values(WSO2_ERRORS).map((e) => e.code));
const RPC_CODES = new Set([0, 5, 7, 8, 14, 16]);

/**
 * Throws unless `res` is a well-formed CheckResponse: a known google.rpc code; allow = ok_response only;
 * deny = denied_response with an HTTP status, a JSON content type and WSO2's {code,message,description} body.
 * Returns the HTTP status and, on allow, the upstream headers set.
 */
export function assertWellFormed(res: Record<string, unknown>): {
  allowed: boolean;
  httpStatus: number;
  set: Record<string, string>;
} {
  const status = res.status as { code?: number } | null | undefined;
  const code = status?.code ?? 0;
  if (!RPC_CODES.has(code)) throw new Error(`unexpected rpc status ${code}`);
  const ok = res.ok_response as { headers?: { header: { key: string; value: string } }[] } | null | undefined;
  const denied = res.denied_response as
    | {
        status?: { code?: number | string };
        headers?: { header: { key: string; value: string } }[];
        body?: string;
      }
    | null
    | undefined;
  if (code === 0) {
    if (denied) throw new Error('allow with a denied_response');
    const set: Record<string, string> = {};
    for (const h of ok?.headers ?? []) set[h.header.key] = h.header.value;
    return { allowed: true, httpStatus: 200, set };
  }
  if (!denied) throw new Error(`deny (rpc ${code}) without denied_response`);
  if (ok) throw new Error('deny with an ok_response');
  const http = denied.status?.code;
  const httpStatus = typeof http === 'number' ? http : decodeCheckResponse(res).httpStatus;
  if (!(httpStatus >= 400 && httpStatus < 600)) throw new Error(`denied HTTP status ${String(http)}`);
  const ct = denied.headers?.find((h) => h.header.key === 'content-type')?.header.value ?? '';
  if (!ct.startsWith('application/json')) throw new Error(`denied content-type ${ct}`);
  const body = JSON.parse(denied.body ?? '') as Record<string, unknown>;
  for (const k of ['code', 'message', 'description'])
    if (typeof body[k] !== 'string' || body[k] === '')
      throw new Error(`WSO2 body without ${k}: ${denied.body}`);
  if (!KNOWN_CODES.has(Number(body.code))) throw new Error(`unknown WSO2 code ${String(body.code)}`);
  return { allowed: false, httpStatus, set: {} };
}

const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Another spelling of the same signed token (what jose decodes to the same bytes): the signature's
 * last character with other unused low bits, and ASCII whitespace inserted inside the signature.
 * `ws` restricts the whitespace (a header value carries no CR/LF).
 */
export function spellingArb(token: string, ws: readonly string[] = [' ', '\t', '\n', '\f', '\r']) {
  const cut = token.lastIndexOf('.') + 1;
  const sig = token.slice(cut);
  const unused = [0, 0, 4, 2][sig.length % 4]!;
  return fc
    .tuple(
      fc.nat({ max: (1 << unused) - 1 }),
      fc.array(fc.tuple(fc.nat({ max: sig.length - 1 }), fc.constantFrom(...ws)), { maxLength: 6 }),
    )
    .map(([low, inserts]) => {
      const last = B64URL_ALPHABET.indexOf(sig.at(-1)!);
      let s = sig.slice(0, -1) + B64URL_ALPHABET[(last & ~((1 << unused) - 1)) | low];
      // Inserted from the right so each position refers to the original signature; never at 0
      // (leading whitespace would be trimmed as a header's, which is not what this exercises).
      for (const [at, c] of [...inserts].sort((a, b) => b[0] - a[0]))
        s = s.slice(0, at + 1) + c + s.slice(at + 1);
      return token.slice(0, cut) + s;
    });
}

/** An IPv6 address inside the /64 of `prefix` (four hex groups), in any of its textual forms. */
export function ipv6In64Arb(prefix: readonly number[]) {
  const group = fc.integer({ min: 0, max: 0xffff });
  return fc
    .tuple(fc.tuple(group, group, group, group), fc.boolean(), fc.boolean())
    .map(([iid, upper, pad]) => {
      const groups = [...prefix, ...iid].map((g) => {
        const h = g.toString(16);
        const p = pad ? h.padStart(4, '0') : h;
        return upper ? p.toUpperCase() : p;
      });
      // Compress the longest run of zero groups the way RFC 5952 does (or not, when pad is set).
      const text = groups.join(':');
      return pad ? text : text.replace(/(^|:)0(:0)+(:|$)/, '::');
    });
}
