import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { revocationsFromRevokedJwt } from '../../../adapter/revocation/apim.ts';
import { loadRevocations, saveRevocations } from '../../../adapter/revocation/persist.ts';
import { RevocationStore, tokenDigest } from '../../../adapter/revocation/store.ts';
import { revocation } from '../../support/revocations.ts';

const T = Date.parse('2026-11-26T04:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

describe('RevocationStore', () => {
  it('denies a revoked jti until its expiry, then forgets it', () => {
    const s = new RevocationStore();
    s.apply(revocation({ kind: 'jti', value: 'k1', expiresAt: iso(T + 60_000) }));
    expect(s.revokedBy({ jti: 'k1' })).toBe('jti');
    expect(s.revokedBy({ jti: 'k2' })).toBeNull();
    s.prune(T + 59_999);
    expect(s.revokedBy({ jti: 'k1' })).toBe('jti');
    s.prune(T + 60_000);
    expect(s.revokedBy({ jti: 'k1' })).toBeNull();
  });

  it('keeps a jti without expiry through pruning', () => {
    const s = new RevocationStore();
    s.apply(revocation({ kind: 'jti', value: 'k', expiresAt: null }));
    s.prune(Number.MAX_SAFE_INTEGER);
    expect(s.revokedBy({ jti: 'k' })).toBe('jti');
  });

  it('revokes tokens of a consumer key issued at or before the revocation time only', () => {
    const s = new RevocationStore();
    s.apply(revocation({ kind: 'consumer-key', value: 'app1', revokedAt: iso(T), expiresAt: null }));
    expect(s.revokedBy({ consumerKey: 'app1', issuedAtMs: T - 1 })).toBe('consumer-key');
    expect(s.revokedBy({ consumerKey: 'app1', issuedAtMs: T })).toBe('consumer-key');
    expect(s.revokedBy({ consumerKey: 'app1', issuedAtMs: T + 1 })).toBeNull();
    expect(s.revokedBy({ consumerKey: 'app2', issuedAtMs: T - 1 })).toBeNull();
    // Issue time unknown: fail closed.
    expect(s.revokedBy({ consumerKey: 'app1' })).toBe('consumer-key');
  });

  it('revokes tokens of a user issued before the revocation time', () => {
    const s = new RevocationStore();
    s.apply(revocation({ kind: 'user', value: 'alice', revokedAt: iso(T), expiresAt: null }));
    expect(s.revokedBy({ subject: 'alice', issuedAtMs: T - 1000 })).toBe('user');
    expect(s.revokedBy({ subject: 'alice', issuedAtMs: T + 1000 })).toBeNull();
  });

  it('an older revocation of the same consumer key does not move the time back', () => {
    const s = new RevocationStore();
    s.apply(revocation({ kind: 'consumer-key', value: 'a', revokedAt: iso(T) }));
    s.apply(revocation({ kind: 'consumer-key', value: 'a', revokedAt: iso(T - 10_000) }));
    expect(s.revokedBy({ consumerKey: 'a', issuedAtMs: T - 1 })).toBe('consumer-key');
  });

  it('stores the digest a token event carries as is (no re-hashing) and tells listeners', () => {
    const s = new RevocationStore();
    const seen: string[] = [];
    s.onRevoked((e) => seen.push(e.value));
    const digest = tokenDigest('opaque-secret');
    s.apply(revocation({ kind: 'token', value: digest, expiresAt: null }));
    expect(s.revokedBy({ opaqueToken: 'opaque-secret' })).toBe('token');
    expect(s.revokedBy({ opaqueTokenDigest: digest })).toBe('token');
    expect(s.revokedBy({ opaqueToken: digest })).toBeNull(); // the digest is not itself a revoked token
    expect(seen).toEqual([digest]);
    expect(s.toJSON().tokens).toEqual([[digest, null]]);
  });

  it('looks an opaque token up by a precomputed digest; a listener can be removed', () => {
    const s = new RevocationStore();
    let calls = 0;
    const off = s.onRevoked(() => calls++);
    s.apply(revocation({ kind: 'token', value: tokenDigest('opaque-a'), expiresAt: null }));
    expect(s.revokedBy({ opaqueTokenDigest: tokenDigest('opaque-a') })).toBe('token');
    expect(s.revokedBy({ opaqueTokenDigest: tokenDigest('opaque-b') })).toBeNull();
    off();
    s.apply(revocation({ kind: 'token', value: tokenDigest('opaque-b'), expiresAt: null }));
    expect(calls).toBe(1);
  });

  it('tokenDigest is the SHA-256 of the token in lowercase hex', () => {
    expect(tokenDigest('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('loads a revoked set persisted with base64url digests (before hex) as hex digests', () => {
    const legacyBase64Url = Buffer.from(tokenDigest('opaque-old'), 'hex').toString('base64url');
    const s = new RevocationStore();
    s.load({
      version: 1,
      jti: [],
      consumerKeys: [],
      users: [],
      tokens: [[legacyBase64Url, null]],
      eventIds: [],
    });
    expect(s.revokedBy({ opaqueToken: 'opaque-old' })).toBe('token');
    expect(s.toJSON().tokens).toEqual([[tokenDigest('opaque-old'), null]]);
  });

  it('a signature (older API Manager releases revoke API keys by it) is looked up in the jti set', () => {
    const s = new RevocationStore();
    s.add('c2lnbmF0dXJl', null, 0);
    expect(s.revokedBy({ jti: 'other', signatures: ['c2lnbmF0dXJl'] })).toBe('jti');
    expect(s.revokedBy({ jti: 'other', signatures: ['different'] })).toBeNull();
  });

  it('is idempotent by event id', () => {
    const s = new RevocationStore();
    const e = revocation();
    let calls = 0;
    s.onRevoked(() => calls++);
    expect(s.apply(e)).toBe(true);
    expect(s.apply(e)).toBe(false);
    expect(calls).toBe(1);
  });

  it('round-trips through the data directory, duplicates still recognised after restart', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'revoc-')), 'r', 'revoked.json');
    const a = new RevocationStore();
    const e = revocation({ kind: 'jti', value: 'persisted', expiresAt: null });
    a.apply(e);
    a.apply(revocation({ kind: 'user', value: 'bob', revokedAt: iso(T) }));
    saveRevocations(file, a);
    const b = new RevocationStore();
    expect(loadRevocations(file, b)).toBe(true);
    expect(b.revokedBy({ jti: 'persisted' })).toBe('jti');
    expect(b.revokedBy({ subject: 'bob', issuedAtMs: T - 1 })).toBe('user');
    expect(b.apply(e)).toBe(false);
  });

  it('a missing file is an empty set; a corrupt file stops the start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'revoc-'));
    expect(loadRevocations(join(dir, 'none.json'), new RevocationStore())).toBe(false);
    writeFileSync(join(dir, 'bad.json'), '{"version":1}');
    expect(() => loadRevocations(join(dir, 'bad.json'), new RevocationStore())).toThrow(/not a valid/);
  });
});

