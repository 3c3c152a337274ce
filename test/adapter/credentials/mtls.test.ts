/**
 * Client-certificate verification (adapter/credentials/mtls.ts) against WSO2's rules:
 * - scheme combination: wso2/carbon-apimgt APIAuthenticationHandler.initializeAuthenticators;
 * - the presented certificate: wso2/product-microgateway MTLSAuthenticator + MtlsUtils.getCertContent
 *   (URL-encoded PEM from Envoy, BEGIN/END CERTIFICATE required);
 * - the match: MtlsUtils.getMatchedCertificateAliasFromTrustStore (the very certificate) -> alias
 *   and tier (getMtlsCertificateTiers); identity: carbon-apimgt MutualSSLAuthenticator (CN).
 * Certificates are made as WSO2's mutual-SSL guide has users make them (test/support/client-certs.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientCertificateInput,
  compileClientCertificate,
  MAX_XFCC_CHARS,
  type MutualTlsPolicy,
  mutualTlsMode,
  verifyClientCertificate,
} from '../../../adapter/credentials/mtls.ts';
import { compileSnapshot } from '../../../adapter/snapshot/compile.ts';
import { loadStandaloneData } from '../../../adapter/standalone/source.ts';
import { loadConfig } from '../../../common/config/index.ts';
import {
  type ClientCert,
  caSignedClientCert,
  GATEWAY_PRINCIPAL,
  SIDECAR_XFCC_ELEMENT,
  selfSignedClientCert,
  urlEncodedPem,
  xfccElement,
} from '../../support/client-certs.ts';
import { hasOpenssl } from '../../support/openssl.ts';

const peer = (pem: string, principal = ''): ClientCertificateInput => ({
  source: 'peer',
  peer: urlEncodedPem(pem),
  principal,
  xfccTrustedPrincipals: new Set([GATEWAY_PRINCIPAL]),
});
const viaXfcc = (principal = GATEWAY_PRINCIPAL): ClientCertificateInput => ({
  source: 'xfcc',
  peer: '',
  principal,
  xfccTrustedPrincipals: new Set([GATEWAY_PRINCIPAL]),
});

describe('mutualTlsMode (APIAuthenticationHandler.initializeAuthenticators)', () => {
  const mode = (...s: string[]) => mutualTlsMode(new Set(s));
  it('no mutualssl: off', () => expect(mode('oauth2', 'api_key')).toBeNull());
  it('mutualssl alone is mandatory (no application scheme)', () =>
    expect(mode('mutualssl')).toBe('mandatory'));
  it('mutualssl_mandatory + an optional application scheme: the certificate decides', () =>
    expect(mode('mutualssl', 'mutualssl_mandatory', 'oauth2')).toBe('mandatory'));
  it('both mandatory: both must pass', () =>
    expect(mode('mutualssl', 'mutualssl_mandatory', 'api_key', 'oauth_basic_auth_api_key_mandatory')).toBe(
      'with-application',
    ));
  it('application mandatory, mTLS optional: the application credential decides', () =>
    expect(mode('mutualssl', 'mutualssl_optional', 'oauth2', 'oauth_basic_auth_api_key_mandatory')).toBe(
      'optional',
    ));
});

describe.skipIf(!hasOpenssl)('verifyClientCertificate', () => {
  let gold: ClientCert;
  let caSigned: ClientCert;
  let stranger: ClientCert;
  let policy: MutualTlsPolicy;
  let now: number;
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'mtls-unit-'));
    gold = selfSignedClientCert(dir, 'gold', 'gold-client');
    caSigned = caSignedClientCert(dir, 'partner', 'partner-client');
    stranger = selfSignedClientCert(dir, 'stranger', 'gold-client');
    policy = {
      mode: 'mandatory',
      certificates: new Map(
        [
          compileClientCertificate('gold', 'Gold', gold.pem),
          compileClientCertificate('partner', 'Silver', caSigned.pem),
        ].map((c) => [c.sha256, c]),
      ),
    };
    now = gold.notBefore + 60_000;
  });
  const verify = (
    input: ClientCertificateInput | undefined,
    headers: Record<string, string> = {},
    at = now,
  ) => verifyClientCertificate(input, headers, policy, at);

  it('the TLS peer certificate of the API: alias, tier and the subject CN', () => {
    const v = verify(peer(gold.pem));
    expect(v).toMatchObject({
      ok: true,
      certificate: { alias: 'gold', tier: 'Gold', subject: 'gold-client' },
    });
  });

  it('a CA-signed client certificate matches as itself (the very certificate, not its CA)', () => {
    expect(verify(peer(caSigned.pem))).toMatchObject({
      ok: true,
      certificate: { alias: 'partner', tier: 'Silver' },
    });
  });

  it('re-wrapped PEM lines decode to the same DER: accepted', () => {
    const body = gold.pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const rewrapped = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,76}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
    expect(verify(peer(rewrapped)).ok).toBe(true);
  });

  it.each([
    ['no certificate at all', undefined, 'CERTIFICATE_MISSING'],
    ['an empty peer certificate', { ...peer(''), peer: '' }, 'CERTIFICATE_MISSING'],
  ])('%s: denied with a reason', (_n, input, reason) => {
    expect(verify(input as ClientCertificateInput | undefined)).toMatchObject({ ok: false, reason });
  });

  describe('forged and broken certificates never pass and never throw', () => {
    it('another certificate with the same subject (not associated with the API)', () => {
      expect(verify(peer(stranger.pem))).toMatchObject({ ok: false, reason: 'CERTIFICATE_NOT_ASSOCIATED' });
    });
    it('expired and not yet valid (the API’s own certificate outside its validity)', () => {
      expect(verify(peer(gold.pem), {}, gold.notAfter + 1000)).toMatchObject({
        reason: 'CERTIFICATE_EXPIRED',
      });
      expect(verify(peer(gold.pem), {}, gold.notBefore - 1000)).toMatchObject({
        reason: 'CERTIFICATE_NOT_YET_VALID',
      });
    });
    it('a garbled base64 body', () => {
      const garbled = gold.pem.replace(/\n([A-Za-z0-9+/]{10})/, '\n!!!!!!!!!!');
      expect(verify(peer(garbled))).toMatchObject({ ok: false, reason: 'CERTIFICATE_MALFORMED' });
    });
    it('a flipped DER byte (re-encoded certificate): parse error or no match, never a pass', () => {
      const body = Buffer.from(gold.pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
      body[body.length - 5]! ^= 0x01;
      const pem = `-----BEGIN CERTIFICATE-----\n${body.toString('base64')}\n-----END CERTIFICATE-----\n`;
      const v = verify(peer(pem));
      expect(v.ok).toBe(false);
      expect(['CERTIFICATE_MALFORMED', 'CERTIFICATE_NOT_ASSOCIATED']).toContain(!v.ok && v.reason);
    });
    it('not PEM, a private key, two certificates, bad URL encoding, a huge value', () => {
      expect(verify(peer('hello'))).toMatchObject({ reason: 'CERTIFICATE_NOT_PEM' });
      expect(verify(peer('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----'))).toMatchObject({
        reason: 'CERTIFICATE_NOT_PEM',
      });
      expect(verify(peer(stranger.pem + gold.pem))).toMatchObject({
        reason: 'CERTIFICATE_SEVERAL_CERTIFICATES',
      });
      expect(verify({ ...peer(''), peer: '%E0%A4%A' })).toMatchObject({
        reason: 'CERTIFICATE_MALFORMED_ENCODING',
      });
      expect(verify({ ...peer(''), peer: 'A'.repeat(1_000_000) })).toMatchObject({
        reason: 'CERTIFICATE_TOO_LARGE',
      });
    });
  });

  describe('x-forwarded-client-cert', () => {
    it('from the trusted gateway, with the sidecar’s own element appended: accepted', () => {
      const header = `${xfccElement(gold)},${SIDECAR_XFCC_ELEMENT}`;
      expect(verify(viaXfcc(), { 'x-forwarded-client-cert': header })).toMatchObject({ ok: true });
    });
    it('from any other TLS peer: not believed', () => {
      const h = { 'x-forwarded-client-cert': xfccElement(gold) };
      expect(verify(viaXfcc('spiffe://cluster.local/ns/shop/sa/attacker'), h)).toMatchObject({
        reason: 'CERTIFICATE_XFCC_UNTRUSTED_PEER',
      });
      expect(verify(viaXfcc(''), h)).toMatchObject({ reason: 'CERTIFICATE_XFCC_UNTRUSTED_PEER' });
    });
    it('sent by the client while the deployment trusts the TLS peer: ignored (the peer has none)', () => {
      const h = { 'x-forwarded-client-cert': xfccElement(gold) };
      expect(verify({ ...peer(''), peer: '' }, h)).toMatchObject({ reason: 'CERTIFICATE_MISSING' });
    });
    it('several elements with a Cert: refused, whichever is genuine', () => {
      const h = { 'x-forwarded-client-cert': `${xfccElement(stranger)},${xfccElement(gold)}` };
      expect(verify(viaXfcc(), h)).toMatchObject({ reason: 'CERTIFICATE_XFCC_SEVERAL_CERTIFICATES' });
    });
    it('a Hash that is not the Cert’s', () => {
      const h = { 'x-forwarded-client-cert': xfccElement(gold, { hash: stranger.sha256 }) };
      expect(verify(viaXfcc(), h)).toMatchObject({ reason: 'CERTIFICATE_XFCC_HASH_MISMATCH' });
    });
    it('a huge header is refused before it is split', () => {
      const h = { 'x-forwarded-client-cert': `${xfccElement(gold)};x=${'a'.repeat(MAX_XFCC_CHARS)}` };
      expect(verify(viaXfcc(), h)).toMatchObject({ reason: 'CERTIFICATE_XFCC_TOO_LARGE' });
    });
    it('no Cert in any element: missing', () => {
      expect(verify(viaXfcc(), { 'x-forwarded-client-cert': SIDECAR_XFCC_ELEMENT })).toMatchObject({
        reason: 'CERTIFICATE_MISSING',
      });
    });
  });

  it('compiling a configured certificate that is not one PEM certificate throws a plain message', () => {
    expect(() => compileClientCertificate('x', 'Gold', 'nope')).toThrow(/not one PEM X.509 certificate/);
  });
});

describe.skipIf(!hasOpenssl)('clientCertificates in the control-plane data', () => {
  let cert: ClientCert;
  beforeAll(() => {
    cert = selfSignedClientCert(mkdtempSync(join(tmpdir(), 'mtls-compile-')), 'c', 'compile-client');
  });
  const api = (clientCertificates: unknown[], securitySchemes = ['mutualssl']) => ({
    apis: [
      {
        name: 'a',
        version: 'v1',
        context: '/a',
        securitySchemes,
        clientCertificates,
        resources: [{ method: 'GET', path: '/*' }],
      },
    ],
  });
  const compile = (data: object) => compileSnapshot(data, { source: 'test.yaml' });

  it('compiles into the API’s mutual-TLS policy, keyed by the certificate digest', () => {
    const s = compile(api([{ alias: 'c', certificate: cert.pem, tier: 'Silver' }]));
    const mtls = s.apis.get('a-v1')!.mutualTls!;
    expect(mtls.mode).toBe('mandatory');
    expect(mtls.certificates.get(cert.sha256)).toMatchObject({
      alias: 'c',
      tier: 'Silver',
      subject: 'compile-client',
    });
  });

  it.each([
    [
      'not a certificate',
      [{ alias: 'c', certificate: 'nope' }],
      /clientCertificates\[0\]: not one PEM X.509 certificate/,
    ],
    [
      'an unknown tier',
      [{ alias: 'c', certificate: '', tier: 'Platinum' }],
      /clientCertificates\[0\]\.tier: unknown subscription policy "Platinum"/,
    ],
    [
      'a duplicate alias',
      [
        { alias: 'c', certificate: '' },
        { alias: 'c', certificate: '' },
      ],
      /duplicate alias "c"/,
    ],
    [
      'the same certificate twice',
      [
        { alias: 'c', certificate: '' },
        { alias: 'd', certificate: '' },
      ],
      /the same certificate as alias "c"/,
    ],
    [
      'both certificate and file',
      [{ alias: 'c', certificate: '', file: 'c.crt' }],
      /exactly one of certificate, file/,
    ],
  ])('%s: a snapshot error with the path', (_n, certs, message) => {
    const filled = certs.map((c) => ({
      ...c,
      certificate:
        (c as { certificate: string }).certificate === ''
          ? cert.pem
          : (c as { certificate: string }).certificate,
    }));
    expect(() => compile(api(filled))).toThrow(message);
  });

  it('no mutualssl: no policy (certificates listed are not consulted)', () => {
    const s = compile(api([{ alias: 'c', certificate: cert.pem }], ['oauth2', 'api_key']));
    expect(s.apis.get('a-v1')!.mutualTls).toBeNull();
  });
});

describe.skipIf(!hasOpenssl)('standalone `file:`', () => {
  it('is read relative to the YAML file that names it; a missing file names its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtls-file-'));
    const cert = selfSignedClientCert(dir, 'client', 'file-client');
    const yaml = (file: string) =>
      `apis:\n  - { name: a, version: v1, context: /a, securitySchemes: [mutualssl], clientCertificates: [{ alias: c, file: ${file} }], resources: [{ method: GET, path: /* }] }\n`;
    writeFileSync(join(dir, 'ok.yaml'), yaml('client.crt'));
    const { data } = loadStandaloneData(join(dir, 'ok.yaml'), null);
    expect(data.apis[0]!.clientCertificates[0]!.certificate).toBe(cert.pem);
    writeFileSync(join(dir, 'bad.yaml'), yaml('missing.crt'));
    expect(() => loadStandaloneData(join(dir, 'bad.yaml'), null)).toThrow(
      /clientCertificates\[0\]\.file: cannot read .*missing\.crt/,
    );
  });
});

describe('client certificate settings', () => {
  it('xfcc without trusted principals fails at start', () => {
    expect(() => loadConfig({ env: {}, overrides: { 'adapter.clientCertificateSource': 'xfcc' } })).toThrow(
      /xfccTrustedPrincipals is empty/,
    );
    const c = loadConfig({
      env: {
        MESH_APIM_ADAPTER_CLIENT_CERTIFICATE_SOURCE: 'xfcc',
        MESH_APIM_ADAPTER_XFCC_TRUSTED_PRINCIPALS: 'spiffe://a,spiffe://b',
      },
    });
    expect(c.adapter.xfccTrustedPrincipals).toEqual(['spiffe://a', 'spiffe://b']);
  });
});
