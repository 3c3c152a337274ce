/**
 * WSO2 API key verifier: an RS256 JWT issued by API Manager (or by the standalone issuer), sent in
 * the `apikey` header or query parameter. Signature by `kid` against the snapshot's trusted keys,
 * RS256 only (no `none`, no HMAC confusion), `jti` required, `exp` optional as in WSO2 (keys issued
 * with validity -1 carry none; ApiKeyAuthenticator accepts them) unless configured to require it,
 * `keytype` PRODUCTION|SANDBOX. Verified keys are cached until they expire so repeated checks skip
 * the RSA verification; the cache is keyed by the key's canonical identity (credentials/canonical.ts:
 * re-encodings of one key share one entry), bounded in entries and bytes, and bound to the
 * trusted-key set it was verified with. Invalid keys are never cached: forged input retains nothing.
 */
import { decodeProtectedHeader, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import { isPromise, type MaybePromise } from '../../common/maybe-promise.ts';
import { ADAPTER_DEFAULTS } from '../config.ts';
import { APIKEY_HEADER, APIKEY_QUERY, type CheckRequest } from '../domain.ts';
import { resolveApi } from '../policy/route.ts';
import type { Snapshot } from '../snapshot/types.ts';
import { CACHE_DEFAULTS, cacheEntryBytes } from './cache.ts';
import { compactParts, credentialId, signatureForms } from './canonical.ts';
import { parseIpList, parseRefererList } from './restrictions.ts';
import type {
  CredentialResult,
  CredentialVerifier,
  KeyType,
  SubscribedApiClaim,
  TierInfoClaim,
  ValidCredential,
} from './types.ts';

export interface ApiKeyVerifierOptions {
  /**
   * Accept keys without `exp` (WSO2 keys issued with validity -1; WSO2's ApiKeyAuthenticator only
   * rejects an expired key, never a missing exp); false requires `exp` (adapter.apiKeyAllowNoExpiry).
   */
  allowNoExpiry: boolean;
  /** Max verified keys cached. */
  cacheMaxEntries?: number;
  /** Bound of the verified-key cache in (estimated) bytes (adapter.credentialCacheMaxBytes). */
  cacheMaxBytes: number;
}

/** adapter.*'s defaults, for callers without a config (tests, benches). */
export const API_KEY_DEFAULTS: ApiKeyVerifierOptions = {
  allowNoExpiry: ADAPTER_DEFAULTS.apiKeyAllowNoExpiry,
  cacheMaxBytes: ADAPTER_DEFAULTS.credentialCacheMaxBytes,
};

interface CacheEntry {
  credential: ValidCredential;
  keys: Snapshot['trustedKeys'];
}

/** Per memoised key id: the 43-character id, the tail key and the entry's own objects, over-estimated. */
const ID_ENTRY_OVERHEAD = 256;
/** Characters of a key's end the id memo is keyed by (24 bytes of an RS256 signature). */
const MEMO_TAIL = 32;

const STRIP = { headers: [APIKEY_HEADER], queryParams: [APIKEY_QUERY] } as const;

function str(v: unknown): string | null {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

function subscribedApis(v: unknown): SubscribedApiClaim[] | null {
  if (!Array.isArray(v)) return null;
  return v
    .filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null)
    .map((x) => ({
      name: str(x.name) ?? '',
      context: str(x.context) ?? '',
      version: str(x.version) ?? '',
      publisher: str(x.publisher) ?? '',
      subscriptionTier: str(x.subscriptionTier) ?? '',
      subscriberTenantDomain: str(x.subscriberTenantDomain) ?? '',
    }));
}

function tierInfo(v: unknown): Record<string, TierInfoClaim> | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const out: Record<string, TierInfoClaim> = {};
  for (const [k, raw] of Object.entries(v as Record<string, unknown>)) {
    if (typeof raw !== 'object' || raw === null) continue;
    const t = raw as Record<string, unknown>;
    const info: TierInfoClaim = {};
    if (typeof t.tierQuotaType === 'string') info.tierQuotaType = t.tierQuotaType;
    if (typeof t.stopOnQuotaReach === 'boolean') info.stopOnQuotaReach = t.stopOnQuotaReach;
    if (typeof t.spikeArrestLimit === 'number') info.spikeArrestLimit = t.spikeArrestLimit;
    if (typeof t.spikeArrestUnit === 'string' || t.spikeArrestUnit === null)
      info.spikeArrestUnit = t.spikeArrestUnit;
    out[k] = info;
  }
  return out;
}

