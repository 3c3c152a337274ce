/**
 * adapter/credentials/apikey.ts on its own: the WSO2 key shape (keys built as carbon-apimgt's
 * DefaultApiKeyGenerator builds them, test/support/wso2-apikey.ts), the signature and the expiry,
 * the carrier (per-API apiKeyHeader), the verified-key cache; and every claim the verifier reads,
 * present with an unexpected type, denies the key (issue 19 items 3 and 9): read leniently, each
 * would fail open somewhere.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { API_KEY_DEFAULTS, ApiKeyVerifier } from '../../../adapter/credentials/apikey.ts';
import type { CheckRequest } from '../../../adapter/domain.ts';
import { compileSnapshot, trustedKeyFromPem } from '../../../adapter/snapshot/compile.ts';
import {
  hs256WithPublicKey,
  otherRsaKey,
  signRs256,
  signRs256Raw,
  unsignedToken,
  wso2Claims,
} from '../../support/keys.ts';
import { jtiOf, signatureOf, wso2ApiKey } from '../../support/wso2-apikey.ts';

const NOW = Date.UTC(2030, 0, 1);
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'claims-test';
const snapshot = compileSnapshot(
  { apis: [] },
  {
    source: 'test',
    extraKeys: [
      trustedKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string, 't', null, KID),
    ],
  },
);

function request(apikey: string, path = '/x'): CheckRequest {
  return carried({ apikey }, new Map(), path);
}

function carried(headers: Record<string, string>, query: Map<string, string[]>, path = '/x'): CheckRequest {
  return {
    requestId: 'r',
    method: 'GET',
    host: 'h',
    path,
    query,
    rawQueryNames: new Map([...query.keys()].map((k) => [k, [k]])),
    headers,
    clientIp: '10.0.0.1',
    contextExtensions: {},
    receivedAt: NOW,
  };
}

const verify = (token: string) => new ApiKeyVerifier(API_KEY_DEFAULTS).verify(request(token), snapshot, NOW);
const app = { id: 'demo-app', uuid: 'demo-app', name: 'demo-app', tier: 'Unlimited', owner: 'demo' };

describe('API key claims of an unexpected type are invalid (401 900901), never ignored', () => {
  it('control: the well-typed key is valid, with numeric application id and null spikeArrestUnit as WSO2 sends them', async () => {
    const claims = wso2Claims(NOW, {
      application: { ...app, id: 7 },
      permittedIP: '10.0.0.0/8',
      permittedReferer: '',
      tierInfo: {
        Gold: {
          tierQuotaType: 'requestCount',
          stopOnQuotaReach: true,
          spikeArrestLimit: 0,
          spikeArrestUnit: null,
        },
      },
      subscribedAPIs: [
        {
          name: 'p',
          context: '/p/v1',
          version: 'v1',
          publisher: 'admin',
          subscriptionTier: 'Gold',
          subscriberTenantDomain: 'carbon.super',
        },
      ],
    });
    const res = await verify(await signRs256(privateKey, KID, claims));
    expect(res).toMatchObject({
      status: 'valid',
      restrictions: { permittedIPs: ['10.0.0.0/8'], permittedReferers: null },
    });
  });

  it.each<[string, Record<string, unknown>]>([
    ['PERMITTEDIP', { permittedIP: ['10.9.9.1'] }],
    ['PERMITTEDIP', { permittedIP: null }],
    ['PERMITTEDIP', { permittedIP: 167837953 }],
    ['PERMITTEDIP', { permittedIP: '10.9.9.1/-0' }],
    ['PERMITTEDIP', { permittedIP: '2001:db8::1/-0' }],
    ['PERMITTEDIP', { permittedIP: '10.9.9.1/' }],
    ['PERMITTEDIP', { permittedIP: '10.9.9.1/ ' }],
    ['PERMITTEDIP', { permittedIP: '10.9.9.1, bogus' }],
    ['PERMITTEDREFERER', { permittedReferer: ['www.example.com/*'] }],
    ['PERMITTEDREFERER', { permittedReferer: { host: 'www.example.com' } }],
    ['PERMITTEDREFERER', { permittedReferer: 'a.com, b .com' }],
    ['PERMITTEDREFERER', { permittedReferer: 'x'.repeat(9000) }],
    ['TOKEN_TYPE', { token_type: ['apiKey'] }],
    ['SUB', { sub: ['alice'] }],
    ['SUB', { sub: { name: 'alice' } }],
    ['ISS', { iss: ['mesh-apim-standalone'] }],
    ['IAT', { iat: '1893456000' }],
    ['NBF', { nbf: 'soon' }],
    ['APPLICATION', { application: ['demo-app'] }],
    ['APPLICATION', { application: { ...app, tier: ['Gold'] } }],
    ['APPLICATION', { application: { ...app, tier: null } }],
    ['APPLICATION', { application: { ...app, uuid: { x: 1 } } }],
    ['APPLICATION', { application: { ...app, name: 42 } }],
    ['SUBSCRIBEDAPIS', { subscribedAPIs: { context: '/p/v1' } }],
    ['SUBSCRIBEDAPIS', { subscribedAPIs: ['/p/v1'] }],
    ['SUBSCRIBEDAPIS', { subscribedAPIs: [{ context: '/p/v1', version: 'v1', subscriptionTier: {} }] }],
    ['TIERINFO', { tierInfo: [] }],
    ['TIERINFO', { tierInfo: { Gold: 'x' } }],
    ['TIERINFO', { tierInfo: { Gold: { spikeArrestLimit: '10' } } }],
    ['TIERINFO', { tierInfo: { Gold: { spikeArrestLimit: -1 } } }],
    ['TIERINFO', { tierInfo: { Gold: { stopOnQuotaReach: 'true' } } }],
  ])('CLAIM_INVALID_%s for %j', async (claim, overrides) => {
    const res = await verify(await signRs256(privateKey, KID, wso2Claims(NOW, overrides)));
    expect(res).toMatchObject({ status: 'invalid', reason: `CLAIM_INVALID_${claim}` });
  });

  it.each([
    ['exp', '1e309'],
    ['exp', '1e300'],
    ['iat', '1e309'],
    ['iat', '-1e309'],
    ['nbf', '-1e309'],
  ])('%s: %s (Infinity or beyond Date) is invalid, not a key that never expires', async (claim, text) => {
    const claims = wso2Claims(NOW);
    const json = JSON.stringify(claims)
      .replace(/^\{/, `{"${claim}":${text},`)
      .replace(new RegExp(`,"${claim}":\\d+`), '');
    expect(JSON.parse(json)[claim]).toBe(Number(text));
    const res = await verify(signRs256Raw(privateKey, KID, json));
    expect(res).toMatchObject({ status: 'invalid', reason: `CLAIM_INVALID_${claim.toUpperCase()}` });
  });

  it('exp: -1e309 is already past for jose: expired (900903), never valid', async () => {
    const json = JSON.stringify(wso2Claims(NOW)).replace(/"exp":\d+/, '"exp":-1e309');
    expect((await verify(signRs256Raw(privateKey, KID, json))).status).toBe('expired');
  });
});

/** A key as API Manager's Developer Portal issues it (DefaultApiKeyGenerator), signed by the trusted key. */
const wso2Key = (o: Partial<Parameters<typeof wso2ApiKey>[0]> = {}) =>
  wso2ApiKey({ kid: KID, privateKey, nowMs: NOW, ...o });

