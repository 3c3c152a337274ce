import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSPKI, generateKeyPair, importPKCS8, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ADAPTER_DEFAULTS } from '../../../adapter/config.ts';
import { CertificateKeySource } from '../../../adapter/credentials/jwks.ts';
import { OAuthJwtVerifier } from '../../../adapter/credentials/oauth-jwt.ts';
import { compileSnapshot } from '../../../adapter/snapshot/compile.ts';
import { hasOpenssl, selfSigned } from '../../support/openssl.ts';

const NOW = Date.UTC(2030, 0, 1);
const snapshot = compileSnapshot(
  {
    applications: [{ name: 'demo-app' }],
    keyMappings: [{ consumerKey: 'ck', application: 'demo-app', keyManager: 'km' }],
  },
  { source: 'test' },
);

function request(token: string) {
  return {
    requestId: 'r',
    method: 'GET',
    host: 'h',
    path: '/x',
    query: new Map(),
    rawQueryNames: new Map(),
    headers: { authorization: `Bearer ${token}` },
    clientIp: null,
    contextExtensions: {},
    receivedAt: NOW,
  };
}

async function verifyWith(pem: string, privateKey: Parameters<SignJWT['sign']>[0]) {
  const verifier = new OAuthJwtVerifier({
    cacheMaxBytes: ADAPTER_DEFAULTS.credentialCacheMaxBytes,
    issuers: [
      {
        issuer: 'https://idp.test',
        keyManager: 'km',
        keys: new CertificateKeySource(pem),
        audience: [],
        algorithms: ['RS256'],
        clockSkewSeconds: 0,
        consumerKeyClaim: 'client_id',
      },
    ],
  });
  const token = await new SignJWT({ client_id: 'ck', iss: 'https://idp.test', exp: NOW / 1000 + 60 })
    .setProtectedHeader({ alg: 'RS256', kid: 'whatever' })
    .sign(privateKey);
  return verifier.verify(request(token), snapshot, NOW);
}

describe('issuer configured with a certificate instead of a JWKS URL', () => {
  it('verifies with a PEM public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const result = await verifyWith(await exportSPKI(publicKey), privateKey);
    expect(result).toMatchObject({ status: 'valid', application: { by: 'consumer-key', consumerKey: 'ck' } });
    const other = await generateKeyPair('RS256');
    expect(await verifyWith(await exportSPKI(publicKey), other.privateKey)).toMatchObject({
      status: 'invalid',
      reason: 'SIGNATURE_INVALID',
    });
  });

  it.skipIf(!hasOpenssl)('verifies with a PEM X.509 certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cert-'));
    try {
      const { key: keyFile, cert } = selfSigned(dir, 'idp', 'idp.test');
      const key = await importPKCS8(readFileSync(keyFile, 'utf8'), 'RS256');
      const result = await verifyWith(readFileSync(cert, 'utf8'), key);
      expect(result.status).toBe('valid');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
