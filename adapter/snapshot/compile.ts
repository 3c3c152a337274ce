/**
 * Pure compile step: validated ControlPlaneData -> Snapshot. Resolves references (subscriptions to
 * APIs/applications, policy names); an entry with a problem is recorded and skipped, so one pass
 * finds every problem, and the SnapshotError thrown at the end carries all of them (`problems`).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { z } from 'zod';
import { errorMessage } from '../../common/errors.ts';
import { type ApiClientCertificate, compileClientCertificate, mutualTlsMode } from '../credentials/mtls.ts';
import { SnapshotError } from '../errors.ts';
import { ControlPlaneData, type ControlPlaneInput } from './model.ts';
import {
  DEFAULT_API_POLICIES,
  DEFAULT_APPLICATION_POLICIES,
  DEFAULT_SUBSCRIPTION_POLICIES,
} from './tiers.ts';
import {
  type ApiEntry,
  type ApplicationEntry,
  type KeyMappingEntry,
  keyMappingKey,
  type Quota,
  type ResourceEntry,
  type SimplePolicy,
  type Snapshot,
  type SubscriptionEntry,
  type SubscriptionPolicy,
  subscriptionKey,
  type TimeUnit,
  type TrustedKey,
} from './types.ts';

const UNIT_MS: Record<TimeUnit, number> = { sec: 1000, min: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Formats zod issues as `origin: path: problem; ...`. */
export function formatIssues(origin: string, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map(
      (i) =>
        `${origin}: ${
          i.path
            .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
            .join('')
            .replace(/^\./, '') || '(root)'
        }: ${i.message}`,
    )
    .join('; ');
}

/** Validates raw data (e.g. parsed YAML) into ControlPlaneData; throws SnapshotError naming the path. */
export function parseControlPlaneData(raw: unknown, origin: string): ControlPlaneData {
  const result = ControlPlaneData.safeParse(raw ?? {});
  if (!result.success) {
    const first = result.error.issues[0];
    const path = first
      ? first.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
          .join('')
          .replace(/^\./, '')
      : '';
    throw new SnapshotError(`${origin}${path ? `: ${path}` : ''}`, first?.message ?? 'invalid', {
      cause: new Error(formatIssues(origin, result.error.issues)),
    });
  }
  return result.data;
}

export interface CompileOptions {
  source: string;
  /** Keys trusted besides the data's keyIssuers (the standalone issuer's own key). */
  extraKeys?: readonly TrustedKey[];
  /**
   * Location of each list entry by index, e.g. origins.apis[3] = 'standalone.d/orders.yaml: apis[0]',
   * for error messages when the data was merged from several files. Default: `<source>: <list>[i]`.
   */
  origins?: Partial<Record<OriginList, readonly string[]>>;
  /**
   * Index applications by name too (default true). API Manager names are unique per subscriber
   * only (every user has a DefaultApplication), so its source refers to applications by id.
   */
  applicationNamesAreKeys?: boolean;
}

export type OriginList = 'apis' | 'applications' | 'subscriptions' | 'keyMappings' | 'keyIssuers';

/** The context of unversioned calls to the default version: without the version segment. */
export function unversionedContext(context: string): string {
  const c = context.replace(/\/+$/, '');
  return c.includes('{version}') ? c.replace(/\/?\{version\}/, '') || '/' : c || '/';
}

export function versionedContext(context: string, version: string): string {
  const c = context.replace(/\/+$/, '');
  return c.includes('{version}') ? c.replace('{version}', version) : `${c}/${version}`;
}

/** `/pets/{id}` -> ^/pets/[^/]+/?$ ; a trailing `/*` matches the rest of the path (or nothing). */
export function compileTemplate(template: string): { pattern: RegExp; specificity: number } {
  let t = template;
  let tail = '';
  if (t === '/*') return { pattern: /^\/.*$/s, specificity: 0 };
  if (t.endsWith('/*')) {
    t = t.slice(0, -2);
    tail = '(?:/.*)?';
  }
  let specificity = 0;
  const body = t
    .split(/(\{[^}]+\})/)
    .map((part) => {
      if (/^\{[^}]+\}$/.test(part)) return '[^/]+';
      specificity += part.length;
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return { pattern: new RegExp(`^${body}${tail || '/?'}$`, 's'), specificity };
}

function quota(p: { requestCount: number | null; unitTime: number; timeUnit: TimeUnit }): Quota {
  return { requestCount: p.requestCount, windowMs: p.unitTime * UNIT_MS[p.timeUnit] };
}

function thumbprintKid(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('base64url');
}

export function trustedKeyFromPem(
  pem: string,
  issuerName: string,
  issuer: string | null,
  kid?: string,
): TrustedKey {
  const key = createPublicKey(pem);
  return { kid: kid ?? thumbprintKid(key), issuer, issuerName, key };
}

