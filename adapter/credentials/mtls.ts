/**
 * Mutual TLS as an API security scheme, as WSO2's gateways do it. Pure (node:crypto only).
 *
 * - Which schemes combine how: carbon-apimgt `APIAuthenticationHandler.initializeAuthenticators`
 *   (`mutualssl` enables the MutualSSLAuthenticator; it is mandatory with `mutualssl_mandatory` or
 *   when the API enables no application scheme; application security is mandatory with
 *   `oauth_basic_auth_api_key_mandatory` or when mTLS is not enabled). Choreo Connect's `AuthFilter`
 *   follows the same rule: a mandatory mTLS failure stops, an optional one is ignored.
 * - Which certificate: Choreo Connect's `MTLSAuthenticator` reads the downstream TLS peer's
 *   certificate that Envoy hands to ext_authz (URL-encoded PEM, `MtlsUtils.getCertContent`), or a
 *   header set by a trusted proxy. Here: `peer` = CheckRequest `attributes.source.certificate`;
 *   `xfcc` = the `Cert=` of `x-forwarded-client-cert`, believed only from a configured TLS peer.
 * - How it matches: `MtlsUtils.getMatchedCertificateAliasFromTrustStore` (KeyStore
 *   `getCertificateAlias`: the very certificate, by encoding) -> the alias, whose tier
 *   (`getMtlsCertificateTiers`) throttles the request. We match by SHA-256 of the DER.
 * - What it reports: carbon-apimgt `MutualSSLAuthenticator.setAuthContext`: user = the subject CN,
 *   key type PRODUCTION, tier = the certificate's tier, stop on quota reach, no application and no
 *   resource-level throttling (VerbInfoDTO throttling Unlimited).
 */
import { createHash, X509Certificate } from 'node:crypto';

/** Which presented certificate the deployment trusts (adapter.clientCertificateSource). */
export type ClientCertificateSource = 'peer' | 'xfcc';

export interface ClientCertOptions {
  clientCertificateSource: ClientCertificateSource;
  /** TLS peer principals (Istio: SPIFFE ids of the ingress gateway) whose XFCC header is believed. */
  xfccTrustedPrincipals: ReadonlySet<string>;
}

/** What the check got about the client's certificate: raw strings, parsed only for mTLS APIs. */
export interface ClientCertificateInput {
  source: ClientCertificateSource;
  /** attributes.source.certificate: URL-encoded PEM of the TLS peer; '' when Envoy sent none. */
  peer: string;
  /** attributes.source.principal: the TLS peer's URI SAN (Istio: its SPIFFE id); '' when none. */
  principal: string;
  xfccTrustedPrincipals: ReadonlySet<string>;
}

export function clientCertificateInput(
  source: { certificate?: string; principal?: string } | null | undefined,
  options: ClientCertOptions,
): ClientCertificateInput {
  return {
    source: options.clientCertificateSource,
    peer: source?.certificate ?? '',
    principal: source?.principal ?? '',
    xfccTrustedPrincipals: options.xfccTrustedPrincipals,
  };
}

export const XFCC_HEADER = 'x-forwarded-client-cert';
/** A client certificate is 1-3 KB of PEM (URL-encoded ~1.3x); chains are not read. */
export const MAX_CERTIFICATE_CHARS = 16 * 1024;
/** An XFCC header longer than this is refused before it is split. */
export const MAX_XFCC_CHARS = 64 * 1024;

/** One of an API's client certificates (compiled from standalone `clientCertificates`). */
export interface ApiClientCertificate {
  alias: string;
  /** Subscription policy that throttles requests made with this certificate. */
  tier: string;
  /** SHA-256 of the DER, lower-case hex. */
  sha256: string;
  subject: string;
  notBefore: number;
  notAfter: number;
}

/**
 * - `mandatory`: the certificate decides (an application credential, when valid, supplies the
 *   identity instead; an absent or failing one is ignored, as WSO2 ignores a non-mandatory one);
 * - `with-application`: the certificate and the application credential must both pass;
 * - `optional`: the application credential decides; the certificate is not needed.
 */
export type MutualTlsMode = 'mandatory' | 'with-application' | 'optional';

export interface MutualTlsPolicy {
  mode: MutualTlsMode;
  /** By sha256. */
  certificates: ReadonlyMap<string, ApiClientCertificate>;
}

/** WSO2's rule (APIAuthenticationHandler.initializeAuthenticators) over an API's securityScheme. */
export function mutualTlsMode(schemes: ReadonlySet<string>): MutualTlsMode | null {
  if (!schemes.has('mutualssl')) return null;
  const appSchemes = schemes.has('oauth2') || schemes.has('api_key') || schemes.has('basic_auth');
  const mtlsMandatory = schemes.has('mutualssl_mandatory') || !appSchemes;
  const appMandatory = schemes.has('oauth_basic_auth_api_key_mandatory');
  if (mtlsMandatory && appMandatory) return 'with-application';
  if (appMandatory) return 'optional';
  // Neither marked mandatory: WSO2 lets the first authenticator that is not "missing" decide, and a
  // missing certificate is not "missing credentials" (900901), so the certificate decides.
  return 'mandatory';
}

const sha256 = (der: Buffer): string => createHash('sha256').update(der).digest('hex');

/** The CN of a Node subject ("C=LK\nO=WSO2\nCN=client"), else the whole subject on one line. */
function commonName(subject: string): string {
  const lines = subject.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (l.startsWith('CN=')) return l.slice(3);
  }
  return lines.join(', ');
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Exactly one PEM certificate block, parsed; or why not. Never throws. */
export function parseCertificate(pem: string): X509Certificate | { error: string } {
  if (pem.length > MAX_CERTIFICATE_CHARS) return { error: 'TOO_LARGE' };
  const blocks = pem.match(PEM_BLOCK);
  if (!blocks) return { error: 'NOT_PEM' };
  if (blocks.length > 1) return { error: 'SEVERAL_CERTIFICATES' };
  try {
    return new X509Certificate(blocks[0]!);
  } catch {
    return { error: 'MALFORMED' };
  }
}