describe('revocationsFromRevokedJwt (API Manager start-up load)', () => {
  it('maps revoked JWTs, subject entities and consumer keys', () => {
    const events = revocationsFromRevokedJwt(
      {
        revokedJWTList: [{ jwt_signature: 'jti-a', expiry_time: T + 1000 }],
        revokedJWTSubjectEntityList: [
          { entity_id: 'alice', entity_type: 'USER_ID', revocation_time: T, organization: 'carbon.super' },
          { entity_id: 'ck9', entity_type: 'CLIENT_ID', revocation_time: T },
        ],
        revokedJWTConsumerKeyList: [{ consumer_key: 'ck1', revocation_time: T, type: 'DEFAULT' }],
      },
      'carbon.super',
      T,
    );
    const s = new RevocationStore();
    for (const e of events) s.apply(e);
    expect(s.revokedBy({ jti: 'jti-a' })).toBe('jti');
    expect(s.revokedBy({ subject: 'alice', issuedAtMs: T - 1 })).toBe('user');
    expect(s.revokedBy({ consumerKey: 'ck9', issuedAtMs: T - 1 })).toBe('consumer-key');
    expect(s.revokedBy({ consumerKey: 'ck1', issuedAtMs: T - 1 })).toBe('consumer-key');
    // Loading the same list again (restart) is deduplicated.
    expect(
      revocationsFromRevokedJwt(
        { revokedJWTList: [{ jwt_signature: 'jti-a', expiry_time: T + 1000 }] },
        'x',
        T + 5,
      )[0]!.eventId,
    ).toBe(events[0]!.eventId);
  });

  it('an empty answer is an empty set', () => {
    expect(revocationsFromRevokedJwt({}, 'carbon.super')).toEqual([]);
  });
});
