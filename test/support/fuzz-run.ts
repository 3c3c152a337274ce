/**
 * The fuzz properties, shared by the unit test (bounded) and `npm run bench -- fuzz` (long run):
 * decide() directly, the whole CheckService in process, and the real server over loopback with the
 * real grpc-js client. Each property asserts no throw, a well-formed CheckResponse and that every
 * allow is explained by the YAML-derived oracle (explainAllow), never by asking decide().
 */
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { decide } from '../../adapter/decide.ts';
import { toCheckResponse } from '../../adapter/response.ts';
import { ThrottleState } from '../../adapter/throttle.ts';
import type { ProtoCheckRequest } from '../../adapter/translate.ts';
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
import { hs256WithPublicKey, otherRsaKey, signRs256, unsignedToken, wso2Claims } from './keys.ts';

export interface FuzzHarness {
  t: TestAdapter;
  oracle: Oracle;
  /** Canonical form (decoded parts) of each genuine, currently valid credential -> what it grants. */
  genuine: Map<string, AllowedCredential>;
  /** Every credential string handed to the generators: genuine and forged. */
  pool: string[];
  /** Forged credentials by case name (each must be 401 900901 or 900903 end to end). */
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

export async function startFuzzHarness(): Promise<FuzzHarness> {
  const yaml = readFileSync(FUZZ_POLICIES, 'utf8');
  const oracle = oracleFromYaml(yaml);
  const t = await startTestAdapter({ yaml });
  const key = t.adapter.signingKey!;
  const now = t.clock.now();
  const genuine = new Map<string, AllowedCredential>();
  const pool: string[] = [];
  const add = (token: string, cred: Omit<AllowedCredential, 'claimContexts'>) => {
    genuine.set(canonical(token)!, { ...cred, claimContexts: claimContexts(token) });
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
    ['no exp', await signRs256(key.privateKey, key.kid, wso2Claims(now, { exp: undefined })), '900901'],
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
    ['expired', await t.apiKey('demo-app', { now: now - 7_200_000, validitySeconds: 60 }), '900903'],
    [
      'not yet valid (nbf)',
      await signRs256(key.privateKey, key.kid, wso2Claims(now, { nbf: Math.floor(now / 1000) + 3600 })),
      '900901',
    ],
  ];
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
  const raw = http.path || headers[':path'] || '/';
  const path = raw.split('#')[0]!.split('?')[0] || '/';
  return {
    method: http.method || headers[':method'] || 'GET',
    path,
    ctxApi: p.attributes?.context_extensions?.api || undefined,
    clientIp: p.attributes?.source?.address?.socket_address?.address || null,
  };
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
      if (shape.allowed) checkAllowed(hx, oracleRequest(p), genuineIn(hx, protoStrings(p)), shape.set, p);
    }),
    { numRuns: o.serviceRuns, ...seed },
  );

  await fc.assert(
    fc.asyncProperty(proto, async (p) => {
      counts.grpc++;
      const res = await hx.t.client.raw(p as Record<string, unknown>);
      const shape = assertWellFormed(res);
      tally(shape.allowed);
      if (shape.allowed) checkAllowed(hx, oracleRequest(p), genuineIn(hx, protoStrings(p)), shape.set, p);
    }),
    { numRuns: o.grpcRuns, ...seed },
  );
  return counts;
}
