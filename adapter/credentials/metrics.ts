/**
 * Metrics of the OAuth2 credential verifiers. The adapter creates them on its own registry (served
 * at /metrics); components built without one (unit tests, tools) share a lazily created set on
 * prom-client's default registry.
 */
import { Counter, type Registry, register } from 'prom-client';

export interface CredentialMetrics {
  jwksRefreshes: Counter<'issuer' | 'result'>;
  introspections: Counter<'result'>;
  introspectionCache: Counter<'result'>;
  introspectionOutageDecisions: Counter<'mode'>;
}

function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export function createCredentialMetrics(registry: Registry): CredentialMetrics {
  return {
    jwksRefreshes: counter(registry, 'mesh_apim_jwks_refreshes_total', 'JWKS fetches by issuer and result.', [
      'issuer',
      'result',
    ]),
    introspections: counter(
      registry,
      'mesh_apim_introspection_requests_total',
      'RFC 7662 introspection calls to the key manager by result (active, inactive, error).',
      ['result'],
    ),
    introspectionCache: counter(
      registry,
      'mesh_apim_introspection_cache_total',
      'Opaque token lookups by cache result (hit, negative-hit, miss, joined = single-flight follower).',
      ['result'],
    ),
    introspectionOutageDecisions: counter(
      registry,
      'mesh_apim_introspection_outage_total',
      'Checks decided while introspection was unavailable, by the API failure mode (closed, open).',
      ['mode'],
    ),
  };
}

let fallback: CredentialMetrics | undefined;

export function defaultCredentialMetrics(): CredentialMetrics {
  fallback ??= createCredentialMetrics(register);
  return fallback;
}
