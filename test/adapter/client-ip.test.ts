/**
 * The trusted client address, following Envoy's documented XFF examples (config_http_conn_man_headers_x-forwarded-for:
 * xff_num_trusted_hops, Istio numTrustedProxies) as the headers reach ext_authz behind the edge.
 */
import { describe, expect, it } from 'vitest';
import { clientIpOf } from '../../adapter/client-ip.ts';
import { TRANSLATE_DEFAULTS, toCheckRequest } from '../../adapter/translate.ts';

const SOURCE = '10.244.0.17'; // the ingress gateway pod, the TCP peer of the sidecar

describe('clientIpOf', () => {
  it('no forwarding headers: the source address', () => {
    expect(clientIpOf({}, SOURCE)).toBe(SOURCE);
    expect(clientIpOf({}, null)).toBeNull();
  });

  it('x-envoy-external-address wins (the edge Envoy wrote the trusted address there)', () => {
    expect(
      clientIpOf({ 'x-envoy-external-address': '203.0.113.10', 'x-forwarded-for': '1.1.1.1' }, SOURCE),
    ).toBe('203.0.113.10');
    // Not an address: ignored, the next rule applies.
    expect(clientIpOf({ 'x-envoy-external-address': 'evil', 'x-forwarded-for': '1.1.1.1' }, SOURCE)).toBe(
      '1.1.1.1',
    );
  });

  it('0 trusted hops: the rightmost XFF entry (appended by the gateway); prepended entries ignored', () => {
    const headers = { 'x-forwarded-for': '192.168.1.5, 203.0.113.128' };
    expect(clientIpOf(headers, SOURCE)).toBe('203.0.113.128');
  });

  it('N trusted hops: the entry N places left of the rightmost', () => {
    // Envoy example: two trusted proxies; XFF "203.0.113.128, 203.0.113.10, 203.0.113.1" + the
    // balancer 192.0.2.5 appended by the gateway -> the client is 203.0.113.10.
    const headers = { 'x-forwarded-for': '203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5' };
    expect(clientIpOf(headers, SOURCE, { trustedHops: 2 })).toBe('203.0.113.10');
    expect(clientIpOf(headers, SOURCE, { trustedHops: 1 })).toBe('203.0.113.1');
  });

  it('fewer entries than trusted hops + 1: the source address, never a client-chosen entry', () => {
    expect(clientIpOf({ 'x-forwarded-for': '192.0.2.5' }, SOURCE, { trustedHops: 1 })).toBe(SOURCE);
  });

  it('garbage at the trusted position: the source address', () => {
    expect(clientIpOf({ 'x-forwarded-for': '1.2.3.4, unknown' }, SOURCE)).toBe(SOURCE);
    expect(clientIpOf({ 'x-forwarded-for': ' , ' }, SOURCE)).toBe(SOURCE);
  });

  it('IPv6 entries', () => {
    expect(clientIpOf({ 'x-forwarded-for': '2001:db8::1' }, SOURCE)).toBe('2001:db8::1');
  });

  it('toCheckRequest uses it (repeated XFF headers are joined with a comma)', () => {
    const req = toCheckRequest(
      {
        attributes: {
          source: { address: { socket_address: { address: SOURCE } } },
          request: {
            http: {
              path: '/',
              header_map: {
                headers: [
                  { key: 'X-Forwarded-For', value: '6.6.6.6' },
                  { key: 'x-forwarded-for', value: '198.51.100.7, 192.0.2.5' },
                ],
              },
            },
          },
        },
      },
      0,
      { ...TRANSLATE_DEFAULTS, trustedHops: 1 },
    );
    expect(req.clientIp).toBe('198.51.100.7');
  });
});
