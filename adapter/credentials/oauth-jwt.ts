/**
 * OAuth2 JWT access tokens (`Authorization: Bearer <JWT>`) from several trusted issuers. The issuer
 * is chosen by the (unverified) `iss`, then everything is verified against that issuer's settings:
 * allowed algorithms (checked before any key lookup, so `none` and HS256-with-the-RSA-key never reach
 * a key), signature by `kid` from its JWKS or certificate, `exp` (required), `nbf`, audience, clock
 * skew. The consumer key comes from the issuer's claim (WSO2: azp) and maps to the application
 * through the snapshot's key mappings in decide(). Verified tokens are cached until exp, bound to the
 * key set they were verified with, so repeated checks skip the signature; the cache is keyed by the
 * token's canonical identity (credentials/canonical.ts), bounded in entries and bytes, and holds
 * verified tokens only.
 */
import {
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { LRUCache } from 'lru-cache';
import type { CheckRequest } from '../domain.ts';
import { keyMappingKey, type Snapshot } from '../snapshot/types.ts';
import { BEARER_STRIP, bearerToken, looksLikeJwt, scopesOf } from './bearer.ts';
import { CACHE_DEFAULTS, cacheEntryBytes } from './cache.ts';
import { compactParts, credentialId, revokedSignatures, signatureForms } from './canonical.ts';
import type { KeySource } from './jwks.ts';
import type { CredentialResult, CredentialVerifier, ValidCredential } from './types.ts';

export interface OAuthIssuer {
  /** Expected `iss`. */
  issuer: string;
  /** Key manager name of this issuer's consumer keys in the application key mappings. */
  keyManager: string;
  keys: KeySource;
  /** Accepted `aud` values; empty = not checked. */
  audience: readonly string[];
  algorithms: readonly string[];
  clockSkewSeconds: number;
  /** Claim carrying the consumer key: azp (WSO2), client_id, consumerKey, ... */
  consumerKeyClaim: string;
}

export interface OAuthJwtVerifierOptions {
  issuers: readonly OAuthIssuer[];
  /** Claim every Bearer token, JWT-shaped or not (when no opaque-token verifier follows). */
  claimAllBearer?: boolean;
  cacheMaxEntries?: number;
  /** Bound of the verified-token cache in (estimated) bytes. */
  cacheMaxBytes: number;
}

interface Verified {
  payload: JWTPayload;
  issuer: OAuthIssuer;
  key: CryptoKey | Uint8Array;
  kid: string | undefined;
  alg: string;
  /** signatureForms() of the token's signature: what revocation lists name it by. */
  signatures: string[];
}

class KeyUnavailable extends Error {}
class UnknownKid extends Error {}

type Outcome = { kind: 'ok'; verified: Verified } | { kind: 'fail'; result: CredentialResult };

function invalid(reason: string): CredentialResult {
  return { status: 'invalid', type: 'oauth2-jwt', reason, strip: BEARER_STRIP };
}

/**
 * The first claim read below that is present with an unexpected type: read leniently, an Infinity
 * `iat` escapes consumer-key/user revocation, a non-string `jti`/`sub` escapes jti/user revocation.
 */
function claimProblem(p: JWTPayload): string | null {
  for (const c of ['exp', 'iat', 'nbf'] as const) {
    const v = p[c];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 8.64e12)) return c;
  }
  for (const c of ['jti', 'sub'] as const) if (p[c] !== undefined && typeof p[c] !== 'string') return c;
  if (p.scope !== undefined && typeof p.scope !== 'string') return 'scope';
  const scp = p.scp;
  if (
    scp !== undefined &&
    typeof scp !== 'string' &&
    !(Array.isArray(scp) && scp.every((x) => typeof x === 'string'))
  )
    return 'scp';
  return null;
}

export class OAuthJwtVerifier implements CredentialVerifier {
  readonly type = 'oauth2-jwt' as const;
  private readonly byIssuer: Map<string, OAuthIssuer>;
  private readonly claimAllBearer: boolean;
  private readonly cache: LRUCache<string, Verified>;

  constructor(options: OAuthJwtVerifierOptions) {
    this.byIssuer = new Map(options.issuers.map((i) => [i.issuer, i]));
    this.claimAllBearer = options.claimAllBearer ?? true;
    this.cache = new LRUCache<string, Verified>({
      max: options.cacheMaxEntries ?? CACHE_DEFAULTS.jwtMaxEntries,
      maxSize: options.cacheMaxBytes,
      // The issuer and key are shared by every entry: only the claims are this entry's own.
      sizeCalculation: (v) => cacheEntryBytes(v.payload) + 64 * v.signatures.length,
    });
  }

  appliesTo(request: CheckRequest): boolean {
    const token = bearerToken(request);
    if (token === undefined) return false;
    return this.claimAllBearer || token === '' || looksLikeJwt(token);
  }

