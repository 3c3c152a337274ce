/**
 * Mutual TLS per API end to end through the real gRPC server, on both transports: the
 * forged-certificate suite. Rules followed (adapter/credentials/mtls.ts): wso2/carbon-apimgt
 * APIAuthenticationHandler (how mutualssl / mutualssl_mandatory / oauth_basic_auth_api_key_mandatory
 * combine), MutualSSLAuthenticator (identity: subject CN, PRODUCTION, the certificate's tier, no
 * application), APISecurityConstants.MUTUAL_SSL_VALIDATION_FAILURE (900911); wso2/product-microgateway
 * MTLSAuthenticator / MtlsUtils (certificate from Envoy, matched as the very certificate by alias).
 * Certificates are openssl-made as WSO2's guide has users make them (test/support/client-certs.ts).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestContext } from '../../events/request-attributes.ts';
import { ManualClock, startTestAdapter, type TestAdapter, TRANSPORTS } from '../support/adapter.ts';
import {
  type ClientCert,
  caSignedClientCert,
  GATEWAY_PRINCIPAL,
  SIDECAR_XFCC_ELEMENT,
  selfSignedClientCert,
  urlEncodedPem,
  xfccElement,
} from '../support/client-certs.ts';
import { hasOpenssl } from '../support/openssl.ts';

const indent = (pem: string) => pem.trim().replace(/\n/g, '\n          ');

function fixture(gold: ClientCert, partner: ClientCert, other: ClientCert): string {
  return `
policies:
  subscription:
    - { name: Tiny, requestCount: 3, unitTime: 1, timeUnit: min }
apis:
  - id: mtls-only-v1
    name: mtls-only
    version: v1
    context: /mtlsonly
    securitySchemes: [mutualssl, mutualssl_mandatory]
    clientCertificates:
      - alias: gold-client
        tier: Gold
        certificate: |
          ${indent(gold.pem)}
    resources: [{ method: GET, path: /* }]
  - id: mtls-tiny-v1
    name: mtls-tiny
    version: v1
    context: /mtlstiny
    securitySchemes: [mutualssl]
    clientCertificates: [{ alias: gold-client, tier: Tiny, file: ${gold.file} }]
    resources: [{ method: GET, path: /* }]
  - id: mtls-and-key-v1
    name: mtls-and-key
    version: v1
    context: /mtlsandkey
    securitySchemes: [mutualssl, mutualssl_mandatory, api_key, oauth_basic_auth_api_key_mandatory]
    clientCertificates: [{ alias: partner, file: ${partner.file} }]
    resources: [{ method: GET, path: /* }]
  - id: mtls-or-key-v1
    name: mtls-or-key
    version: v1
    context: /mtlsorkey
    securitySchemes: [mutualssl, mutualssl_mandatory, api_key]
    clientCertificates: [{ alias: partner, file: ${partner.file} }]
    resources: [{ method: GET, path: /* }]
  - id: key-then-mtls-v1
    name: key-then-mtls
    version: v1
    context: /keymtls
    securitySchemes: [mutualssl, mutualssl_optional, api_key, oauth_basic_auth_api_key_mandatory]
    clientCertificates: [{ alias: partner, file: ${partner.file} }]
    resources: [{ method: GET, path: /* }]
  - id: other-v1
    name: other
    version: v1
    context: /other
    securitySchemes: [mutualssl]
    clientCertificates: [{ alias: other, file: ${other.file} }]
    resources: [{ method: GET, path: /* }]
applications:
  - { name: demo-app }
subscriptions:
  - { application: demo-app, api: mtls-and-key-v1 }
  - { application: demo-app, api: mtls-or-key-v1 }
  - { application: demo-app, api: key-then-mtls-v1 }
`;
}

describe.skipIf(!hasOpenssl).each(TRANSPORTS)('mutual TLS per API (%s transport)', (transport) => {
  let gold: ClientCert;
  let partner: ClientCert;
  let other: ClientCert;
  let t: TestAdapter;
  let x: TestAdapter;
  let clock: ManualClock;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtls-e2e-'));
    gold = selfSignedClientCert(dir, 'gold', 'gold-client');
    partner = caSignedClientCert(dir, 'partner', 'partner-client');
    other = selfSignedClientCert(dir, 'other', 'gold-client');
    const yaml = fixture(gold, partner, other);
    clock = new ManualClock(gold.notBefore + 60_000);
    t = await startTestAdapter({ yaml, transport, clock });
    x = await startTestAdapter({
      yaml,
      transport,
      clock,
      overrides: {
        'adapter.clientCertificateSource': 'xfcc',
        'adapter.xfccTrustedPrincipals': [GATEWAY_PRINCIPAL],
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await x?.close();
  });
  const viaPeer = (path: string, cert: ClientCert | null, headers: Record<string, string> = {}) =>
    t.client.check({ path, headers, ...(cert ? { peerCertificate: urlEncodedPem(cert.pem) } : {}) });

  describe('certificate only (mutualssl, mutualssl_mandatory)', () => {
    it('the API’s certificate from the TLS peer: allowed as MutualSSLAuthenticator reports it', async () => {
      const res = await viaPeer('/mtlsonly/v1/x', gold);
      expect(res.allowed).toBe(true);
      expect(res.headers['x-mesh-apim-user']).toBe('gold-client');
      expect(res.headers['x-mesh-apim-subscription-tier']).toBe('Gold');
      expect(res.headers['x-mesh-apim-key-type']).toBe('PRODUCTION');
      expect(res.headers['x-mesh-apim-application-id']).toBeUndefined();
      const ctx = RequestContext.parse(res.requestContext);
      expect(ctx).toMatchObject({ credentialType: 'mtls', application: null, subscriptionTier: 'Gold' });
    });

    it('no certificate: 401 900911', async () => {
      const res = await viaPeer('/mtlsonly/v1/x', null);
      expect(res.httpStatus).toBe(401);
      expect(res.body?.code).toBe('900911');
      expect(res.body?.description).toContain('no client certificate');
    });

    it('the certificate’s tier throttles per certificate and API (900804 over Tiny)', async () => {
      for (let i = 0; i < 3; i++) expect((await viaPeer('/mtlstiny/v1/x', gold)).allowed).toBe(true);
      const over = await viaPeer('/mtlstiny/v1/x', gold);
      expect(over.httpStatus).toBe(429);
      expect(over.body?.code).toBe('900804');
    });
  });

  describe('forged certificates are 401 900911', () => {
    const cases: [string, () => Promise<Awaited<ReturnType<typeof viaPeer>>>, string][] = [
      ['a certificate of another API', () => viaPeer('/mtlsonly/v1/x', other), 'not associated'],
      ['another API’s certificate on that API', () => viaPeer('/other/v1/x', gold), 'not associated'],
      [
        'a garbled PEM',
        () =>
          t.client.check({
            path: '/mtlsonly/v1/x',
            peerCertificate: urlEncodedPem(gold.pem.replace(/\n([A-Za-z0-9+/]{12})/, '\n%%%%%%%%%%%%')),
          }),
        'cannot be parsed',
      ],
      [
        'a client-sent x-forwarded-client-cert while the TLS peer is trusted',
        () => viaPeer('/mtlsonly/v1/x', null, { 'x-forwarded-client-cert': xfccElement(gold) }),
        'no client certificate',
      ],
      [
        'a huge certificate value',
        () => t.client.check({ path: '/mtlsonly/v1/x', peerCertificate: 'A'.repeat(200_000) }),
        'too large',
      ],
    ];
    it.each(cases)('%s', async (_name, send, detail) => {
      const res = await send();
      expect(res.httpStatus).toBe(401);
      expect(res.body?.code).toBe('900911');
      expect(res.body?.description).toContain(detail);
    });

    it('expired, and not yet valid (the API’s own certificate outside its validity)', async () => {
      const at = clock.ms;
      try {
        clock.ms = gold.notAfter + 1000;
        expect((await viaPeer('/mtlsonly/v1/x', gold)).body?.description).toContain('expired');
        clock.ms = gold.notBefore - 1000;
        expect((await viaPeer('/mtlsonly/v1/x', gold)).body?.description).toContain('not yet valid');
      } finally {
        clock.ms = at;
      }
    });
  });

  describe('combined with API keys', () => {
    it('both mandatory: certificate and key together pass; either alone does not', async () => {
      const key = await t.apiKey('demo-app');
      const both = await viaPeer('/mtlsandkey/v1/x', partner, { apikey: key });
      expect(both.allowed).toBe(true);
      expect(both.headers['x-mesh-apim-application-name']).toBe('demo-app');
      expect((await viaPeer('/mtlsandkey/v1/x', null, { apikey: key })).body?.code).toBe('900911');
      expect((await viaPeer('/mtlsandkey/v1/x', partner)).body?.code).toBe('900902');
    });

    it('certificate mandatory, key optional: a valid key names the application, a bad one is ignored', async () => {
      const key = await t.apiKey('demo-app');
      const withKey = await viaPeer('/mtlsorkey/v1/x', partner, { apikey: key });
      expect(withKey.headers['x-mesh-apim-application-name']).toBe('demo-app');
      const badKey = await viaPeer('/mtlsorkey/v1/x', partner, { apikey: `${key}x` });
      expect(badKey.allowed).toBe(true);
      expect(badKey.headers['x-mesh-apim-user']).toBe('partner-client');
      expect((await viaPeer('/mtlsorkey/v1/x', null, { apikey: key })).body?.code).toBe('900911');
    });

    it('key mandatory, certificate optional: the key decides', async () => {
      const key = await t.apiKey('demo-app');
      expect((await viaPeer('/keymtls/v1/x', null, { apikey: key })).allowed).toBe(true);
      expect((await viaPeer('/keymtls/v1/x', partner)).body?.code).toBe('900902');
    });
  });

  describe('x-forwarded-client-cert from a trusted Istio ingress gateway', () => {
    const viaXfcc = (header: string, principal = GATEWAY_PRINCIPAL) =>
      x.client.check({
        path: '/mtlsonly/v1/x',
        headers: { 'x-forwarded-client-cert': header },
        peerPrincipal: principal,
      });

    it('the gateway’s element (the sidecar’s appended one has no Cert): allowed', async () => {
      const res = await viaXfcc(`${xfccElement(gold)},${SIDECAR_XFCC_ELEMENT}`);
      expect(res.allowed).toBe(true);
      expect(res.headers['x-mesh-apim-user']).toBe('gold-client');
    });

    it.each([
      [
        'from a peer that is not the gateway',
        () => viaXfcc(xfccElement(gold), 'spiffe://cluster.local/ns/x/sa/x'),
      ],
      ['with several Cert elements', () => viaXfcc(`${xfccElement(other)},${xfccElement(gold)}`)],
      ['with a Hash that is not its Cert’s', () => viaXfcc(xfccElement(gold, { hash: other.sha256 }))],
      ['a huge header', () => viaXfcc(`${xfccElement(gold)};pad=${'a'.repeat(70_000)}`)],
      [
        'the TLS peer certificate is not read in xfcc mode',
        () => x.client.check({ path: '/mtlsonly/v1/x', peerCertificate: urlEncodedPem(gold.pem) }),
      ],
    ])('%s: 401 900911', async (_n, send) => {
      const res = await send();
      expect(res.httpStatus).toBe(401);
      expect(res.body?.code).toBe('900911');
    });
  });
});
