/**
 * The fuzz properties, shared by the unit test (bounded) and `npm run bench -- fuzz` (long run):
 * decide() directly, the whole CheckService in process, and the real server over loopback with the
 * real grpc-js client. Each property asserts no throw, a well-formed CheckResponse and that every
 * allow is explained by the YAML-derived oracle (explainAllow), never by asking decide().
 */
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { clientIpOf } from '../../adapter/client-ip.ts';
import { decide } from '../../adapter/policy/decide.ts';
import { ThrottleState } from '../../adapter/policy/throttle.ts';
import { toCheckResponse } from '../../adapter/response.ts';
import type { ProtoCheckRequest } from '../../adapter/translate.ts';
import type { TransportKind } from '../../adapter/transport/types.ts';
import { startTestAdapter, type TestAdapter } from './adapter.ts';
import {
  type AllowedCredential,
  assertWellFormed,
  credentialArb,
  domainRequestArb,
  explainAllow,
  FUZZ_POLICIES,
  type Oracle,
  oracleFromYaml,
  protoArb,
} from './fuzz.ts';
import {
  hs256WithPublicKey,
  otherRsaKey,
  signRs256,
  signRs256Raw,
  unsignedToken,
  wso2Claims,
} from './keys.ts';

export interface FuzzHarness {
  t: TestAdapter;
  oracle: Oracle;
  /** Canonical form (decoded parts) of each genuine, currently valid credential -> what it grants. */
  genuine: Map<string, AllowedCredential>;
  /** Every credential string handed to the generators: genuine and forged. */
  pool: string[];
  /** Forged credentials by case name (each must be 401 900901 end to end). */
  forged: [string, string, string][];
  close(): Promise<void>;
}

/** Every run of three dot-separated base64url parts in `s` (linear: no backtracking regex on huge values). */
function jwtLike(s: string): string[] {
  const out: string[] = [];
  for (const piece of s.split(/[^A-Za-z0-9_.-]+/)) {
    const parts = piece.split('.');
    for (let i = 0; i + 3 <= parts.length; i++) out.push(parts.slice(i, i + 3).join('.'));
  }
  return out;
}

function canonical(token: string): string | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  return parts.map((p) => Buffer.from(p, 'base64url').toString('hex')).join('.');
}

function claimContexts(token: string): string[] {
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
    subscribedAPIs?: { context: string; version: string }[];
  };
  return (payload.subscribedAPIs ?? [])
    .filter((s) => s.context.endsWith(`/${s.version}`))
    .map((s) => s.context);
}

