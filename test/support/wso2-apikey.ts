/**
 * API keys built the way WSO2 API Manager builds them, following wso2/carbon-apimgt
 * `DefaultApiKeyGenerator` (org.wso2.carbon.apimgt.impl.token): header {typ, alg, x5t, kid},
 * claims sub (user with tenant suffix), jti, iss, iat, `exp` only when the validity is not -1 (the
 * Developer Portal default -1 leaves it out), subscribedAPIs, tierInfo, application (numeric id +
 * uuid), keytype, token_type "apiKey", permittedIP / permittedReferer when set. Segments are
 * encoded with java.util.Base64.getUrlEncoder(), which pads with '='; signature SHA256withRSA.
 */
import { createHash, type KeyObject, randomUUID, sign } from 'node:crypto';

export interface Wso2ApiKeyOptions {
  kid: string;
  privateKey: KeyObject;
  nowMs: number;
  /** Seconds; -1 (the Developer Portal default) = no exp claim. */
  validityPeriod?: number;
  endUserName?: string;
  issuer?: string;
  application?: { id: number | string; uuid: string; name: string; tier: string; owner: string };
  keyType?: 'PRODUCTION' | 'SANDBOX';
  subscribedApis?: Record<string, unknown>[];
  tierInfo?: Record<string, unknown>;
  permittedIP?: string;
  permittedReferer?: string;
  jti?: string;
}

/** java.util.Base64.getUrlEncoder(): the URL-safe alphabet, with padding. */
const javaUrlEncode = (b: Buffer) => b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');

export function wso2ApiKey(o: Wso2ApiKeyOptions): string {
  const currentTime = Math.floor(o.nowMs / 1000);
  const validity = o.validityPeriod ?? -1;
  const header = {
    typ: 'JWT',
    alg: 'RS256',
    x5t: javaUrlEncode(Buffer.from(createHash('sha1').update(o.kid).digest('hex'))),
    kid: o.kid,
  };
  const app = o.application ?? {
    id: 1,
    uuid: 'demo-app',
    name: 'demo-app',
    tier: 'Unlimited',
    owner: 'admin',
  };
  const body: Record<string, unknown> = {
    sub: o.endUserName ?? 'admin@carbon.super',
    jti: o.jti ?? randomUUID(),
    iss: o.issuer ?? 'mesh-apim-standalone',
    iat: currentTime,
  };
  if (validity !== -1) body.exp = currentTime + validity;
  body.subscribedAPIs = o.subscribedApis ?? [];
  body.tierInfo = o.tierInfo ?? {};
  body.application = app;
  body.keytype = o.keyType ?? 'PRODUCTION';
  body.token_type = 'apiKey';
  if (o.permittedIP !== undefined) body.permittedIP = o.permittedIP;
  if (o.permittedReferer !== undefined) body.permittedReferer = o.permittedReferer;
  const assertion = `${javaUrlEncode(Buffer.from(JSON.stringify(header)))}.${javaUrlEncode(
    Buffer.from(JSON.stringify(body)),
  )}`;
  return `${assertion}.${javaUrlEncode(sign('sha256', Buffer.from(assertion), o.privateKey))}`;
}

/** The third segment: what WSO2's gateway (ApiKeyAuthenticator) keys revocations by in older releases. */
export const signatureOf = (token: string) => token.split('.')[2]!;
export const jtiOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
