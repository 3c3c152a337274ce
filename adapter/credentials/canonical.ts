/**
 * One credential, one identity. jose decodes base64url the forgiving way (ASCII whitespace skipped,
 * unused low bits of the last character ignored), so many strings verify as the same signed JWS.
 * Caches and revocation lookups therefore never key on the raw string:
 * - credentialId(): SHA-256 of `<protected>.<payload>.<canonical signature>`; the first two parts are
 *   what the signature covers, byte for byte, so only the signature's encoding can vary.
 * - signatureForms(): the canonical base64url of the signature bytes (what WSO2's revokedjwt list
 *   names), plus for ECDSA the other valid form of the same signature ((r, s) and (r, n - s) both
 *   verify), so neither re-encoding nor re-signing-free malleability escapes a revocation.
 */
import { createHash } from 'node:crypto';
import { base64url } from 'jose';

export interface CompactParts {
  /** `<protected>.<payload>` exactly as received (the signing input). */
  signed: string;
  signature: Uint8Array;
}

/** Splits a compact JWS and decodes its signature as jose does; null when it is not one. */
export function compactParts(token: string): CompactParts | null {
  const last = token.lastIndexOf('.');
  const first = token.indexOf('.');
  if (first < 0 || last === first || token.indexOf('.', first + 1) !== last) return null;
  let signature: Uint8Array;
  try {
    signature = base64url.decode(token.slice(last + 1));
  } catch {
    return null;
  }
  return { signed: token.slice(0, last), signature };
}

const encode = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

/** Cache key of a compact JWS (43 characters whatever the token's size); null when it is not one. */
export function credentialId(token: string): string | null {
  const parts = compactParts(token);
  if (!parts) return null;
  return createHash('sha256')
    .update(parts.signed)
    .update('.')
    .update(encode(parts.signature))
    .digest('base64url');
}

/** Group orders of the JOSE ECDSA curves, by signature length (r || s, fixed width). */
const CURVE_ORDER: Record<string, { bytes: number; n: bigint }> = {
  ES256: { bytes: 64, n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n },
  ES384: {
    bytes: 96,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
  ES512: {
    bytes: 132,
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  },
};

function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

function toBytes(v: bigint, width: number): Uint8Array {
  return Buffer.from(v.toString(16).padStart(width * 2, '0'), 'hex');
}

/**
 * Revocation names of a signature: its canonical base64url, and for ES256/384/512 also that of the
 * (r, n - s) twin. `alg` is the verified header's algorithm.
 */
export function signatureForms(signature: Uint8Array, alg: string | undefined): string[] {
  const forms = [encode(signature)];
  const curve = alg ? CURVE_ORDER[alg] : undefined;
  if (curve && signature.length === curve.bytes) {
    const half = curve.bytes / 2;
    const s = toBigInt(signature.subarray(half));
    if (s > 0n && s < curve.n) {
      const twin = new Uint8Array(curve.bytes);
      twin.set(signature.subarray(0, half), 0);
      twin.set(toBytes(curve.n - s, half), half);
      forms.push(encode(twin));
    }
  }
  return forms;
}

/**
 * The canonical spelling of a revocation value that is a base64url signature (WSO2 names revoked
 * JWTs by signature); other values (jtis) unchanged. Only values long enough to be a signature
 * (64 bytes and more) are touched, so a jti is never respelled.
 */
export function canonicalRevocationValue(value: string): string {
  // Java's Base64.getUrlEncoder() pads (WSO2's DefaultApiKeyGenerator signs with it): '=' is dropped.
  if (value.length < 86 || !/^[A-Za-z0-9_-]+={0,2}$/.test(value)) return value;
  try {
    return encode(base64url.decode(value.replace(/=+$/, '')));
  } catch {
    return value;
  }
}

const revokedViews = new WeakMap<ReadonlyMap<string, unknown>, ReadonlySet<string>>();

/** A revocation list's keys in canonical spelling (built once per snapshot list, then cached). */
export function revokedSignatures(list: ReadonlyMap<string, unknown>): ReadonlySet<string> {
  let view = revokedViews.get(list);
  if (!view) {
    view = new Set([...list.keys()].map(canonicalRevocationValue));
    revokedViews.set(list, view);
  }
  return view;
}