export async function startFuzzHarness(transport?: TransportKind): Promise<FuzzHarness> {
  const yaml = readFileSync(FUZZ_POLICIES, 'utf8');
  const oracle = oracleFromYaml(yaml);
  const t = await startTestAdapter({ yaml, ...(transport ? { transport } : {}) });
  const key = t.adapter.signingKey!;
  const now = t.clock.now();
  const genuine = new Map<string, AllowedCredential>();
  const pool: string[] = [];
  const add = (token: string, cred: Omit<AllowedCredential, 'claimContexts'>) => {
    genuine.set(canonical(token)!, { ...cred, apiKey: true, claimContexts: claimContexts(token) });
    pool.push(token);
  };
  for (const app of oracle.applications)
    add(await t.apiKey(app), { application: app, keyType: 'PRODUCTION' });
  for (const app of ['demo-app', 'prodonly-app'])
    add(await t.apiKey(app, { keyType: 'SANDBOX' }), { application: app, keyType: 'SANDBOX' });
  add(await t.apiKey('demo-app', { permittedIP: '10.1.2.3' }), {
    application: 'demo-app',
    keyType: 'PRODUCTION',
    permittedIPs: ['10.1.2.3'],
  });
  // A key from "API Manager" (same trusted key) whose claim names the trust-claims API.
  const claimsApp = {
    id: 'claims-app',
    uuid: 'claims-app',
    name: 'claims-app',
    tier: 'Unlimited',
    owner: 'x',
  };
  add(
    await signRs256(
      key.privateKey,
      key.kid,
      wso2Claims(now, {
        application: claimsApp,
        subscribedAPIs: [
          { name: 'trusted', context: '/trusted/v1', version: 'v1', subscriptionTier: 'Gold' },
        ],
      }),
    ),
    { application: 'claims-app', keyType: 'PRODUCTION' },
  );
  const good = pool[0]!;
  const [h, , s] = good.split('.');
  const forged: [string, string, string][] = [
    ['garbage', 'not-a-jwt', '900901'],
    ['alg none', unsignedToken(key.kid, wso2Claims(now)), '900901'],
    [
      'HS256 with the RSA public key as secret',
      hs256WithPublicKey(key.publicPem, key.kid, wso2Claims(now)),
      '900901',
    ],
    ['unknown kid', await signRs256(otherRsaKey(), 'someone-else', wso2Claims(now)), '900901'],
    ['known kid, another key', await signRs256(otherRsaKey(), key.kid, wso2Claims(now)), '900901'],
    // Keys without exp are accepted (WSO2's rule); forged ones still are not.
    [
      'no exp, another key',
      await signRs256(otherRsaKey(), key.kid, wso2Claims(now, { exp: undefined })),
      '900901',
    ],
    ['no exp, alg none', unsignedToken(key.kid, wso2Claims(now, { exp: undefined })), '900901'],
    ['no jti', await signRs256(key.privateKey, key.kid, wso2Claims(now, { jti: undefined })), '900901'],
    [
      'wrong keytype',
      await signRs256(key.privateKey, key.kid, wso2Claims(now, { keytype: 'ADMIN' })),
      '900901',
    ],
    [
      'not an API key',
      await signRs256(key.privateKey, key.kid, wso2Claims(now, { token_type: 'InternalKey' })),
      '900901',
    ],
    ['wrong issuer', await signRs256(key.privateKey, key.kid, wso2Claims(now, { iss: 'evil' })), '900901'],
    [
      'no application',
      await signRs256(key.privateKey, key.kid, wso2Claims(now, { application: 'demo-app' })),
      '900901',
    ],
    [
      'tampered payload',
      `${h}.${Buffer.from(JSON.stringify(wso2Claims(now))).toString('base64url')}.${s}`,
      '900901',
    ],
    ['signature stripped', `${h}.${good.split('.')[1]}.`, '900901'],
    [
      'forged signature of the right length',
      `${h}.${good.split('.')[1]}.${Buffer.alloc(256, 0x5a).toString('base64url')}`,
      '900901',
    ],
    ['whitespace inside the signed part', `${h} .${good.split('.')[1]}.${s}`, '900901'],
    ['a signature character outside base64url', `${good.slice(0, -3)}+${good.slice(-2)}`, '900901'],
    ['truncated signature', good.slice(0, -10), '900901'],
    // An expired API key is 900901 in WSO2 (ApiKeyAuthenticator), not 900903.
    ['expired', await t.apiKey('demo-app', { now: now - 7_200_000, validitySeconds: 60 }), '900901'],
    [
      'not yet valid (nbf)',
      await signRs256(key.privateKey, key.kid, wso2Claims(now, { nbf: Math.floor(now / 1000) + 3600 })),
      '900901',
    ],
  ];
  // Issue 19 items 3, 8, 9: genuinely signed keys whose claims are of an unexpected type or hostile.
  const demo = { id: 'demo-app', uuid: 'demo-app', name: 'demo-app', tier: 'Unlimited', owner: 'x' };
  const typed: [string, Record<string, unknown>][] = [
    ['permittedIP as an array', { permittedIP: ['10.9.9.1'] }],
    ['permittedIP null', { permittedIP: null }],
    ['permittedIP /-0 (aborted the process)', { permittedIP: '10.9.9.1/-0' }],
    ['permittedIP v6 /-0', { permittedIP: '2001:db8::1/-0' }],
    ['permittedIP empty prefix (allowed everyone)', { permittedIP: '10.9.9.1/' }],
    ['permittedIP blank prefix', { permittedIP: '10.9.9.1/ ' }],
    ['permittedIP with a junk entry', { permittedIP: '10.1.2.3,not-an-ip' }],
    ['permittedIP too many entries', { permittedIP: Array(101).fill('10.1.2.3').join(',') }],
    ['permittedReferer as an array', { permittedReferer: ['www.example.com/*'] }],
    ['permittedReferer oversize', { permittedReferer: `${'a*'.repeat(5000)}c` }],
    ['token_type as an array', { token_type: ['apiKey'] }],
    ['sub as an array', { sub: ['demo@carbon.super'] }],
    ['iat as a string', { iat: String(Math.floor(now / 1000)) }],
    ['application tier as an array', { application: { ...demo, tier: ['Gold'] } }],
    ['application as an array', { application: [demo] }],
    ['subscribedAPIs as an object', { subscribedAPIs: { context: '/trusted/v1' } }],
    [
      'subscribedAPIs tier as an object',
      { subscribedAPIs: [{ context: '/trusted/v1', version: 'v1', subscriptionTier: {} }] },
    ],
    ['tierInfo spikeArrestLimit as a string', { tierInfo: { Gold: { spikeArrestLimit: '1' } } }],
    ['tierInfo as an array', { tierInfo: [] }],
  ];
  for (const [name, overrides] of typed)
    forged.push([name, await signRs256(key.privateKey, key.kid, wso2Claims(now, overrides)), '900901']);
  for (const [claim, text] of [
    ['exp', '1e309'],
    ['iat', '1e309'],
    ['exp', '1e300'],
  ] as const) {
    const json = JSON.stringify(wso2Claims(now)).replace(new RegExp(`"${claim}":\\d+`), `"${claim}":${text}`);
    forged.push([`${claim}: ${text}`, signRs256Raw(key.privateKey, key.kid, json), '900901']);
  }
  pool.push(...forged.map(([, token]) => token));
  return {
    t,
    oracle,
    genuine,
    pool,
    forged,
    close: () => t.close(),
  };
}