describe('the WSO2 API key shape (DefaultApiKeyGenerator)', () => {
  it('a Developer Portal key (validity -1: no exp, padded segments, x5t) is valid, every claim read', async () => {
    const token = wso2Key({
      endUserName: 'alice@carbon.super',
      application: { id: 7, uuid: 'a1b2-uuid', name: 'shop', tier: '50PerMin', owner: 'alice' },
      keyType: 'SANDBOX',
      subscribedApis: [
        {
          name: 'p',
          context: '/p/v1',
          version: 'v1',
          publisher: 'admin',
          subscriptionTier: 'Gold',
          subscriberTenantDomain: 'carbon.super',
        },
      ],
      tierInfo: {
        Gold: {
          tierQuotaType: 'requestCount',
          stopOnQuotaReach: false,
          spikeArrestLimit: 5,
          spikeArrestUnit: 'sec',
        },
      },
      permittedIP: '10.0.0.0/8',
      permittedReferer: 'www.example.com/*',
    });
    // Java's URL encoder pads: the shape jose itself never writes.
    expect(token.split('.').some((segment) => segment.endsWith('='))).toBe(true);
    const res = await verify(token);
    expect(res).toEqual({
      status: 'valid',
      type: 'apikey',
      // The uuid names the application; the numeric id is the other name it may be known by.
      application: { by: 'id', id: 'a1b2-uuid', altId: '7', name: 'shop', owner: 'alice', tier: '50PerMin' },
      keyType: 'SANDBOX',
      scopes: [],
      jti: jtiOf(token),
      subject: 'alice@carbon.super',
      issuer: 'mesh-apim-standalone',
      issuedAt: Math.floor(NOW / 1000) * 1000,
      expiresAt: null,
      subscribedApis: [
        {
          name: 'p',
          context: '/p/v1',
          version: 'v1',
          publisher: 'admin',
          subscriptionTier: 'Gold',
          subscriberTenantDomain: 'carbon.super',
        },
      ],
      tierInfo: {
        Gold: {
          tierQuotaType: 'requestCount',
          stopOnQuotaReach: false,
          spikeArrestLimit: 5,
          spikeArrestUnit: 'sec',
        },
      },
      restrictions: { permittedIPs: ['10.0.0.0/8'], permittedReferers: ['www.example.com/*'] },
      strip: { headers: ['apikey'], queryParams: ['apikey'] },
      // Revoked by signature in canonical spelling: the Java padding is not part of it.
      signatures: [signatureOf(token).replace(/=+$/, '')],
    });
  });

  it('a key with a validity carries exp: expiresAt is iat + validity', async () => {
    const res = await verify(wso2Key({ validityPeriod: 3600 }));
    expect(res).toMatchObject({ status: 'valid', expiresAt: (Math.floor(NOW / 1000) + 3600) * 1000 });
  });

  it.each<[string, Record<string, unknown>]>([
    ['NO_JTI', { jti: undefined }],
    ['NO_JTI', { jti: '' }],
    ['NOT_AN_API_KEY', { token_type: 'JWT' }],
    ['WRONG_KEY_TYPE', { keytype: undefined }],
    ['WRONG_KEY_TYPE', { keytype: 'production' }],
    ['NO_APPLICATION', { application: undefined }],
    ['NO_APPLICATION', { application: { name: 'shop', tier: 'Unlimited', owner: 'x' } }],
  ])('%s: %j', async (reason, overrides) => {
    const res = await verify(await signRs256(privateKey, KID, wso2Claims(NOW, overrides)));
    expect(res).toMatchObject({ status: 'invalid', type: 'apikey', reason });
  });

  it('token_type is compared case-insensitively (WSO2 writes apiKey)', async () => {
    const res = await verify(await signRs256(privateKey, KID, wso2Claims(NOW, { token_type: 'APIKEY' })));
    expect(res.status).toBe('valid');
  });
});