  async verify(request: CheckRequest, snapshot: Snapshot, now: number): Promise<CredentialResult> {
    const token = bearerToken(request);
    if (!token) return { status: 'missing', type: 'oauth2-jwt' };
    if (!looksLikeJwt(token)) return invalid('NOT_A_JWT');
    const id = credentialId(token);
    if (id === null) return invalid('MALFORMED');
    let verified = this.cache.get(id);
    if (verified) {
      const { exp } = verified.payload;
      const skew = verified.issuer.clockSkewSeconds;
      if (typeof exp === 'number' && exp + skew <= now / 1000) {
        this.cache.delete(id);
        return {
          status: 'expired',
          type: 'oauth2-jwt',
          jti: verified.payload.jti ?? null,
          strip: BEARER_STRIP,
        };
      }
      // A cached verification stands only while the issuer still serves the same key for the kid.
      if (!(await this.keyStillCurrent(verified))) {
        this.cache.delete(id);
        verified = undefined;
      }
    }
    if (!verified) {
      const outcome = await this.verifyToken(token, now);
      if (outcome.kind === 'fail') return outcome.result;
      verified = outcome.verified;
      const { exp } = verified.payload;
      const ttl = typeof exp === 'number' ? (exp + verified.issuer.clockSkewSeconds) * 1000 - now : 0;
      this.cache.set(id, verified, ttl > 0 ? { ttl } : {});
    }
    return this.credential(verified, snapshot, now);
  }

  private async keyStillCurrent(verified: Verified): Promise<boolean> {
    const found = await verified.issuer.keys.lookup(verified.kid, verified.alg);
    return found.kind === 'key' && found.key === verified.key;
  }

  private credential(verified: Verified, snapshot: Snapshot, now: number): CredentialResult {
    const { payload, issuer } = verified;
    const mistyped = claimProblem(payload);
    if (mistyped) return invalid(`CLAIM_INVALID_${mistyped.toUpperCase()}`);
    if (typeof payload.nbf === 'number' && payload.nbf - issuer.clockSkewSeconds > now / 1000) {
      return invalid('NOT_YET_VALID');
    }
    // WSO2's revokedjwt list names revoked JWTs by their signature: by its bytes, not its spelling.
    const revoked = revokedSignatures(snapshot.revokedJtis);
    if (verified.signatures.some((s) => revoked.has(s))) return invalid('REVOKED');
    const consumerKey = payload[issuer.consumerKeyClaim];
    if (typeof consumerKey !== 'string' || consumerKey === '') return invalid('CONSUMER_KEY_MISSING');
    const mapping = snapshot.keyMappings.get(keyMappingKey(issuer.keyManager, consumerKey));
    const credential: ValidCredential = {
      status: 'valid',
      type: 'oauth2-jwt',
      application: { by: 'consumer-key', consumerKey, keyManager: issuer.keyManager },
      keyType: mapping?.keyType ?? 'PRODUCTION',
      scopes: scopesOf(payload),
      jti: typeof payload.jti === 'string' ? payload.jti : null,
      subject: typeof payload.sub === 'string' ? payload.sub : null,
      issuer: issuer.issuer,
      issuedAt: typeof payload.iat === 'number' ? payload.iat * 1000 : null,
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
      subscribedApis: null,
      tierInfo: null,
      restrictions: { permittedIPs: null, permittedReferers: null },
      strip: BEARER_STRIP,
      signatures: verified.signatures,
    };
    return credential;
  }

  private async verifyToken(token: string, now: number): Promise<Outcome> {
    let iss: unknown;
    let alg: string | undefined;
    try {
      iss = decodeJwt(token).iss;
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return { kind: 'fail', result: invalid('MALFORMED') };
    }
    const issuer = typeof iss === 'string' ? this.byIssuer.get(iss) : undefined;
    if (!issuer) return { kind: 'fail', result: invalid('UNKNOWN_ISSUER') };
    if (!alg || !issuer.algorithms.includes(alg))
      return { kind: 'fail', result: invalid('ALGORITHM_NOT_ALLOWED') };
    let usedKey: CryptoKey | Uint8Array | undefined;
    let kid: string | undefined;
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          const found = await issuer.keys.lookup(header.kid, header.alg);
          if (found.kind === 'unavailable') throw new KeyUnavailable(found.reason);
          if (found.kind === 'unknown-kid') throw new UnknownKid();
          usedKey = found.key;
          kid = header.kid;
          return found.key;
        },
        {
          issuer: issuer.issuer,
          ...(issuer.audience.length ? { audience: [...issuer.audience] } : {}),
          algorithms: [...issuer.algorithms],
          clockTolerance: issuer.clockSkewSeconds,
          currentDate: new Date(now),
          requiredClaims: ['exp'],
        },
      );
      const signatures = signatureForms(compactParts(token)!.signature, alg);
      return { kind: 'ok', verified: { payload, issuer, key: usedKey!, kid, alg, signatures } };
    } catch (err) {
      return { kind: 'fail', result: this.failure(err) };
    }
  }

  private failure(err: unknown): CredentialResult {
    if (err instanceof KeyUnavailable) {
      return {
        status: 'unavailable',
        type: 'oauth2-jwt',
        reason: 'JWKS_UNAVAILABLE',
        failOpen: false,
        strip: BEARER_STRIP,
      };
    }
    if (err instanceof UnknownKid) return invalid('UNKNOWN_KID');
    if (err instanceof joseErrors.JWTExpired) {
      const jti = err.payload.jti;
      return {
        status: 'expired',
        type: 'oauth2-jwt',
        jti: typeof jti === 'string' ? jti : null,
        strip: BEARER_STRIP,
      };
    }
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      const byClaim: Record<string, string> = {
        nbf: 'NOT_YET_VALID',
        aud: 'AUDIENCE_MISMATCH',
        iss: 'ISSUER_MISMATCH',
        exp: 'EXPIRY_MISSING',
        iat: 'ISSUED_IN_FUTURE',
      };
      return invalid(byClaim[err.claim] ?? 'CLAIM_INVALID');
    }
    if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
      return invalid('ALGORITHM_NOT_ALLOWED');
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('SIGNATURE_INVALID');
    return invalid('MALFORMED');
  }
}
