/** adapter/credentials/canonical.ts: one identity per signed token, whatever its spelling. */
import { generateKeyPairSync, verify } from 'node:crypto';
import { base64url, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  canonicalRevocationValue,
  compactParts,
  credentialId,
  signatureForms,
} from '../../../adapter/credentials/canonical.ts';
import { lowBitVariants, whitespaceVariants } from '../../support/variants.ts';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const sign = (alg: string, key: typeof rsa.privateKey) =>
  new SignJWT({ jti: 'j1', sub: 'u' }).setProtectedHeader({ alg }).sign(key);

describe('credentialId', () => {
  it('is the same for every whitespace and low-bit spelling of the signature', async () => {
    const token = await sign('RS256', rsa.privateKey);
    const id = credentialId(token);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const v of [...lowBitVariants(token), ...whitespaceVariants(token, 50)])
      expect(credentialId(v)).toBe(id);
  });

  it('differs when the signed part or the signature bytes differ', async () => {
    const token = await sign('RS256', rsa.privateKey);
    const [h, p, s] = token.split('.');
    const flipped = Buffer.from(base64url.decode(s!));
    flipped[0]! ^= 1;
    expect(credentialId(`${h}.${p}.${flipped.toString('base64url')}`)).not.toBe(credentialId(token));
    expect(credentialId(`${h}.${p}x.${s}`)).not.toBe(credentialId(token));
  });

  it.each([
    ['two segments', 'a.b'],
    ['four segments', 'a.b.c.d'],
    ['an undecodable signature', 'a.b.@@@'],
    ['a signature of impossible length', 'a.b.abcde'],
  ])('is null for %s', (_name, token) => {
    expect(credentialId(token)).toBeNull();
    expect(compactParts(token)).toBeNull();
  });
});

describe('signatureForms', () => {
  it('RS256: one form, the canonical base64url of the bytes', async () => {
    const token = await sign('RS256', rsa.privateKey);
    const variant = lowBitVariants(token)[0]!;
    expect(signatureForms(compactParts(variant)!.signature, 'RS256')).toEqual([token.split('.')[2]]);
  });

  it('ES256: also the (r, n - s) twin, which verifies just as well (ECDSA malleability)', async () => {
    const token = await sign('ES256', ec.privateKey);
    const { signed, signature } = compactParts(token)!;
    const forms = signatureForms(signature, 'ES256');
    expect(forms).toHaveLength(2);
    for (const f of forms) {
      const ok = verify(
        'sha256',
        Buffer.from(signed),
        { key: ec.publicKey, dsaEncoding: 'ieee-p1363' },
        base64url.decode(f),
      );
      expect(ok).toBe(true);
    }
    // The twin's twin is the original: both spellings of the pair name the same revocation.
    expect(signatureForms(base64url.decode(forms[1]!), 'ES256')).toEqual([forms[1], forms[0]]);
  });
});

describe('canonicalRevocationValue', () => {
  it('respells a non-canonical signature and leaves jtis alone', async () => {
    const token = await sign('RS256', rsa.privateKey);
    const sig = token.split('.')[2]!;
    for (const v of lowBitVariants(token)) expect(canonicalRevocationValue(v.split('.')[2]!)).toBe(sig);
    for (const jti of ['sig-abc', '6f1c2a7e-8f7b-4a11-9d5e-2b9b0f3c1a77', 'x'.repeat(85)])
      expect(canonicalRevocationValue(jti)).toBe(jti);
  });
});
