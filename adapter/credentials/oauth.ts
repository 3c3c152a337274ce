/** Builds the OAuth2 verifiers (JWT issuers, opaque-token introspection) from configuration. */
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { apimTlsFiles } from '../../apim/tls.ts';
import type { Config } from '../../common/config.ts';
import { ConfigError, errorMessage } from '../../common/errors.ts';
import { type Clock, systemClock } from '../domain.ts';
import { createHttpClient } from '../http-client.ts';
import { IntrospectionClient } from './introspection.ts';
import { CertificateKeySource, JwksCache } from './jwks.ts';
import { createCredentialMetrics } from './metrics.ts';
import { OAuthJwtVerifier } from './oauth-jwt.ts';
import { OpaqueTokenVerifier } from './oauth-opaque.ts';
import type { CredentialVerifier } from './types.ts';

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/** API Manager's TLS settings apply to its own endpoints; other issuers use the system CAs. */
function tlsFor(config: Config, url: string) {
  const { apim } = config;
  return apim.url && sameOrigin(url, apim.url) ? apimTlsFiles(apim) : {};
}

/** [JWT verifier, opaque verifier] as configured; empty when no issuer and no introspection is set. */
export function oauthVerifiers(
  config: Config,
  clock: Clock = systemClock,
  registry?: Registry,
): CredentialVerifier[] {
  const { oauth } = config;
  const metrics = registry ? { metrics: createCredentialMetrics(registry) } : {};
  const now = () => clock.now();
  const verifiers: CredentialVerifier[] = [];
  const introspection = oauth.introspectionUrl !== '';
  if (oauth.issuers.length > 0) {
    const issuers = oauth.issuers.map((i) => {
      let keys: JwksCache | CertificateKeySource;
      if (i.jwksUrl) {
        keys = new JwksCache({
          url: i.jwksUrl,
          name: i.issuer,
          now,
          maxAgeMs: oauth.jwksMaxAgeMs,
          staleWindowMs: oauth.jwksStaleWindowMs,
          cooldownMs: oauth.jwksCooldownMs,
          http: createHttpClient({ timeoutMs: 5_000, ...tlsFor(config, i.jwksUrl) }),
          ...metrics,
        });
      } else {
        let pem: string;
        try {
          pem = readFileSync(i.certificateFile, 'utf8');
        } catch (err) {
          throw new ConfigError(
            `oauth issuer ${i.issuer}: cannot read ${i.certificateFile}: ${errorMessage(err)}`,
          );
        }
        keys = new CertificateKeySource(pem);
      }
      return {
        issuer: i.issuer,
        keyManager: i.keyManager,
        keys,
        audience: i.audience,
        algorithms: i.algorithms,
        clockSkewSeconds: i.clockSkewSeconds,
        consumerKeyClaim: i.consumerKeyClaim,
      };
    });
    verifiers.push(
      new OAuthJwtVerifier({
        issuers,
        claimAllBearer: !introspection,
        cacheMaxBytes: config.adapter.credentialCacheMaxBytes,
      }),
    );
  }
  if (introspection) {
    const client = new IntrospectionClient({
      url: oauth.introspectionUrl,
      clientId: oauth.introspectionClientId,
      clientSecret: oauth.introspectionClientSecret,
      clientAuth: oauth.introspectionClientAuth,
      now,
      positiveTtlCapMs: oauth.introspectionCacheMaxMs,
      negativeTtlMs: oauth.introspectionNegativeCacheMs,
      maxEntries: oauth.introspectionCacheMaxEntries,
      maxBytes: config.adapter.credentialCacheMaxBytes,
      ...metrics,
      http: createHttpClient({
        timeoutMs: oauth.introspectionTimeoutMs,
        ...tlsFor(config, oauth.introspectionUrl),
      }),
    });
    verifiers.push(
      new OpaqueTokenVerifier({
        client,
        keyManager: oauth.introspectionKeyManager,
        failOpenApis: oauth.introspectionFailOpenApis,
        claimJwts: oauth.issuers.length === 0,
      }),
    );
  }
  return verifiers;
}