describe("signature: RS256 by kid against the snapshot's trusted keys", () => {
  const claims = () => wso2Claims(NOW);

  it('a key signed by another private key under the trusted kid: SIGNATURE_INVALID', async () => {
    expect(await verify(wso2Key({ privateKey: otherRsaKey() }))).toMatchObject({
      status: 'invalid',
      reason: 'SIGNATURE_INVALID',
    });
  });

  it('a payload changed after signing (the application swapped) keeps no valid signature', async () => {
    const [h, p, sig] = wso2Key().split('.') as [string, string, string];
    const body = JSON.parse(Buffer.from(p, 'base64url').toString());
    body.application = { id: 9, uuid: 'other', name: 'other', tier: 'Unlimited', owner: 'mallory' };
    const forged = `${h}.${Buffer.from(JSON.stringify(body)).toString('base64url')}.${sig}`;
    expect(await verify(forged)).toMatchObject({ status: 'invalid', reason: 'SIGNATURE_INVALID' });
  });

  it('an unknown or absent kid: UNKNOWN_KID, without an RSA verification', async () => {
    const verifier = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const unknown = wso2ApiKey({ kid: 'nobody', privateKey, nowMs: NOW });
    expect(await verifier.verify(request(unknown), snapshot, NOW)).toMatchObject({ reason: 'UNKNOWN_KID' });
    const noKid = signRs256Raw(privateKey, '', JSON.stringify(claims()));
    expect(await verifier.verify(request(noKid), snapshot, NOW)).toMatchObject({ reason: 'UNKNOWN_KID' });
    expect(verifier.verifications).toBe(0);
  });

  it('alg none and HS256 keyed with the public key (algorithm confusion): ALGORITHM_NOT_ALLOWED', async () => {
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(await verify(unsignedToken(KID, claims()))).toMatchObject({ reason: 'ALGORITHM_NOT_ALLOWED' });
    expect(await verify(hs256WithPublicKey(pem, KID, claims()))).toMatchObject({
      reason: 'ALGORITHM_NOT_ALLOWED',
    });
  });

  it.each([
    ['no dots', 'not-a-jwt'],
    ['two segments', 'a.b'],
    ['undecodable segments', 'a.b.c'],
    ['a fourth segment', `${wso2Key()}.extra`],
  ])('%s: MALFORMED', async (_label, token) => {
    expect(await verify(token)).toMatchObject({ status: 'invalid', reason: 'MALFORMED' });
  });

  it('a trusted key bound to an issuer accepts only keys of that issuer', async () => {
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const bound = compileSnapshot(
      { apis: [] },
      {
        source: 'test',
        extraKeys: [trustedKeyFromPem(pem, 'apim', 'https://apim.example.com/oauth2/token', KID)],
      },
    );
    const v = new ApiKeyVerifier(API_KEY_DEFAULTS);
    expect(await v.verify(request(wso2Key()), bound, NOW)).toMatchObject({
      status: 'invalid',
      reason: 'CLAIM_INVALID_ISS',
    });
    const own = wso2Key({ issuer: 'https://apim.example.com/oauth2/token' });
    expect((await v.verify(request(own), bound, NOW)).status).toBe('valid');
  });
});