export function compileSnapshot(
  input: ControlPlaneData | ControlPlaneInput,
  options: CompileOptions,
): Snapshot {
  const data = ControlPlaneData.parse(input);
  const src = options.source;
  const problems: SnapshotError[] = [];
  const fail = (location: string, problem: string, cause?: unknown): void => {
    problems.push(new SnapshotError(location, problem, cause === undefined ? {} : { cause }));
  };
  const loc = (list: OriginList, i: number) => options.origins?.[list]?.[i] ?? `${src}: ${list}[${i}]`;
  const fileOf = (list: OriginList, i: number) => loc(list, i).replace(/: [^:]*$/, '');

  const subscriptionPolicies = new Map<string, SubscriptionPolicy>();
  for (const p of [...DEFAULT_SUBSCRIPTION_POLICIES, ...data.policies.subscription]) {
    subscriptionPolicies.set(p.name, {
      name: p.name,
      quota: quota(p),
      stopOnQuotaReach: p.stopOnQuotaReach,
      burst: p.burst ? { limit: p.burst.limit, windowMs: UNIT_MS[p.burst.unit] } : null,
    });
  }
  const applicationPolicies = new Map<string, SimplePolicy>();
  for (const p of [...DEFAULT_APPLICATION_POLICIES, ...data.policies.application]) {
    applicationPolicies.set(p.name, { name: p.name, quota: quota(p) });
  }
  const apiPolicies = new Map<string, SimplePolicy>();
  for (const p of [...DEFAULT_API_POLICIES, ...data.policies.api]) {
    apiPolicies.set(p.name, { name: p.name, quota: quota(p) });
  }

  const apis = new Map<string, ApiEntry>();
  const apisByContext = new Map<string, ApiEntry>();
  data.apis.forEach((a, i) => {
    const where = loc('apis', i);
    const id = a.id ?? `${a.name}-${a.version}`;
    const vctx = versionedContext(a.context, a.version);
    const dup = apis.get(id) ?? apisByContext.get(vctx);
    if (dup) {
      fail(where, `API ${id} (${vctx}) is already declared in ${dup.origin}`);
      return;
    }
    if (a.policy && !apiPolicies.has(a.policy)) {
      fail(`${where}.policy`, `unknown API policy "${a.policy}"`);
    }
    const resources: ResourceEntry[] = a.resources.map((r, j) => {
      if (r.policy && !apiPolicies.has(r.policy)) {
        fail(`${where}.resources[${j}].policy`, `unknown API policy "${r.policy}"`);
      }
      const { pattern, specificity } = compileTemplate(r.path);
      return {
        method: r.method,
        template: r.path,
        pattern,
        specificity,
        scopes: r.scopes,
        policy: r.policy ?? null,
        auth: r.auth,
      };
    });
    // Most specific template first, so /pets/mine beats /pets/{id} and both beat /*.
    resources.sort((x, y) => y.specificity - x.specificity);
    const schemes = new Set<string>(a.securitySchemes);
    const certificates = new Map<string, ApiClientCertificate>();
    const aliases = new Set<string>();
    a.clientCertificates.forEach((c, k) => {
      const at = `${where}.clientCertificates[${k}]`;
      if (aliases.has(c.alias)) {
        fail(at, `duplicate alias "${c.alias}"`);
        return;
      }
      aliases.add(c.alias);
      if (!subscriptionPolicies.has(c.tier)) fail(`${at}.tier`, `unknown subscription policy "${c.tier}"`);
      if (c.certificate === undefined) {
        fail(at, `file ${c.file} was not read`);
        return;
      }
      let cert: ApiClientCertificate;
      try {
        cert = compileClientCertificate(c.alias, c.tier, c.certificate);
      } catch (err) {
        fail(at, errorMessage(err), err);
        return;
      }
      const same = certificates.get(cert.sha256);
      if (same) {
        fail(at, `the same certificate as alias "${same.alias}"`);
        return;
      }
      certificates.set(cert.sha256, cert);
    });
    const mtlsMode = mutualTlsMode(schemes);
    const entry: ApiEntry = {
      info: {
        id,
        name: a.name,
        version: a.version,
        context: vctx,
        creator: a.provider,
        creatorTenantDomain: a.tenantDomain,
        type: a.type,
      },
      versionedContext: vctx,
      lifecycle: a.lifecycle,
      policy: a.policy ?? null,
      trustClaims: a.trustClaims,
      allowAmbiguousPaths: a.allowAmbiguousPaths,
      ...(a.enforcement ? { enforcement: a.enforcement } : {}),
      defaultContext: a.isDefaultVersion ? unversionedContext(a.context) : null,
      apiKeyHeader: a.apiKeyHeader,
      securitySchemes: schemes,
      mutualTls: mtlsMode ? { mode: mtlsMode, certificates } : null,
      keyTypes: { production: a.endpoints.production, sandbox: a.endpoints.sandbox },
      resources,
      origin: fileOf('apis', i),
    };
    apis.set(id, entry);
    apisByContext.set(vctx, entry);
  });
  // Default versions: unversioned calls, after every versioned context is known (a versioned
  // context always wins; two default versions of one context are a conflict).
  for (const entry of apis.values()) {
    const dctx = entry.defaultContext;
    if (!dctx) continue;
    const taken = apisByContext.get(dctx);
    if (taken) {
      fail(
        entry.origin,
        `API ${entry.info.id}: default version context ${dctx} is already used by ${taken.info.id}`,
      );
      continue;
    }
    apisByContext.set(dctx, entry);
  }

  const applications = new Map<string, ApplicationEntry>();
  data.applications.forEach((a, i) => {
    const id = a.id ?? a.name;
    const entry: ApplicationEntry = { id, uuid: a.uuid ?? id, name: a.name, owner: a.owner, tier: a.tier };
    const keys = options.applicationNamesAreKeys === false ? [id, entry.uuid] : [id, entry.uuid, a.name];
    for (const k of new Set(keys)) {
      if (applications.has(k)) {
        fail(loc('applications', i), `application id/name "${k}" is declared twice`);
        continue;
      }
      applications.set(k, entry);
    }
    if (!applicationPolicies.has(a.tier)) {
      fail(`${loc('applications', i)}.tier`, `unknown application policy "${a.tier}"`);
    }
  });

  const subscriptions = new Map<string, SubscriptionEntry>();
  data.subscriptions.forEach((s, i) => {
    const where = loc('subscriptions', i);
    const app = applications.get(s.application);
    if (!app) fail(`${where}.application`, `unknown application "${s.application}"`);
    const api = apis.get(s.api) ?? apisByContext.get(s.api);
    if (!api) fail(`${where}.api`, `unknown API "${s.api}"`);
    if (!subscriptionPolicies.has(s.tier)) fail(`${where}.tier`, `unknown subscription policy "${s.tier}"`);
    if (!app || !api) return;
    subscriptions.set(subscriptionKey(app.id, api.info.id), {
      applicationId: app.id,
      apiId: api.info.id,
      tier: s.tier,
      state: s.state,
    });
  });

  const keyMappings = new Map<string, KeyMappingEntry>();
  data.keyMappings.forEach((m, i) => {
    const app = applications.get(m.application);
    if (!app) {
      fail(`${loc('keyMappings', i)}.application`, `unknown application "${m.application}"`);
      return;
    }
    keyMappings.set(keyMappingKey(m.keyManager, m.consumerKey), {
      consumerKey: m.consumerKey,
      keyManager: m.keyManager,
      applicationId: app.id,
      keyType: m.keyType,
    });
  });

  const trustedKeys = new Map<string, TrustedKey>();
  for (const k of options.extraKeys ?? []) trustedKeys.set(k.kid, k);
  data.keyIssuers.forEach((ki, i) => {
    const where = loc('keyIssuers', i);
    const keys: TrustedKey[] = [];
    try {
      if (ki.jwks) {
        ki.jwks.keys.forEach((jwk, j) => {
          if (!jwk.kid) throw new Error(`jwks.keys[${j}] has no kid`);
          const key = createPublicKey({ key: jwk as never, format: 'jwk' });
          keys.push({ kid: jwk.kid, issuer: ki.issuer ?? null, issuerName: ki.name, key });
        });
      } else {
        keys.push(trustedKeyFromPem((ki.certificate ?? ki.publicKey)!, ki.name, ki.issuer ?? null, ki.kid));
      }
    } catch (cause) {
      fail(where, `cannot read the key: ${errorMessage(cause)}`, cause);
      return;
    }
    for (const k of keys) {
      if (k.key.asymmetricKeyType !== 'rsa') {
        fail(where, `key ${k.kid} is ${k.key.asymmetricKeyType}, API keys are RS256 (rsa)`);
        continue;
      }
      trustedKeys.set(k.kid, k);
    }
  });

  const [first, ...more] = problems;
  if (first) throw new SnapshotError(first.location, first.problem, { cause: first.cause, more });

  const revokedJtis = new Map<string, number | null>();
  for (const r of data.revokedTokens) revokedJtis.set(r.jti, r.expiresAt ? Date.parse(r.expiresAt) : null);

  const version = createHash('sha256')
    .update(JSON.stringify(data))
    .update(JSON.stringify([...trustedKeys.keys()]))
    .digest('hex')
    .slice(0, 16);

  return {
    version,
    source: src,
    apis,
    apisByContext,
    contextsByLength: [...apisByContext.keys()].sort((a, b) => b.length - a.length),
    applications,
    subscriptions,
    keyMappings,
    subscriptionPolicies,
    applicationPolicies,
    apiPolicies,
    trustedKeys,
    revokedJtis,
    data,
  };
}
