/**
 * Every claim the API key verifier reads, present with an unexpected type, denies the key
 * (issue 19 items 3 and 9): read leniently, each would fail open somewhere.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApiKeyVerifier } from '../../../adapter/credentials/apikey.ts';
import type { CheckRequest } from '../../../adapter/domain.ts';
import { compileSnapshot, trustedKeyFromPem } from '../../../adapter/snapshot/compile.ts';
import { signRs256, signRs256Raw, wso2Claims } from '../../support/keys.ts';

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

function request(apikey: string): CheckRequest {
  return {
    requestId: 'r',
    method: 'GET',
    host: 'h',
    path: '/x',
    query: new Map(),
    rawQueryNames: new Map(),
    headers: { apikey },
    clientIp: '10.0.0.1',
    contextExtensions: {},
    receivedAt: NOW,
  };
}

const verify = (token: string) => new ApiKeyVerifier().verify(request(token), snapshot, NOW);
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
