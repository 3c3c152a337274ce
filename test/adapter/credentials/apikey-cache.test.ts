/**
 * The verified-key cache of adapter/credentials/apikey.ts under hostile input: one credential is one
 * entry whatever its spelling, forged keys retain nothing, the cache is bounded in bytes, and a
 * revocation by signature holds for every spelling of the signature.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_KEY_DEFAULTS, ApiKeyVerifier } from '../../../adapter/credentials/apikey.ts';
import { decide } from '../../../adapter/policy/decide.ts';
import { ThrottleState } from '../../../adapter/policy/throttle.ts';
import { RevocationStore } from '../../../adapter/revocation/store.ts';
import { compileSnapshot } from '../../../adapter/snapshot/compile.ts';
import { ensureSigningKey, issueApiKey } from '../../../adapter/standalone/issuer.ts';
import { toCheckRequest } from '../../../adapter/translate.ts';
import { ManualClock } from '../../support/adapter.ts';
import { lowBitVariants, whitespaceVariants } from '../../support/variants.ts';

const key = ensureSigningKey(mkdtempSync(join(tmpdir(), 'mesh-apim-key-')));
const data = {
  apis: [{ name: 'p', version: 'v1', context: '/p', resources: [{ method: 'GET', path: '/*' }] }],
  applications: [{ name: 'bronze' }],
  subscriptions: [{ application: 'bronze', api: 'p-v1', tier: 'Unlimited' }],
};
const snap = compileSnapshot(data, { source: 'test', extraKeys: [key.trusted] });
const req = (apikey: string) =>
  toCheckRequest({ attributes: { request: { http: { path: '/p/v1/x', headers: { apikey } } } } }, 0);

describe('API key cache: one credential, one entry', () => {
  it('whitespace and low-bit spellings of one key are verified once and held as one entry', async () => {
    const token = await issueApiKey(snap, key, { application: 'bronze', now: Date.now() });
    const verifier = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const spellings = [token, ...lowBitVariants(token), ...whitespaceVariants(token, 300)];
    expect(new Set(spellings).size).toBe(316);
    for (const s of spellings) expect((await verifier.verify(req(s), snap, Date.now())).status).toBe('valid');
    expect(verifier.verifications).toBe(1);
    expect(verifier.cacheStats.entries).toBe(1);
    // The id memo holds one spelling per key end (its last 32 characters), answered only for that
    // exact string; a second pass answers the same, from the memo or from the canonical id.
    expect(verifier.idMemoStats.entries).toBe(new Set(spellings.map((s) => s.slice(-32))).size);
    const first = await verifier.verify(req(token), snap, Date.now());
    for (const s of spellings) expect(await verifier.verify(req(s), snap, Date.now())).toBe(first);
    expect(verifier.verifications).toBe(1);
  });

  it('a forged key that ends like a memoised one is verified, not answered from the memo', async () => {
    const token = await issueApiKey(snap, key, { application: 'bronze', now: Date.now() });
    const other = await issueApiKey(snap, key, { application: 'bronze', now: Date.now() - 5000 });
    const verifier = new ApiKeyVerifier(API_KEY_DEFAULTS);
    expect((await verifier.verify(req(token), snap, Date.now())).status).toBe('valid');
    expect((await verifier.verify(req(token), snap, Date.now())).status).toBe('valid');
    // Another key's signed part with this key's signature: the same last 32 characters.
    const forged = other.slice(0, other.lastIndexOf('.')) + token.slice(token.lastIndexOf('.'));
    expect(forged.slice(-32)).toBe(token.slice(-32));
    expect(await verifier.verify(req(forged), snap, Date.now())).toMatchObject({
      status: 'invalid',
      reason: 'SIGNATURE_INVALID',
    });
    expect(verifier.verifications).toBe(2);
    expect((await verifier.verify(req(token), snap, Date.now())).status).toBe('valid');
  });

  it('forged signatures are not cached: a flood of them retains no entry', async () => {
    const token = await issueApiKey(snap, key, { application: 'bronze', now: Date.now() });
    const signed = token.slice(0, token.lastIndexOf('.') + 1);
    const verifier = new ApiKeyVerifier(API_KEY_DEFAULTS);
    for (let i = 0; i < 50; i++) {
      const forged = signed + Buffer.alloc(256, i + 1).toString('base64url');
      expect(await verifier.verify(req(forged), snap, Date.now())).toMatchObject({
        status: 'invalid',
        reason: 'SIGNATURE_INVALID',
      });
    }
    expect(verifier.cacheStats).toEqual({ entries: 0, bytes: 0 });
    expect(verifier.idMemoStats).toEqual({ entries: 0, bytes: 0 });
  });

  it('is bounded in bytes as well as entries: many distinct valid keys never exceed the byte bound', async () => {
    const bound = 16 * 1024;
    const verifier = new ApiKeyVerifier({
      ...API_KEY_DEFAULTS,
      cacheMaxBytes: bound,
      cacheMaxEntries: 1_000_000,
    });
    for (let i = 0; i < 40; i++) {
      const token = await issueApiKey(snap, key, { application: 'bronze', now: Date.now() - i * 1000 });
      expect((await verifier.verify(req(token), snap, Date.now())).status).toBe('valid');
    }
    const { entries, bytes } = verifier.cacheStats;
    // The verified keys and the id memo share the one bound.
    expect(bytes + verifier.idMemoStats.bytes).toBeLessThanOrEqual(bound);
    expect(entries).toBeGreaterThan(0);
    expect(entries).toBeLessThan(40);
    // The memo of key strings is bounded by a quarter of it.
    expect(verifier.idMemoStats.bytes).toBeLessThanOrEqual(bound / 4);
    expect(verifier.idMemoStats.entries).toBeLessThan(40);
  });

  it('a key revoked by signature (WSO2 revokedjwt) is denied in every spelling of that signature', async () => {
    const token = await issueApiKey(snap, key, { application: 'bronze', now: Date.now() });
    const signature = token.slice(token.lastIndexOf('.') + 1);
    const clock = new ManualClock(Date.now());
    const verifier = new ApiKeyVerifier(API_KEY_DEFAULTS);
    const revoked = compileSnapshot(
      { ...data, revokedTokens: [{ jti: signature }] },
      { source: 'test', extraKeys: [key.trusted] },
    );
    const feed = new RevocationStore();
    // The feed names it by another spelling of the same signature bytes.
    const respelled = lowBitVariants(token)[3]!;
    feed.add(respelled.slice(respelled.lastIndexOf('.') + 1), null);
    for (const [snapshot, revocations] of [
      [revoked, new RevocationStore()],
      [snap, feed],
    ] as const) {
      for (const s of [token, ...lowBitVariants(token), ...whitespaceVariants(token, 20)]) {
        const credential = await verifier.verify(req(s), snapshot, clock.now());
        const d = decide({ request: req(s), credential }, snapshot, clock, {
          throttle: new ThrottleState(),
          revocations,
        });
        expect(
          d.reason,
          `${snapshot === revoked ? 'snapshot list' : 'revocation feed'}: ${JSON.stringify(s.slice(-4))}`,
        ).toBe('CREDENTIAL_REVOKED');
      }
    }
  });
});