/** Compiles one configured certificate; throws a plain message (the compiler adds the path). */
export function compileClientCertificate(alias: string, tier: string, pem: string): ApiClientCertificate {
  const x = parseCertificate(pem);
  if ('error' in x) throw new Error(`not one PEM X.509 certificate (${x.error})`);
  return {
    alias,
    tier,
    sha256: sha256(x.raw),
    subject: commonName(x.subject),
    notBefore: Date.parse(x.validFrom),
    notAfter: Date.parse(x.validTo),
  };
}

/** Splits on `sep` outside double quotes (XFCC: `,` between elements, `;` between pairs). */
function splitUnquoted(s: string, sep: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === sep && !quoted) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

type Presented = { pem: string; hash: string | null } | { error: string } | null;

function decode(encoded: string): string | null {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return null;
  }
}

/**
 * The Cert of the XFCC element the trusted gateway set. A gateway with `forwardClientCertDetails:
 * SANITIZE_SET` sends exactly one element; the sidecar (APPEND_FORWARD) appends one describing the
 * gateway, without Cert. Two elements with a Cert mean someone else wrote one: refused.
 */
function fromXfcc(header: string): Presented {
  if (header.length > MAX_XFCC_CHARS) return { error: 'XFCC_TOO_LARGE' };
  let found: { pem: string; hash: string | null } | null = null;
  for (const element of splitUnquoted(header, ',')) {
    let cert: string | null = null;
    let hash: string | null = null;
    for (const pair of splitUnquoted(element, ';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const key = pair.slice(0, eq).trim().toLowerCase();
      if (key === 'cert') cert = unquote(pair.slice(eq + 1).trim());
      else if (key === 'hash') hash = unquote(pair.slice(eq + 1).trim()).toLowerCase();
    }
    if (cert === null) continue;
    if (found) return { error: 'XFCC_SEVERAL_CERTIFICATES' };
    const pem = decode(cert);
    if (pem === null) return { error: 'MALFORMED_ENCODING' };
    found = { pem, hash };
  }
  return found;
}

function presented(
  input: ClientCertificateInput | undefined,
  headers: Readonly<Record<string, string>>,
): Presented {
  if (!input) return null;
  if (input.source === 'peer') {
    if (!input.peer) return null;
    if (input.peer.length > MAX_CERTIFICATE_CHARS * 3) return { error: 'TOO_LARGE' };
    const pem = decode(input.peer);
    return pem === null ? { error: 'MALFORMED_ENCODING' } : { pem, hash: null };
  }
  const header = headers[XFCC_HEADER];
  if (header === undefined || header === '') return null;
  // Believed only from the gateway that sanitises it: anyone else reaching this Envoy could send a
  // copy of a (public) client certificate.
  if (!input.xfccTrustedPrincipals.has(input.principal)) return { error: 'XFCC_UNTRUSTED_PEER' };
  return fromXfcc(header);
}

export type MtlsVerification =
  | { ok: true; certificate: ApiClientCertificate }
  | { ok: false; reason: string; detail: string };

const DETAIL: Record<string, string> = {
  CERTIFICATE_MISSING: 'no client certificate was presented',
  CERTIFICATE_TOO_LARGE: 'the client certificate is too large',
  CERTIFICATE_XFCC_TOO_LARGE: 'the x-forwarded-client-cert header is too large',
  CERTIFICATE_NOT_PEM: 'the client certificate is not a PEM certificate',
  CERTIFICATE_SEVERAL_CERTIFICATES: 'more than one certificate was presented',
  CERTIFICATE_XFCC_SEVERAL_CERTIFICATES: 'the x-forwarded-client-cert header carries several certificates',
  CERTIFICATE_MALFORMED: 'the client certificate cannot be parsed',
  CERTIFICATE_MALFORMED_ENCODING: 'the client certificate is not correctly URL-encoded',
  CERTIFICATE_XFCC_UNTRUSTED_PEER: 'the x-forwarded-client-cert header does not come from a trusted gateway',
  CERTIFICATE_XFCC_HASH_MISMATCH: 'the x-forwarded-client-cert Hash does not match its Cert',
  CERTIFICATE_NOT_ASSOCIATED: 'the client certificate is not associated with this API',
  CERTIFICATE_NOT_YET_VALID: 'the client certificate is not yet valid',
  CERTIFICATE_EXPIRED: 'the client certificate has expired',
};

function fail(reason: string): MtlsVerification {
  const r = `CERTIFICATE_${reason}`;
  return { ok: false, reason: r, detail: DETAIL[r] ?? r };
}

/** Verifies the presented certificate against the API's. Never throws: bad input is a reason. */
export function verifyClientCertificate(
  input: ClientCertificateInput | undefined,
  headers: Readonly<Record<string, string>>,
  policy: MutualTlsPolicy,
  now: number,
): MtlsVerification {
  const p = presented(input, headers);
  if (p === null) return fail('MISSING');
  if ('error' in p) return fail(p.error);
  const x = parseCertificate(p.pem);
  if ('error' in x) return fail(x.error);
  const digest = sha256(x.raw);
  if (p.hash !== null && p.hash !== digest) return fail('XFCC_HASH_MISMATCH');
  const certificate = policy.certificates.get(digest);
  if (!certificate) return fail('NOT_ASSOCIATED');
  if (now < certificate.notBefore) return fail('NOT_YET_VALID');
  if (now > certificate.notAfter) return fail('EXPIRED');
  return { ok: true, certificate };
}
