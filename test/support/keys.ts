/** Builds forged and odd API keys for the credential tests. */
import { createHmac, createSign, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export function wso2Claims(nowMs: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000);
  return {
    sub: 'demo@carbon.super',
    iss: 'mesh-apim-standalone',
    iat,
    exp: iat + 3600,
    jti: randomUUID(),
    keytype: 'PRODUCTION',
    token_type: 'apiKey',
    application: { id: 'demo-app', uuid: 'demo-app', name: 'demo-app', tier: 'Unlimited', owner: 'demo' },
    subscribedAPIs: [],
    tierInfo: {},
    ...overrides,
  };
}

/** Signs claims RS256 with `key` (undefined claim values are dropped). */
export function signRs256(key: KeyObject, kid: string, claims: Record<string, unknown>): Promise<string> {
  const clean = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  return new SignJWT(clean).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(key);
}

export function unsignedToken(kid: string, claims: Record<string, unknown>): string {
  return `${b64({ alg: 'none', typ: 'JWT', kid })}.${b64(claims)}.`;
}

/** Algorithm confusion: HS256 with the RSA public key (PEM text) as the HMAC secret. */
export function hs256WithPublicKey(publicPem: string, kid: string, claims: Record<string, unknown>): string {
  const input = `${b64({ alg: 'HS256', typ: 'JWT', kid })}.${b64(claims)}`;
  const sig = createHmac('sha256', publicPem).update(input).digest('base64url');
  return `${input}.${sig}`;
}

export function otherRsaKey(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}

/**
 * RS256 over a payload given as JSON text, for claims JSON can spell but JSON.stringify cannot
 * write (`"exp":1e309` parses to Infinity).
 */
export function signRs256Raw(key: KeyObject, kid: string, payloadJson: string): string {
  const input = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${Buffer.from(payloadJson).toString('base64url')}`;
  const sig = createSign('RSA-SHA256').update(input).sign(key).toString('base64url');
  return `${input}.${sig}`;
}
