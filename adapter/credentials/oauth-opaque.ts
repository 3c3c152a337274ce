/**
 * Opaque OAuth2 access tokens (`Authorization: Bearer <not a JWT>`), validated by RFC 7662
 * introspection at the key manager. The consumer key is the response's `client_id`; it maps to the
 * application through the snapshot's key mappings in decide(). When introspection is unavailable the
 * result says whether the API fails open (configured per API) or closed (default, 503).
 */

import type { CheckRequest } from '../domain.ts';
import { resolveApi } from '../policy/route.ts';
import { tokenDigest } from '../revocation/store.ts';
import { keyMappingKey, type Snapshot } from '../snapshot/types.ts';
import { BEARER_STRIP, bearerToken, looksLikeJwt, scopesOf } from './bearer.ts';
import type { IntrospectionClient } from './introspection.ts';
import type { CredentialResult, CredentialVerifier } from './types.ts';

export interface OpaqueTokenVerifierOptions {
  client: IntrospectionClient;
  /** Key manager name of the introspected tokens' consumer keys in the key mappings. */
  keyManager: string;
  /** APIs (versioned context or id) that allow requests while introspection is down. */
  failOpenApis?: Iterable<string>;
  /** Also introspect JWT-shaped tokens (no JWT issuer is configured to verify them locally). */
  claimJwts?: boolean;
}

export class OpaqueTokenVerifier implements CredentialVerifier {
  readonly type = 'oauth2-opaque' as const;
  private readonly client: IntrospectionClient;
  private readonly keyManager: string;
  private readonly failOpenApis: ReadonlySet<string>;
  private readonly claimJwts: boolean;

  constructor(options: OpaqueTokenVerifierOptions) {
    this.client = options.client;
    this.keyManager = options.keyManager;
    this.failOpenApis = new Set(options.failOpenApis ?? []);
    this.claimJwts = options.claimJwts ?? false;
  }

  /** Drops a revoked token's cached introspection answer, so a later use is asked again, not served from cache. */
  forget(token: string): void {
    this.client.forget(token);
  }

  /** Same, by the token's digest (a token-revoked event of kind `token` carries only that). */
  forgetDigest(digest: string): void {
    this.client.forgetDigest(digest);
  }

  appliesTo(request: CheckRequest): boolean {
    const token = bearerToken(request);
    return token !== undefined && token !== '' && (this.claimJwts || !looksLikeJwt(token));
  }

  async verify(request: CheckRequest, snapshot: Snapshot, now: number): Promise<CredentialResult> {
    const token = bearerToken(request);
    if (!token) return { status: 'missing', type: 'oauth2-opaque' };
    // Hashed once per check: the cache key, and decide()'s revocation lookup.
    const digest = tokenDigest(token);
    const result = this.client.cached(token, digest) ?? (await this.client.introspect(token, digest));
    switch (result.kind) {
      case 'inactive':
        return { status: 'invalid', type: 'oauth2-opaque', reason: 'INACTIVE', strip: BEARER_STRIP };
      case 'unavailable': {
        const api = resolveApi(request, snapshot);
        const failOpen =
          api !== null && (this.failOpenApis.has(api.versionedContext) || this.failOpenApis.has(api.info.id));
        this.client.metrics.introspectionOutageDecisions.inc({ mode: failOpen ? 'open' : 'closed' });
        return {
          status: 'unavailable',
          type: 'oauth2-opaque',
          reason: 'INTROSPECTION_UNAVAILABLE',
          failOpen,
          strip: BEARER_STRIP,
        };
      }
    }
    const claims = result.claims;
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= now) {
      return { status: 'expired', type: 'oauth2-opaque', jti: null, strip: BEARER_STRIP };
    }
    const consumerKey = claims.client_id;
    if (typeof consumerKey !== 'string' || consumerKey === '') {
      return {
        status: 'invalid',
        type: 'oauth2-opaque',
        reason: 'CONSUMER_KEY_MISSING',
        strip: BEARER_STRIP,
      };
    }
    const mapping = snapshot.keyMappings.get(keyMappingKey(this.keyManager, consumerKey));
    return {
      status: 'valid',
      type: 'oauth2-opaque',
      application: { by: 'consumer-key', consumerKey, keyManager: this.keyManager },
      keyType: mapping?.keyType ?? 'PRODUCTION',
      scopes: scopesOf(claims),
      jti: typeof claims.jti === 'string' ? claims.jti : null,
      subject:
        typeof claims.username === 'string'
          ? claims.username
          : typeof claims.sub === 'string'
            ? claims.sub
            : null,
      issuer: typeof claims.iss === 'string' ? claims.iss : null,
      issuedAt: typeof claims.iat === 'number' ? claims.iat * 1000 : null,
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : null,
      subscribedApis: null,
      tierInfo: null,
      restrictions: { permittedIPs: null, permittedReferers: null },
      strip: BEARER_STRIP,
      tokenDigest: digest,
    };
  }
}
