/**
 * The credential step: a chain of verifiers behind one interface. The first verifier whose
 * appliesTo() is true verifies the request's credential; none applying means `missing`.
 * Verification is async (jose), so the chain runs before the synchronous, pure decide().
 */
import type { MaybePromise } from '../../common/maybe-promise.ts';
import type { CheckRequest } from '../domain.ts';
import type { Snapshot } from '../snapshot/types.ts';

export type CredentialType = 'apikey' | 'oauth2-jwt' | 'oauth2-opaque';
export type KeyType = 'PRODUCTION' | 'SANDBOX';

/** OAuth2 access tokens (JWT or opaque): the credentials scopes and the Bearer challenge apply to. */
export function isBearer(type: CredentialType | 'none'): boolean {
  return type === 'oauth2-jwt' || type === 'oauth2-opaque';
}

/**
 * Which application the credential belongs to: by id (API keys carry it), or by consumer key that
 * decide() resolves through the snapshot's key mappings (OAuth2 tokens).
 */
export type ApplicationRef =
  | {
      by: 'id';
      id: string;
      /** Claim values, used when the snapshot does not know the application. */
      name?: string;
      owner?: string;
      tier?: string;
      /** Another id the application may be known by (WSO2 keys carry a numeric id and a uuid). */
      altId?: string;
    }
  | { by: 'consumer-key'; consumerKey: string; keyManager: string };

/** A `subscribedAPIs` entry of a WSO2 API key / JWT. */
export interface SubscribedApiClaim {
  name: string;
  context: string;
  version: string;
  publisher: string;
  subscriptionTier: string;
  subscriberTenantDomain: string;
}

/** A `tierInfo` entry: the subscription policy as the key issuer saw it. */
export interface TierInfoClaim {
  tierQuotaType?: string;
  stopOnQuotaReach?: boolean;
  spikeArrestLimit?: number;
  spikeArrestUnit?: string | null;
}

export interface ValidCredential {
  status: 'valid';
  type: CredentialType;
  application: ApplicationRef;
  keyType: KeyType;
  scopes: readonly string[];
  jti: string | null;
  subject: string | null;
  issuer: string | null;
  /** ms since epoch, null when unknown. */
  issuedAt: number | null;
  /** ms since epoch, null when the credential never expires (only when configured to allow it). */
  expiresAt: number | null;
  /** Present when the credential carries the claim (WSO2 API keys do). */
  subscribedApis: readonly SubscribedApiClaim[] | null;
  tierInfo: Readonly<Record<string, TierInfoClaim>> | null;
  /**
   * Request-dependent restrictions decide() enforces (403 when violated): WSO2 API key
   * `permittedIP` (IPs/CIDRs) and `permittedReferer` (wildcard patterns). null = unrestricted.
   */
  restrictions: { permittedIPs: readonly string[] | null; permittedReferers: readonly string[] | null };
  /** Credential carriers to strip before the request goes upstream. */
  strip: { headers: readonly string[]; queryParams: readonly string[] };
  /**
   * API keys: the signature segment, by which older API Manager releases revoke them (decide()
   * looks it up next to the jti).
   */
  signature?: string;
  /**
   * Opaque tokens only: the token's SHA-256 digest (revocation/store.ts tokenDigest), the fact
   * decide() looks up for revocations by token. Opaque tokens have no jti of their own.
   */
  tokenDigest?: string;
  /**
   * Signed tokens (API keys, JWT access tokens): the signature's canonical base64url spellings
   * (credentials/canonical.ts signatureForms), what WSO2's revokedjwt list names a revoked JWT by.
   */
  signatures?: readonly string[];
}

export type CredentialResult =
  | { status: 'missing'; type: CredentialType | 'none' }
  | {
      status: 'invalid';
      type: CredentialType;
      /** Machine-readable reason (never echoes the credential), e.g. SIGNATURE_INVALID, UNKNOWN_KID. */
      reason: string;
      strip: { headers: readonly string[]; queryParams: readonly string[] };
    }
  | {
      /**
       * The credential could not be checked because a dependency is down (key manager
       * introspection, JWKS with no usable cached key). Denied 503 unless `failOpen`.
       */
      status: 'unavailable';
      type: CredentialType;
      reason: string;
      /** The API is configured to allow requests during this outage (no application known). */
      failOpen: boolean;
      strip: { headers: readonly string[]; queryParams: readonly string[] };
    }
  | {
      status: 'expired';
      type: CredentialType;
      jti: string | null;
      strip: { headers: readonly string[]; queryParams: readonly string[] };
    }
  | ValidCredential;

export interface CredentialVerifier {
  readonly type: CredentialType;
  /**
   * True when the request carries this verifier's kind of credential (cheap, synchronous). The
   * snapshot lets it look at the API's settings (e.g. its API-key header).
   */
  appliesTo(request: CheckRequest, snapshot?: Snapshot): boolean;
  /**
   * Never rejects: every failure is an `invalid`/`expired` result. A plain value when nothing had to
   * wait (a cached credential), so the check stays synchronous (server.ts evaluateWith).
   */
  verify(request: CheckRequest, snapshot: Snapshot, now: number): MaybePromise<CredentialResult>;
}
