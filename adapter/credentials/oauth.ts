/** Builds the OAuth2 verifiers (JWT issuers, opaque-token introspection) from configuration. */
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { apimTlsFiles } from '../../apim/tls.ts';
import type { Config } from '../../common/config/index.ts';
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
  const introspection = oauth.introspection.url !== '';
  if (oauth.issuers.length > 0) {
    const issuers = oauth.issuers.map((i) => {
      let keys: JwksCache | CertificateKeySource;
      if (i.jwksUrl) {
        keys = new JwksCache({
          url: i.jwksUrl,
          name: i.issuer,
          now,
          ...oauth.jwks,
          http: createHttpClient({ timeoutMs: oauth.jwks.timeoutMs, ...tlsFor(config, i.jwksUrl) }),
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
      url: oauth.introspection.url,
      clientId: oauth.introspection.clientId,
      clientSecret: oauth.introspection.clientSecret,
      clientAuth: oauth.introspection.clientAuth,
      now,
      timeoutMs: oauth.introspection.timeoutMs,
      positiveTtlCapMs: oauth.introspection.cacheMaxMs,
      negativeTtlMs: oauth.introspection.negativeCacheMs,
      maxEntries: oauth.introspection.cacheMaxEntries,
      maxBytes: config.adapter.credentialCacheMaxBytes,
      ...metrics,
      http: createHttpClient({
        timeoutMs: oauth.introspection.timeoutMs,
        ...tlsFor(config, oauth.introspection.url),
      }),
    });
    verifiers.push(
      new OpaqueTokenVerifier({
        client,
        keyManager: oauth.introspection.keyManager,
        failOpenApis: oauth.introspection.failOpenApis,
        claimJwts: oauth.issuers.length === 0,
      }),
    );
  }
  return verifiers;
}
