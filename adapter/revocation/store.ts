/**
 * The adapter's revoked set: what `decide` consults on every check, so lookups are O(1) map hits.
 * - jti (API keys, JWT access tokens): revoked until the token's own expiry (then it is dead anyway).
 * - consumer key / user: tokens of that application / subject issued at or before the revocation
 *   time; a token whose issue time is unknown is treated as revoked (fail closed).
 * - opaque token: the event already carries its SHA-256 digest (events/token-revoked.ts), stored as
 *   is; no bearer secret in memory dumps or on disk. Listeners drop it from the introspection cache.
 * - JWT signature (WSO2's revokedjwt list sends it as a jti revocation): also kept in canonical
 *   base64url spelling, and looked up by the presented token's canonical signature forms, so a
 *   re-encoded signature (same bytes, another string) is still revoked.
 * Applying the same event twice is harmless: events are deduplicated by id.
 */
import { LRUCache } from 'lru-cache';
import { type TokenRevoked, tokenDigest } from '../../events/token-revoked.ts';
import { canonicalRevocationValue } from '../credentials/canonical.ts';

export { tokenDigest };

export interface CredentialFacts {
  jti?: string | undefined;
  /** Canonical spellings of the token's signature (credentials/canonical.ts signatureForms). */
  signatures?: readonly string[] | undefined;
  consumerKey?: string | undefined;
  subject?: string | undefined;
  /** Token `iat` in ms since epoch. */
  issuedAtMs?: number | undefined;
  /** The raw opaque token (hashed before lookup). */
  opaqueToken?: string | undefined;
  /** tokenDigest() of an opaque token, when the caller already has it (the check path hashes once). */
  opaqueTokenDigest?: string | undefined;
}

/** What decide() needs: why a credential is revoked, or null. */
export interface RevocationLookup {
  revokedBy(f: CredentialFacts): string | null;
}

export interface PersistedRevocations {
  version: 1;
  jti: [string, number | null][];
  consumerKeys: [string, number][];
  users: [string, number][];
  tokens: [string, number | null][];
  eventIds: string[];
}

/** Digests persisted before they were hex (base64url of the same SHA-256): converted on load. */
const LEGACY_DIGEST = /^[A-Za-z0-9_-]{43}$/;
const hexDigest = (d: string) => (LEGACY_DIGEST.test(d) ? Buffer.from(d, 'base64url').toString('hex') : d);

const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));

export class RevocationStore implements RevocationLookup {
  private readonly jti = new Map<string, number | null>();
  private readonly consumerKeys = new Map<string, number>();
  private readonly users = new Map<string, number>();
  private readonly tokens = new Map<string, number | null>();
  /** Applied event ids (duplicate deliveries), oldest dropped first: has() does not refresh an id. */
  private readonly seen: LRUCache<string, true>;
  private readonly listeners: ((e: TokenRevoked) => void)[] = [];

  constructor(maxEventIds = 100_000) {
    this.seen = new LRUCache<string, true>({ max: maxEventIds });
  }

  /** Called for every newly applied revocation (e.g. drop an opaque token from the introspection cache). */
  onRevoked(listener: (e: TokenRevoked) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Returns false for an event already applied (duplicate delivery). */
  apply(e: TokenRevoked): boolean {
    if (this.seen.has(e.eventId)) return false;
    this.remember(e.eventId);
    const exp = ms(e.expiresAt);
    const at = Date.parse(e.revokedAt);
    switch (e.kind) {
      case 'jti':
        this.setJti(e.value, exp);
        break;
      case 'token':
        // value is the digest already (the schema enforces it): never re-hashed.
        this.tokens.set(e.value, maxExpiry(this.tokens.get(e.value), exp));
        break;
      case 'consumer-key':
        this.consumerKeys.set(e.value, Math.max(at, this.consumerKeys.get(e.value) ?? 0));
        break;
      case 'user':
        this.users.set(e.value, Math.max(at, this.users.get(e.value) ?? 0));
        break;
    }
    for (const l of this.listeners) l(e);
    return true;
  }

  private remember(id: string): void {
    this.seen.set(id, true);
  }

  /** Direct jti revocation (CLI/tests; same semantics as a token-revoked event of kind jti). */
  add(jti: string, expiresAt: number | null, _now?: number): void {
    this.setJti(jti, expiresAt);
  }

  /** The value as given (a jti matches verbatim) and, when it is a signature, its canonical spelling. */
  private setJti(value: string, expiresAt: number | null): void {
    this.jti.set(value, maxExpiry(this.jti.get(value), expiresAt));
    const canonical = canonicalRevocationValue(value);
    if (canonical !== value) this.jti.set(canonical, maxExpiry(this.jti.get(canonical), expiresAt));
  }

  has(jti: string): boolean {
    return this.jti.has(jti);
  }

  /** Why the credential is revoked, or null. */
  revokedBy(f: CredentialFacts): TokenRevoked['kind'] | null {
    if (f.jti !== undefined && this.jti.has(f.jti)) return 'jti';
    if (f.signatures?.some((s) => this.jti.has(s))) return 'jti';
    if (f.opaqueTokenDigest !== undefined && this.tokens.has(f.opaqueTokenDigest)) return 'token';
    // A persistent-notifier key carries no type (bridge/http-receiver.ts): a bare jti arrives as a
    // token digest. Hashed only while such entries are held.
    if (f.jti !== undefined && this.tokens.size > 0 && this.tokens.has(tokenDigest(f.jti))) return 'token';
    if (f.opaqueToken !== undefined && this.tokens.has(tokenDigest(f.opaqueToken))) return 'token';
    if (f.consumerKey !== undefined) {
      const at = this.consumerKeys.get(f.consumerKey);
      if (at !== undefined && (f.issuedAtMs === undefined || f.issuedAtMs <= at)) return 'consumer-key';
    }
    if (f.subject !== undefined) {
      const at = this.users.get(f.subject);
      if (at !== undefined && (f.issuedAtMs === undefined || f.issuedAtMs <= at)) return 'user';
    }
    return null;
  }

  /** Forgets jti/token entries past their expiry. */
  prune(now: number): number {
    let n = 0;
    for (const m of [this.jti, this.tokens])
      for (const [k, exp] of m)
        if (exp !== null && exp <= now) {
          m.delete(k);
          n++;
        }
    return n;
  }

  get size(): number {
    return this.jti.size + this.consumerKeys.size + this.users.size + this.tokens.size;
  }

  toJSON(): PersistedRevocations {
    return {
      version: 1,
      jti: [...this.jti],
      consumerKeys: [...this.consumerKeys],
      users: [...this.users],
      tokens: [...this.tokens],
      // Oldest first, so load() re-remembers them in the order they were applied.
      eventIds: [...this.seen.rkeys()],
    };
  }

  load(state: PersistedRevocations): void {
    for (const [k, v] of state.jti) this.setJti(k, v);
    for (const [d, v] of state.tokens) {
      const k = hexDigest(d);
      this.tokens.set(k, maxExpiry(this.tokens.get(k), v));
    }
    for (const [k, v] of state.consumerKeys)
      this.consumerKeys.set(k, Math.max(v, this.consumerKeys.get(k) ?? 0));
    for (const [k, v] of state.users) this.users.set(k, Math.max(v, this.users.get(k) ?? 0));
    for (const id of state.eventIds) this.remember(id);
  }
}

/** null = no known expiry = keep; otherwise the later of the two. */
function maxExpiry(a: number | null | undefined, b: number | null): number | null {
  if (a === undefined) return b;
  if (a === null || b === null) return null;
  return Math.max(a, b);
}
