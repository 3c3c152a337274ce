/**
 * Metrics of the OAuth2 credential verifiers, created once on prom-client's default registry
 * (the admin /metrics endpoint serves that registry).
 */
import { Counter, register } from 'prom-client';

export interface CredentialMetrics {
  jwksRefreshes: Counter<'issuer' | 'result'>;
  introspections: Counter<'result'>;
  introspectionCache: Counter<'result'>;
  introspectionOutageDecisions: Counter<'mode'>;
}

let metrics: CredentialMetrics | undefined;

function counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = register.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames });
}

export function credentialMetrics(): CredentialMetrics {
  metrics ??= {
    jwksRefreshes: counter('mesh_apim_jwks_refreshes_total', 'JWKS fetches by issuer and result.', [
      'issuer',
      'result',
    ]),
    introspections: counter(
      'mesh_apim_introspection_requests_total',
      'RFC 7662 introspection calls to the key manager by result (active, inactive, error).',
      ['result'],
    ),
    introspectionCache: counter(
      'mesh_apim_introspection_cache_total',
      'Opaque token lookups by cache result (hit, negative-hit, miss, joined = single-flight follower).',
      ['result'],
    ),
    introspectionOutageDecisions: counter(
      'mesh_apim_introspection_outage_total',
      'Checks decided while introspection was unavailable, by the API failure mode (closed, open).',
      ['mode'],
    ),
  };
  return metrics;
}
