import { z } from 'zod';
import { ALWAYS } from '../../common/config/fields.ts';

/** OAuth2 credentials: JWT issuers, JWKS, opaque-token introspection: the `oauth` section of the configuration (docs/configuration.md). */
export const OAuthConfigSchema = z
  .object({
    issuers: z
      .array(
        z.object({
          issuer: z.string().min(1).describe('Expected `iss` claim.'),
          keyManager: z
            .string()
            .default('Resident Key Manager')
            .describe('Key manager name in the application key mappings (consumer key -> application).'),
          jwksUrl: z.string().default('').describe('JWKS endpoint (this or certificateFile).'),
          certificateFile: z.string().default('').describe('PEM certificate whose key signs the tokens.'),
          audience: z
            .array(z.string())
            .default([])
            .describe('Accepted `aud` values (empty = audience not checked).'),
          algorithms: z.array(z.string()).default(['RS256']).describe('Accepted JWS algorithms.'),
          clockSkewSeconds: z.number().int().nonnegative().default(60),
          consumerKeyClaim: z
            .string()
            .default('azp')
            .describe('Claim carrying the consumer key (WSO2: azp; others: client_id, consumerKey).'),
        }),
      )
      .default([])
      .describe(
        'Trusted OAuth2 JWT issuers (config file only): issuer, keyManager, jwksUrl or certificateFile, audience, algorithms, clockSkewSeconds, consumerKeyClaim.',
      ),
    jwks: z
      .object({
        maxAgeMs: z
          .number()
          .int()
          .positive()
          .default(600_000)
          .describe('JWKS served from memory without refresh for this long.'),
        staleWindowMs: z
          .number()
          .int()
          .nonnegative()
          .default(86_400_000)
          .describe('After max age, cached keys stay usable this long while the JWKS endpoint fails.'),
        cooldownMs: z
          .number()
          .int()
          .positive()
          .default(30_000)
          .describe(
            'Minimum time between JWKS refreshes (unknown kid floods cause at most one per cooldown).',
          ),
        timeoutMs: z.number().int().positive().default(5_000).describe('Timeout of one JWKS request.'),
      })
      .prefault({})
      .describe('JWKS endpoints of the issuers.'),
    introspection: z
      .object({
        url: z
          .string()
          .default('')
          .describe(
            'RFC 7662 endpoint for opaque tokens, e.g. https://apim:9443/oauth2/introspect (empty = opaque tokens rejected).',
          ),
        keyManager: z
          .string()
          .default('Resident Key Manager')
          .describe('Key manager name of introspected tokens (consumer key -> application).'),
        clientId: z.string().default('').describe('Client id for introspection.'),
        clientSecret: z.string().default('').describe('Client secret for introspection.'),
        clientAuth: z
          .enum(['basic', 'client_secret_post'])
          .default('basic')
          .describe('How the client authenticates to the introspection endpoint (RFC 6749 2.3.1).'),
        cacheMaxMs: z
          .number()
          .int()
          .positive()
          .default(300_000)
          .describe('Active tokens are cached until exp, at most this long.'),
        negativeCacheMs: z
          .number()
          .int()
          .nonnegative()
          .default(30_000)
          .describe('Inactive tokens are cached this long.'),
        cacheMaxEntries: z
          .number()
          .int()
          .positive()
          .default(100_000)
          .describe('Bound of the introspection cache (oldest dropped first).'),
        timeoutMs: z.number().int().positive().default(3_000).describe('Timeout of one introspection call.'),
        failOpenApis: z
          .array(z.string())
          .default([])
          .describe(
            'APIs (context, e.g. /petstore/v1) that allow requests while introspection is unavailable; all others fail closed (503).',
          ),
      })
      .prefault({})
      .describe('RFC 7662 introspection of opaque tokens.'),
  })
  .superRefine((oauth, ctx) => {
    for (const [i, issuer] of (Array.isArray(oauth.issuers) ? oauth.issuers : []).entries()) {
      if (typeof issuer === 'object' && issuer !== null && !issuer.jwksUrl === !issuer.certificateFile) {
        ctx.addIssue({
          code: 'custom',
          path: ['issuers', i],
          message: `oauth.issuers.${i} (${issuer.issuer}): set exactly one of jwksUrl or certificateFile`,
        });
      }
    }
    if (oauth.introspection?.url && !oauth.introspection.clientId) {
      ctx.addIssue({
        code: 'custom',
        path: ['introspection', 'clientId'],
        message: 'oauth.introspection.url is set but oauth.introspection.clientId is empty',
      });
    }
  }, ALWAYS)
  .prefault({});