describe('expiry', () => {
  it('past exp: expired (with its jti), never valid; a key without exp never expires by default', async () => {
    const token = wso2Key({ validityPeriod: 60 });
    const later = NOW + 61_000;
    expect(await new ApiKeyVerifier(API_KEY_DEFAULTS).verify(request(token), snapshot, later)).toEqual({
      status: 'expired',
      type: 'apikey',
      jti: jtiOf(token),
      strip: { headers: ['apikey'], queryParams: ['apikey'] },
    });
    const forever = wso2Key();
    expect(
      (
        await new ApiKeyVerifier(API_KEY_DEFAULTS).verify(
          request(forever),
          snapshot,
          NOW + 10 * 365 * 86_400_000,
        )
      ).status,
    ).toBe('valid');
  });

  it('a cached key expires in the cache too: the next check past exp is expired and re-verifies nothing', async () => {
    const verifier = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const token = wso2Key({ validityPeriod: 60 });
    expect((await verifier.verify(request(token), snapshot, NOW)).status).toBe('valid');
    expect((await verifier.verify(request(token), snapshot, NOW + 60_000)).status).toBe('expired');
    expect(verifier.verifications).toBe(1);
  });

  it('allowNoExpiry false (adapter.apiKeyAllowNoExpiry): a key without exp is NO_EXPIRY', async () => {
    const strict = new ApiKeyVerifier({ ...API_KEY_DEFAULTS, allowNoExpiry: false });
    expect(await strict.verify(request(wso2Key()), snapshot, NOW)).toMatchObject({
      status: 'invalid',
      reason: 'NO_EXPIRY',
    });
    expect((await strict.verify(request(wso2Key({ validityPeriod: 60 })), snapshot, NOW)).status).toBe(
      'valid',
    );
  });
});