/** Genuine credentials present anywhere in the strings (header values, path, query). */
function genuineIn(hx: FuzzHarness, strings: Iterable<string>): AllowedCredential[] {
  const out: AllowedCredential[] = [];
  for (const s of strings) {
    for (const m of jwtLike(s)) {
      const c = canonical(m);
      const g = c ? hx.genuine.get(c) : undefined;
      if (g) out.push(g);
    }
  }
  return out;
}

function protoStrings(p: ProtoCheckRequest): string[] {
  const http = p.attributes?.request?.http;
  if (!http) return [];
  const out = [http.path ?? '', http.query ?? ''];
  for (const v of Object.values(http.headers ?? {})) out.push(v);
  for (const h of http.header_map?.headers ?? []) {
    out.push(h.value ?? '');
    if (h.raw_value) out.push(Buffer.from(h.raw_value).toString('utf8'));
  }
  // The adapter URL-decodes the query: so does the oracle.
  for (const s of [...out]) {
    try {
      out.push(decodeURIComponent(s));
    } catch {
      /* not percent-encoded text */
    }
  }
  return out;
}

function oracleRequest(p: ProtoCheckRequest) {
  const http = p.attributes?.request?.http ?? {};
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(http.headers ?? {})) headers[k.toLowerCase()] = v;
  for (const h of http.header_map?.headers ?? []) {
    if (!h.key) continue;
    const k = h.key.toLowerCase();
    const v =
      h.raw_value && h.raw_value.length > 0 ? Buffer.from(h.raw_value).toString('utf8') : (h.value ?? '');
    headers[k] = headers[k] !== undefined ? `${headers[k]},${v}` : v;
  }
  const raw = http.path || headers[':path'] || '/';
  const path = raw.split('#')[0]!.split('?')[0] || '/';
  return {
    method: http.method || headers[':method'] || 'GET',
    path,
    ctxApi: p.attributes?.context_extensions?.api || undefined,
    // The trusted client address (adapter/client-ip.ts, unit-tested on its own), default 0 hops.
    clientIp: clientIpOf(headers, p.attributes?.source?.address?.socket_address?.address || null),
  };
}

/**
 * On an allow, no API key carrier survives for the upstream: every raw query name that decodes to
 * `apikey` is in query_parameters_to_remove, and an `apikey` header (any ASCII case) in headers_to_remove.
 */
export function assertCredentialsRemoved(p: ProtoCheckRequest, res: Record<string, unknown>): void {
  const ok = res.ok_response as { headers_to_remove?: string[]; query_parameters_to_remove?: string[] };
  const http = p.attributes?.request?.http ?? {};
  const raw = (http.path ?? '').split('#')[0]!;
  const query = raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : (http.query ?? '');
  for (const piece of query.split('&')) {
    if (piece === '') continue;
    const [name] = [...new URLSearchParams(piece).keys()];
    const rawName = piece.includes('=') ? piece.slice(0, piece.indexOf('=')) : piece;
    if (name === 'apikey' && !ok.query_parameters_to_remove?.includes(rawName))
      throw new Error(`allowed with the query parameter ${rawName} (apikey) left for the upstream`);
  }
  const names = [
    ...Object.keys(http.headers ?? {}),
    ...(http.header_map?.headers ?? []).map((h) => h.key ?? ''),
  ];
  if (names.some((n) => n.replace(/[A-Z]/g, (c) => c.toLowerCase()) === 'apikey')) {
    if (!ok.headers_to_remove?.includes('apikey')) throw new Error('allowed with the apikey header left');
  }
}

