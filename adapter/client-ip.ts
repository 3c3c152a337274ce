/**
 * The client address Envoy itself trusts, from what a CheckRequest carries. Pure.
 *
 * The source address of a CheckRequest is the TCP peer of the Envoy that runs ext_authz: at a
 * sidecar that is the ingress gateway pod, at a gateway behind a load balancer the balancer. So:
 * 1. `x-envoy-external-address`: the edge Envoy (use_remote_address) writes the trusted client
 *    address there and overwrites whatever an external client sent;
 * 2. else `x-forwarded-for` read from the right: every trusted proxy appended one entry, so the
 *    client is `trustedHops` places left of the rightmost entry (Envoy `xff_num_trusted_hops`,
 *    Istio `numTrustedProxies`). Entries a client prepends sit further left and are never read;
 * 3. else the source address.
 * An entry that is not an IP address at the trusted position falls back to the source address:
 * a proxy we trust wrote nonsense, and guessing further left would hand the choice to the client.
 */
import { isIP } from 'node:net';

export interface ClientIpOptions {
  /** Trusted proxies whose XFF entries sit at the right end of the header (default 0). */
  trustedHops: number;
}

function ipOrNull(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const v = raw.trim();
  return v !== '' && isIP(v) !== 0 ? v : null;
}

const NO_TRUSTED_HOPS: ClientIpOptions = { trustedHops: 0 };

export function clientIpOf(
  headers: Readonly<Record<string, string>>,
  sourceIp: string | null,
  options: ClientIpOptions = NO_TRUSTED_HOPS,
): string | null {
  const external = ipOrNull(headers['x-envoy-external-address']);
  if (external) return external;
  const xff = headers['x-forwarded-for'];
  if (xff !== undefined) {
    const entries = xff.split(',').filter((e) => e.trim() !== '');
    const at = entries.length - 1 - options.trustedHops;
    if (at >= 0) return ipOrNull(entries[at]) ?? sourceIp;
  }
  return sourceIp;
}
