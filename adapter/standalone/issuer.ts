/**
 * Standalone mode is its own API key issuer: an RS256 key pair created on first start in the data
 * directory, and WSO2-format API keys signed with it (`mesh-apim apikey`).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
} from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { errorMessage } from '../../common/errors.ts';
import { KeyIssuerError } from '../errors.ts';
import { trustedKeyFromPem } from '../snapshot/compile.ts';
import type { Snapshot, TrustedKey } from '../snapshot/types.ts';

export const STANDALONE_ISSUER = 'mesh-apim-standalone';
export const SIGNING_KEY_FILE = 'standalone-signing-key.pem';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicPem: string;
  kid: string;
  trusted: TrustedKey;
}

/** Reads the signing key from dataDir, creating it first if absent (race-safe: exclusive create). */
export function ensureSigningKey(dataDir: string): SigningKey {
  const file = join(dataDir, SIGNING_KEY_FILE);
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new KeyIssuerError(`cannot read the signing key ${file}: ${errorMessage(err)}`, { cause: err });
    }
    try {
      mkdirSync(dataDir, { recursive: true });
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') pem = readFileSync(file, 'utf8');
      else
        throw new KeyIssuerError(`cannot create the signing key ${file}: ${errorMessage(e)}`, { cause: e });
    }
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new KeyIssuerError(`${file} is not a PEM private key: ${errorMessage(err)}`, { cause: err });
  }
  const publicKey = createPublicKey(privateKey);
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const trusted = trustedKeyFromPem(publicPem, 'standalone', STANDALONE_ISSUER);
  return { privateKey, publicKey, publicPem, kid: trusted.kid, trusted };
}

export interface IssueApiKeyOptions {
  /** Application id or name. */
  application: string;
  /** Seconds; default one day. */
  validitySeconds?: number;
  keyType?: 'PRODUCTION' | 'SANDBOX';
  permittedIP?: string;
  permittedReferer?: string;
  /** ms since epoch; default now. */
  now?: number;
}

/** Signs a WSO2-format API key for an application of the snapshot (throws KeyIssuerError if unknown). */
export async function issueApiKey(
  snapshot: Snapshot,
  key: SigningKey,
  options: IssueApiKeyOptions,
): Promise<string> {
  const app = snapshot.applications.get(options.application);
  if (!app) {
    const known = [...new Set([...snapshot.applications.values()].map((a) => a.name))].join(', ');
    throw new KeyIssuerError(`unknown application "${options.application}" (known: ${known || 'none'})`);
  }
  const validity = options.validitySeconds ?? 86_400;
  if (!Number.isInteger(validity) || validity <= 0) {
    throw new KeyIssuerError(`validity must be a positive number of seconds, got ${options.validitySeconds}`);
  }
  const nowSec = Math.floor((options.now ?? Date.now()) / 1000);
  const subscribedAPIs = [];
  const tierInfo: Record<string, unknown> = {};
  for (const sub of snapshot.subscriptions.values()) {
    if (sub.applicationId !== app.id) continue;
    const api = snapshot.apis.get(sub.apiId);
    if (!api) continue;
    subscribedAPIs.push({
      subscriberTenantDomain: api.info.creatorTenantDomain,
      name: api.info.name,
      context: api.versionedContext,
      publisher: api.info.creator,
      version: api.info.version,
      subscriptionTier: sub.tier,
    });
    const policy = snapshot.subscriptionPolicies.get(sub.tier);
    if (policy) {
      tierInfo[sub.tier] = {
        tierQuotaType: 'requestCount',
        graphQLMaxDepth: 0,
        graphQLMaxComplexity: 0,
        stopOnQuotaReach: policy.stopOnQuotaReach,
        spikeArrestLimit: policy.burst?.limit ?? 0,
        spikeArrestUnit: policy.burst ? (policy.burst.windowMs === 1000 ? 'sec' : 'min') : null,
      };
    }
  }
  const claims: Record<string, unknown> = {
    keytype: options.keyType ?? 'PRODUCTION',
    token_type: 'apiKey',
    application: { id: app.id, uuid: app.uuid, name: app.name, tier: app.tier, owner: app.owner },
    subscribedAPIs,
    tierInfo,
  };
  if (options.permittedIP) claims.permittedIP = options.permittedIP;
  if (options.permittedReferer) claims.permittedReferer = options.permittedReferer;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
    .setSubject(`${app.owner}@carbon.super`)
    .setIssuer(STANDALONE_ISSUER)
    .setIssuedAt(nowSec)
    .setExpirationTime(nowSec + validity)
    .setJti(randomUUID())
    .sign(key.privateKey);
}