/** A NumericDate Date can hold (|t| <= 8.64e12 s): `1e309` parses to Infinity and is not one. */
function numericDate(v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 8.64e12;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const optString = (v: unknown) => v === undefined || typeof v === 'string';
const optId = (v: unknown) => optString(v) || (typeof v === 'number' && Number.isFinite(v));

/**
 * The first claim the check reads that is present with an unexpected type, or null. Every such
 * claim denies the key (401 900901): read leniently, each would fail open somewhere (an array
 * permittedIP ignored = any client, a non-string tier = Unlimited, an Infinity iat = never
 * revoked by time, a non-string sub = no user revocation).
 */
function claimProblem(p: JWTPayload): string | null {
  for (const c of ['exp', 'iat', 'nbf'] as const) if (p[c] !== undefined && !numericDate(p[c])) return c;
  if (!optString(p.iss)) return 'iss';
  if (!optId(p.sub)) return 'sub';
  if (!optString(p.token_type)) return 'token_type';
  const app = p.application;
  if (app !== undefined) {
    if (!isObject(app) || !optId(app.id) || !optId(app.uuid)) return 'application';
    if (!optString(app.name) || !optString(app.owner) || !optString(app.tier)) return 'application';
  }
  const subs = p.subscribedAPIs;
  if (subs !== undefined) {
    if (!Array.isArray(subs)) return 'subscribedAPIs';
    const fields = ['name', 'context', 'version', 'publisher', 'subscriptionTier', 'subscriberTenantDomain'];
    for (const s of subs) if (!isObject(s) || fields.some((f) => !optString(s[f]))) return 'subscribedAPIs';
  }
  const tiers = p.tierInfo;
  if (tiers !== undefined) {
    if (!isObject(tiers)) return 'tierInfo';
    for (const t of Object.values(tiers)) {
      if (!isObject(t) || !optString(t.tierQuotaType)) return 'tierInfo';
      if (t.stopOnQuotaReach !== undefined && typeof t.stopOnQuotaReach !== 'boolean') return 'tierInfo';
      const limit = t.spikeArrestLimit;
      if (limit !== undefined && !(typeof limit === 'number' && Number.isFinite(limit) && limit >= 0))
        return 'tierInfo';
      if (t.spikeArrestUnit !== null && !optString(t.spikeArrestUnit)) return 'tierInfo';
    }
  }
  if (!parseIpList(p.permittedIP).ok) return 'permittedIP';
  if (!parseRefererList(p.permittedReferer).ok) return 'permittedReferer';
  return null;
}

/** Entries of a claim claimProblem() already accepted. */
function restriction(list: ReturnType<typeof parseIpList>): string[] | null {
  return list.ok ? list.entries : null;
}

export class ApiKeyVerifier implements CredentialVerifier {
  readonly type = 'apikey' as const;
  private readonly allowNoExpiry: boolean;
  private readonly cache: LRUCache<string, CacheEntry>;
  /**
   * credentialId() memoised for the exact key string, for keys that verified (a cache hit, or an
   * insertion after verification): the id costs a base64url decode and a SHA-256 of the ~1.3 KB
   * signed part. Keyed by the key's last MEMO_TAIL characters (inside the signature) and answered
   * only when the whole string is equal: hashing the whole fresh ~1.3 KB string as a Map key cost
   * ~2.5 µs per check, the tail and one string comparison ~0.1 µs. A key sharing another's tail
   * but not equal to it is a miss (credentialId() as before). Forged or invalid keys never enter it.
   * Bounded by the key strings' bytes: a quarter of the one byte bound, the verified keys have the rest.
   */
  private readonly ids: LRUCache<string, { token: string; id: string }>;
  /** RSA verifications performed (cache misses): lets tests and the bench see the cache work. */
  verifications = 0;

  /** Verified keys held and their estimated bytes (tests, diagnostics). */
  get cacheStats(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.calculatedSize };
  }

  /** Key strings whose id is memoised, and their estimated bytes (tests, diagnostics). */
  get idMemoStats(): { entries: number; bytes: number } {
    return { entries: this.ids.size, bytes: this.ids.calculatedSize };
  }

  constructor(options: ApiKeyVerifierOptions) {
    this.allowNoExpiry = options.allowNoExpiry;
    // One byte bound (adapter.credentialCacheMaxBytes) for both: a quarter for the id memo.
    const bound = options.cacheMaxBytes;
    const memoBytes = Math.max(1, Math.floor(bound / 4));
    this.cache = new LRUCache<string, CacheEntry>({
      max: options.cacheMaxEntries ?? CACHE_DEFAULTS.apiKeyMaxEntries,
      maxSize: Math.max(1, bound - memoBytes),
      sizeCalculation: (e) => cacheEntryBytes(e.credential),
    });
    this.ids = new LRUCache<string, { token: string; id: string }>({
      max: options.cacheMaxEntries ?? CACHE_DEFAULTS.apiKeyMaxEntries,
      maxSize: memoBytes,
      sizeCalculation: (e) => e.token.length + ID_ENTRY_OVERHEAD,
    });
  }

  /** The API's apiKeyHeader (WSO2 per-API setting), `apikey` when the API is unknown here. */
  private carrier(request: CheckRequest, snapshot: Snapshot | undefined): string {
    return (snapshot && resolveApi(request, snapshot)?.apiKeyHeader) || APIKEY_HEADER;
  }

  appliesTo(request: CheckRequest, snapshot?: Snapshot): boolean {
    const c = this.carrier(request, snapshot);
    return request.headers[c] !== undefined || request.query.has(c === APIKEY_HEADER ? APIKEY_QUERY : c);
  }

  verify(request: CheckRequest, snapshot: Snapshot, now: number): MaybePromise<CredentialResult> {
    const c = this.carrier(request, snapshot);
    if (c === APIKEY_HEADER) return this.verifyCarrier(request, snapshot, now, APIKEY_HEADER, APIKEY_QUERY);
    const stripped = (result: CredentialResult): CredentialResult =>
      result.status === 'missing' ? result : { ...result, strip: { headers: [c], queryParams: [c] } };
    const result = this.verifyCarrier(request, snapshot, now, c, c);
    return isPromise(result) ? result.then(stripped) : stripped(result);
  }

  /** Synchronous for a cached key (every check but the first of a key); a promise while RS256 verifies. */
  private verifyCarrier(
    request: CheckRequest,
    snapshot: Snapshot,
    now: number,
    header: string,
    query: string,
  ): MaybePromise<CredentialResult> {
    const token = (request.headers[header] ?? request.query.get(query)?.[0] ?? '').trim();
    if (token === '') return { status: 'missing', type: 'apikey' };

    // Not a compact JWS (or an undecodable signature): jose would say the same, without the work.
    const tail = token.length > MEMO_TAIL ? token.slice(-MEMO_TAIL) : token;
    const memo = this.ids.get(tail);
    const known = memo !== undefined && memo.token === token ? memo.id : undefined;
    const id = known ?? credentialId(token);
    if (id === null) return this.invalid('MALFORMED');
    const hit = this.cache.get(id);
    if (hit && hit.keys === snapshot.trustedKeys) {
      const exp = hit.credential.expiresAt;
      if (exp !== null && exp <= now) {
        this.cache.delete(id);
        return { status: 'expired', type: 'apikey', jti: hit.credential.jti, strip: STRIP };
      }
      if (known === undefined) this.ids.set(tail, { token, id });
      return hit.credential;
    }

    return this.verifyAndCache(token, tail, id, snapshot, now);
  }

  private async verifyAndCache(
    token: string,
    tail: string,
    id: string,
    snapshot: Snapshot,
    now: number,
  ): Promise<CredentialResult> {
    const result = await this.verifyToken(token, snapshot, now);
    if (result.status !== 'valid') return result;
    const parts = compactParts(token)!;
    const credential: ValidCredential = { ...result, signatures: signatureForms(parts.signature, 'RS256') };
    this.cache.set(
      id,
      { credential, keys: snapshot.trustedKeys },
      credential.expiresAt === null ? {} : { ttl: Math.max(1, credential.expiresAt - now) },
    );
    this.ids.set(tail, { token, id });
    return credential;
  }

  private invalid(reason: string): CredentialResult {
    return { status: 'invalid', type: 'apikey', reason, strip: STRIP };
  }

  private async verifyToken(token: string, snapshot: Snapshot, now: number): Promise<CredentialResult> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return this.invalid('MALFORMED');
    }
    if (header.alg !== 'RS256') return this.invalid('ALGORITHM_NOT_ALLOWED');
    if (typeof header.kid !== 'string' || header.kid === '') return this.invalid('UNKNOWN_KID');
    const trusted = snapshot.trustedKeys.get(header.kid);
    if (!trusted) return this.invalid('UNKNOWN_KID');

    let payload: JWTPayload;
    this.verifications += 1;
    try {
      ({ payload } = await jwtVerify(token, trusted.key, {
        algorithms: ['RS256'],
        currentDate: new Date(now),
        ...(trusted.issuer ? { issuer: trusted.issuer } : {}),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        const jti = typeof err.payload.jti === 'string' ? err.payload.jti : null;
        return { status: 'expired', type: 'apikey', jti, strip: STRIP };
      }
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) return this.invalid('SIGNATURE_INVALID');
      if (err instanceof joseErrors.JWTClaimValidationFailed)
        return this.invalid(`CLAIM_INVALID_${err.claim.toUpperCase()}`);
      return this.invalid('MALFORMED');
    }

    const problem = claimProblem(payload);
    if (problem) return this.invalid(`CLAIM_INVALID_${problem.toUpperCase()}`);
    if (payload.exp === undefined && !this.allowNoExpiry) return this.invalid('NO_EXPIRY');
    if (typeof payload.jti !== 'string' || payload.jti === '') return this.invalid('NO_JTI');
    if (typeof payload.token_type === 'string' && payload.token_type.toLowerCase() !== 'apikey') {
      return this.invalid('NOT_AN_API_KEY');
    }
    const keyType = payload.keytype;
    if (keyType !== 'PRODUCTION' && keyType !== 'SANDBOX') return this.invalid('WRONG_KEY_TYPE');
    const app = payload.application;
    if (typeof app !== 'object' || app === null) return this.invalid('NO_APPLICATION');
    const a = app as Record<string, unknown>;
    const uuid = str(a.uuid);
    const numericId = str(a.id);
    const id = uuid ?? numericId;
    if (!id) return this.invalid('NO_APPLICATION');

    return {
      status: 'valid',
      type: 'apikey',
      application: {
        by: 'id',
        id,
        ...(uuid && numericId ? { altId: numericId } : {}),
        ...(str(a.name) ? { name: str(a.name)! } : {}),
        ...(str(a.owner) ? { owner: str(a.owner)! } : {}),
        ...(str(a.tier) ? { tier: str(a.tier)! } : {}),
      },
      keyType: keyType as KeyType,
      scopes: [],
      jti: payload.jti,
      subject: str(payload.sub),
      issuer: str(payload.iss),
      issuedAt: typeof payload.iat === 'number' ? payload.iat * 1000 : null,
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
      subscribedApis: subscribedApis(payload.subscribedAPIs),
      tierInfo: tierInfo(payload.tierInfo),
      restrictions: {
        permittedIPs: restriction(parseIpList(payload.permittedIP)),
        permittedReferers: restriction(parseRefererList(payload.permittedReferer)),
      },
      strip: STRIP,
    };
  }
}
