/** A credential was revoked in API Manager (or by the CLI); every adapter must deny it from now on. */
import { z } from 'zod';
import { envelope, IsoTime } from './common.ts';

export const TokenRevoked = z.object({
  ...envelope('token-revoked'),
  kind: z
    .enum(['jti', 'consumer-key', 'user', 'token'])
    .describe(
      'jti: API key / JWT id; consumer-key: tokens of an application issued before revokedAt; user: tokens of a subject; token: an opaque token',
    ),
  value: z.string().min(1).describe('The jti, consumer key, user id, or the opaque token'),
  revokedAt: IsoTime,
  expiresAt: IsoTime.nullable().describe(
    'After this the credential is dead anyway: the entry may be forgotten',
  ),
  tenantDomain: z.string(),
  source: z.enum(['apim-eventhub', 'apim-notifier', 'cli']),
});
export type TokenRevoked = z.infer<typeof TokenRevoked>;