function checkAllowed(
  hx: FuzzHarness,
  req: ReturnType<typeof oracleRequest>,
  creds: AllowedCredential[],
  set: Record<string, string>,
  what: unknown,
): void {
  const why = explainAllow(hx.oracle, req, creds, set['x-mesh-apim-application-id']);
  if (!why)
    throw new Error(
      `allowed without a valid credential and subscription: ${JSON.stringify(what).slice(0, 2000)}`,
    );
}

export interface FuzzCounts {
  decide: number;
  service: number;
  grpc: number;
  allowed: number;
  denied: number;
}

export interface FuzzRunOptions {
  decideRuns: number;
  serviceRuns: number;
  grpcRuns: number;
  seed?: number;
}

/** Runs the three properties; throws (fast-check's report) on the first counterexample. */
export async function runFuzz(hx: FuzzHarness, o: FuzzRunOptions): Promise<FuzzCounts> {
  const counts: FuzzCounts = { decide: 0, service: 0, grpc: 0, allowed: 0, denied: 0 };
  const tally = (allowed: boolean) => (allowed ? counts.allowed++ : counts.denied++);
  const snapshot = hx.t.adapter.store.current()!;
  const throttle = new ThrottleState(10_000);
  const seed = o.seed !== undefined ? { seed: o.seed } : {};

  fc.assert(
    fc.property(domainRequestArb(), credentialArb(hx.oracle), (request, credential) => {
      counts.decide++;
      const decision = decide({ request, credential }, snapshot, hx.t.clock, { throttle });
      const shape = assertWellFormed(toCheckResponse(decision, null) as unknown as Record<string, unknown>);
      tally(shape.allowed);
      if (!shape.allowed) return;
      if (decision.kind === 'allow') {
        // Every raw spelling of the credential's query parameter is removed (Envoy removes by raw name).
        for (const raw of request.rawQueryNames.get('apikey') ?? [])
          if (!decision.queryParamsToRemove.includes(raw))
            throw new Error(`allowed with the apikey parameter spelled ${raw} left for the upstream`);
      }
      const creds: AllowedCredential[] = [];
      if (credential.status === 'valid') {
        const ref = credential.application as { id: string; altId?: string };
        const claims = (credential.subscribedApis ?? [])
          .filter((s) => s.context.endsWith(`/${s.version}`))
          .map((s) => s.context);
        for (const application of [ref.id, ...(ref.altId ? [ref.altId] : [])]) {
          creds.push({
            application,
            keyType: credential.keyType,
            claimContexts: claims,
            permittedIPs: credential.restrictions.permittedIPs,
            scopes: credential.scopes,
            apiKey: credential.type === 'apikey',
          });
        }
      }
      checkAllowed(
        hx,
        {
          method: request.method,
          path: request.path,
          ctxApi: request.contextExtensions.api || undefined,
          clientIp: request.clientIp,
        },
        creds,
        shape.set,
        { request: { ...request, query: [...request.query] }, credential },
      );
    }),
    { numRuns: o.decideRuns, ...seed },
  );

  const proto = protoArb(hx.pool);
  await fc.assert(
    fc.asyncProperty(proto, async (p) => {
      counts.service++;
      const { response } = await hx.t.adapter.check.evaluate(structuredClone(p));
      const shape = assertWellFormed(response as unknown as Record<string, unknown>);
      tally(shape.allowed);
      if (shape.allowed) {
        checkAllowed(hx, oracleRequest(p), genuineIn(hx, protoStrings(p)), shape.set, p);
        assertCredentialsRemoved(p, response as unknown as Record<string, unknown>);
      }
    }),
    { numRuns: o.serviceRuns, ...seed },
  );

  await fc.assert(
    fc.asyncProperty(proto, async (p) => {
      counts.grpc++;
      const res = await hx.t.client.raw(p as Record<string, unknown>);
      const shape = assertWellFormed(res);
      tally(shape.allowed);
      if (shape.allowed) {
        checkAllowed(hx, oracleRequest(p), genuineIn(hx, protoStrings(p)), shape.set, p);
        assertCredentialsRemoved(p, res);
      }
    }),
    { numRuns: o.grpcRuns, ...seed },
  );
  return counts;
}
