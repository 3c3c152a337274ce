/**
 * Step revocation: a valid credential named by a revocation is refused (401 900901). WSO2 revokes
 * by jti or by signature (its revokedjwt list, in the snapshot) and the revocation feed adds
 * consumer keys, users (tokens issued before a time) and opaque tokens (adapter/revocation/store.ts).
 */
import { revokedSignatures } from '../credentials/canonical.ts';
import type { ValidCredential } from '../credentials/types.ts';
import type { Decision, MatchInfo } from '../domain.ts';
import { invalidTokenHeaders } from '../response.ts';
import type { RevocationLookup } from '../revocation/store.ts';
import type { Snapshot } from '../snapshot/types.ts';
import { deny } from './decision.ts';

/** WSO2 names revoked JWTs (and API keys) by signature: compared in canonical spelling, never raw. */
function revokedBySignature(snapshot: Snapshot, cred: ValidCredential): boolean {
  if (!cred.signatures?.length || snapshot.revokedJtis.size === 0) return false;
  const revoked = revokedSignatures(snapshot.revokedJtis);
  return cred.signatures.some((s) => revoked.has(s));
}

/** The denial of a revoked credential, or null (no Decision: the check goes on). */
export function revocation(
  snapshot: Snapshot,
  cred: ValidCredential,
  match: MatchInfo,
  revocations: RevocationLookup | undefined,
): Decision | null {
  if (
    (cred.jti && snapshot.revokedJtis.has(cred.jti)) ||
    revokedBySignature(snapshot, cred) ||
    revocations?.revokedBy({
      jti: cred.jti ?? undefined,
      signatures: cred.signatures,
      subject: cred.subject ?? undefined,
      consumerKey: cred.application.by === 'consumer-key' ? cred.application.consumerKey : undefined,
      issuedAtMs: cred.issuedAt ?? undefined,
      opaqueTokenDigest: cred.tokenDigest,
    })
  ) {
    return deny('INVALID_CREDENTIALS', 'CREDENTIAL_REVOKED', match, {
      headers: invalidTokenHeaders(cred.type),
    });
  }
  return null;
}

/**
 * Dynamic revocations by jti on top of the snapshot's static list: a RevocationLookup over jtis
 * only, bounded (expired entries are pruned when full). The adapter runs on RevocationStore.
 */
export class RevocationSet {
  private readonly entries = new Map<string, number | null>();
  private readonly maxEntries: number;

  constructor(maxEntries = 1_000_000) {
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  /** expiresAt: ms since epoch after which the credential is dead anyway (null = keep forever). */
  add(jti: string, expiresAt: number | null, now: number): void {
    if (this.entries.size >= this.maxEntries) this.prune(now);
    this.entries.set(jti, expiresAt);
  }

  has(jti: string): boolean {
    return this.entries.has(jti);
  }

  /** RevocationLookup over jtis only (the full store is adapter/revocation/store.ts). */
  revokedBy(f: { jti?: string | undefined }): 'jti' | null {
    return f.jti !== undefined && this.entries.has(f.jti) ? 'jti' : null;
  }

  prune(now: number): void {
    for (const [jti, exp] of this.entries) if (exp !== null && exp <= now) this.entries.delete(jti);
  }
}
