/** A credential was revoked in API Manager (or by the CLI); every adapter must deny it from now on. */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { envelope, IsoTime } from './common.ts';

/**
 * SHA-256 of an opaque access token, lowercase hex. A `token` revocation carries this, never the
 * token: the event is retained on a compacted topic, dead-lettered, fanned out to every adapter,
 * persisted and logged, and a live bearer credential must not travel that far.
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export const TOKEN_DIGEST_PATTERN = /^[0-9a-f]{64}$/;

const common = {
  ...envelope('token-revoked'),
  revokedAt: IsoTime,
  expiresAt: IsoTime.nullable().describe(
    'After this the credential is dead anyway: the entry may be forgotten',
  ),
  tenantDomain: z.string(),
  source: z.enum(['apim-eventhub', 'apim-notifier', 'cli']),
};

const ByIdentifier = z.object({
  ...common,
  kind: z
    .enum(['jti', 'consumer-key', 'user'])
    .describe(
      'jti: API key / JWT id; consumer-key: tokens of an application issued before revokedAt; user: tokens of a subject',
    ),
  value: z.string().min(1).describe('The jti, consumer key or user id'),
});

const ByTokenDigest = z.object({
  ...common,
  kind: z.literal('token').describe('token: an opaque access token, identified by its digest'),
  value: z
    .string()
    .regex(
      TOKEN_DIGEST_PATTERN,
      'must be the SHA-256 of the token as 64 lowercase hex chars, never the token',
    )
    .describe(
      'SHA-256 of the opaque token (lowercase hex, 64 chars). Never the token itself: hash where it enters',
    ),
});

export const TokenRevoked = z.discriminatedUnion('kind', [ByIdentifier, ByTokenDigest]);
export type TokenRevoked = z.infer<typeof TokenRevoked>;