describe("carrier: the apikey header or query parameter, or the API's apiKeyHeader", () => {
  const custom = compileSnapshot(
    {
      apis: [
        {
          name: 'p',
          version: 'v1',
          context: '/p',
          apiKeyHeader: 'X-Api-Key',
          resources: [{ method: 'GET', path: '/*' }],
        },
      ],
    },
    {
      source: 'test',
      extraKeys: [
        trustedKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string, 't', null, KID),
      ],
    },
  );

  it('applies to the apikey header and query parameter; an empty one reads as missing', async () => {
    const v = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const token = wso2Key();
    expect(v.appliesTo(carried({ apikey: token }, new Map()), snapshot)).toBe(true);
    expect(v.appliesTo(carried({}, new Map([['apikey', [token]]])), snapshot)).toBe(true);
    expect(v.appliesTo(carried({ authorization: `Bearer ${token}` }, new Map()), snapshot)).toBe(false);
    expect((await v.verify(carried({}, new Map([['apikey', [token]]])), snapshot, NOW)).status).toBe('valid');
    expect(await v.verify(carried({ apikey: '  ' }, new Map()), snapshot, NOW)).toEqual({
      status: 'missing',
      type: 'apikey',
    });
  });

  it("an API's own header carries its key (lower-cased), and only that name is stripped", async () => {
    const v = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const token = wso2Key();
    const onApi = carried({ 'x-api-key': token }, new Map(), '/p/v1/orders');
    expect(v.appliesTo(onApi, custom)).toBe(true);
    expect(v.appliesTo(carried({ apikey: token }, new Map(), '/p/v1/orders'), custom)).toBe(false);
    expect(await v.verify(onApi, custom, NOW)).toMatchObject({
      status: 'valid',
      strip: { headers: ['x-api-key'], queryParams: ['x-api-key'] },
    });
    const inQuery = carried({}, new Map([['x-api-key', [token]]]), '/p/v1/orders');
    expect((await v.verify(inQuery, custom, NOW)).status).toBe('valid');
  });
});

describe('verified-key cache', () => {
  it('a verified key is verified once; invalid ones are never held', async () => {
    const v = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const token = wso2Key();
    await v.verify(request(token), snapshot, NOW);
    await v.verify(request(token), snapshot, NOW);
    expect(v.verifications).toBe(1);
    expect(v.cacheStats.entries).toBe(1);
    await v.verify(request(wso2Key({ privateKey: otherRsaKey() })), snapshot, NOW);
    expect(v.cacheStats.entries).toBe(1);
    expect(v.idMemoStats.entries).toBe(1);
  });

  it('an entry is bound to the trusted-key set it was verified with: a new set re-verifies, a removed key denies', async () => {
    const v = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const token = wso2Key();
    await v.verify(request(token), snapshot, NOW);
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const reloaded = compileSnapshot(
      { apis: [] },
      { source: 'test', extraKeys: [trustedKeyFromPem(pem, 't', null, KID)] },
    );
    expect((await v.verify(request(token), reloaded, NOW)).status).toBe('valid');
    expect(v.verifications).toBe(2);
    const rotated = compileSnapshot({ apis: [] }, { source: 'test', extraKeys: [] });
    expect(await v.verify(request(token), rotated, NOW)).toMatchObject({
      status: 'invalid',
      reason: 'UNKNOWN_KID',
    });
  });
});
