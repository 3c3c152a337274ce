/**
 * Client certificates made the way WSO2's mutual-SSL guide has users make them (openssl: a
 * self-signed `req -x509`, or a CSR signed by the user's own CA with `x509 -req -CA`), and the
 * forms Envoy hands them to ext_authz in: `attributes.source.certificate` (URL-encoded PEM) and an
 * `x-forwarded-client-cert` element (Hash, Cert="<URL-encoded PEM>", Subject, URI).
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfSigned } from './openssl.ts';

export interface ClientCert {
  pem: string;
  file: string;
  notBefore: number;
  notAfter: number;
  sha256: string;
}

const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });

function load(file: string): ClientCert {
  const pem = readFileSync(file, 'utf8');
  const x = new X509Certificate(pem);
  return {
    pem,
    file,
    notBefore: Date.parse(x.validFrom),
    notAfter: Date.parse(x.validTo),
    sha256: createHash('sha256').update(x.raw).digest('hex'),
  };
}

/** `openssl req -x509 -newkey rsa:2048 -nodes -days <days> -subj /CN=<cn>`. */
export function selfSignedClientCert(dir: string, name: string, cn: string, days = 30): ClientCert {
  return load(selfSigned(dir, name, cn, { days, subject: `/O=mesh-apim tests/CN=${cn}` }).cert);
}

/** A CA (`req -x509`) and a client CSR it signs (`x509 -req -CA -CAkey -CAcreateserial`). */
export function caSignedClientCert(dir: string, name: string, cn: string, days = 30): ClientCert {
  const ca = join(dir, `${name}-ca`);
  run([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '60',
    '-subj',
    `/CN=${name} test CA`,
    '-keyout',
    `${ca}.key`,
    '-out',
    `${ca}.crt`,
  ]);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const file = join(dir, `${name}.crt`);
  run(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', key, '-out', csr]);
  run([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    String(days),
    '-out',
    file,
  ]);
  return load(file);
}

/** As Envoy puts the peer certificate in the CheckRequest (URL-encoded PEM). */
export const urlEncodedPem = (pem: string): string => encodeURIComponent(pem);

/** One XFCC element as an Istio ingress gateway (SANITIZE_SET, cert + subject + uri) writes it. */
export function xfccElement(cert: ClientCert, opts: { hash?: string; by?: string } = {}): string {
  const by = opts.by ?? 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
  return `By=${by};Hash=${opts.hash ?? cert.sha256};Cert="${urlEncodedPem(cert.pem)}";Subject="CN=client";URI=`;
}

/** The element an Istio sidecar appends (APPEND_FORWARD) about its peer, the gateway: no Cert. */
export const SIDECAR_XFCC_ELEMENT =
  'By=spiffe://cluster.local/ns/shop/sa/shop;Hash=0000000000000000000000000000000000000000000000000000000000000000;Subject="";URI=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';

export const GATEWAY_PRINCIPAL =
  'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
