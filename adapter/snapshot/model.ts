/**
 * The plain control-plane data model every snapshot source produces (standalone YAML, WSO2 API
 * Manager). Validated with zod so a bad file is reported with the path of the problem.
 */
import { z } from 'zod';

const name = z.string().min(1);

/** The security scheme names API Manager stores in an API's `securityScheme` list. */
export const SECURITY_SCHEMES = [
  'oauth2',
  'api_key',
  'basic_auth',
  'mutualssl',
  'mutualssl_mandatory',
  'mutualssl_optional',
  'oauth_basic_auth_api_key_mandatory',
] as const;
const timeUnit = z.enum(['sec', 'min', 'hour', 'day']);
const method = z
  .string()
  .transform((m) => m.toUpperCase())
  .pipe(z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', '*']));

export const ResourceData = z.strictObject({
  method,
  path: z.string().startsWith('/', 'a URL template starts with /'),
  scopes: z.array(z.string()).default([]),
  policy: name.optional().describe('Resource-level throttling policy (an API policy name)'),
  auth: z.enum(['required', 'none']).default('required'),
});

export const ClientCertificateData = z
  .strictObject({
    alias: name.describe('WSO2 alias of the certificate (unique per API)'),
    certificate: z.string().optional().describe('PEM X.509 certificate (the one the client presents)'),
    file: z
      .string()
      .optional()
      .describe('PEM file, relative to the YAML file that names it (read when the file is loaded)'),
    tier: name
      .default('Unlimited')
      .describe('Subscription policy that throttles requests with this certificate'),
  })
  .refine((c) => (c.certificate === undefined) !== (c.file === undefined), {
    message: 'a client certificate needs exactly one of certificate, file',
  });

export const ApiData = z.strictObject({
  id: name.optional().describe('Defaults to <name>-<version>'),
  name,
  version: name,
  context: z
    .string()
    .startsWith('/', 'a context starts with /')
    .describe('Base context; the versioned context is context/version unless it contains {version}'),
  provider: z.string().default('admin'),
  tenantDomain: z.string().default('carbon.super'),
  type: z.string().default('HTTP'),
  lifecycle: z
    .enum(['CREATED', 'PUBLISHED', 'PROTOTYPED', 'BLOCKED', 'DEPRECATED', 'RETIRED'])
    .default('PUBLISHED'),
  policy: name.optional().describe('API-level throttling policy'),
  trustClaims: z.boolean().default(false),
  allowAmbiguousPaths: z
    .boolean()
    .default(false)
    .describe(
      'Opt-out of the ambiguous-path denial (encoded / or \\, encoded dot segments, ; parameters, //) for an upstream known to read paths literally',
    ),
  enforcement: z
    .enum(['enforce', 'shadow'])
    .optional()
    .describe(
      'Rollout: shadow = evaluate, log and count what would be denied, and allow; enforce = answer the decision. Absent = adapter.enforcement',
    ),
  isDefaultVersion: z
    .boolean()
    .default(false)
    .describe('WSO2 isDefaultVersion: unversioned calls (the context without the version) reach this API'),
  apiKeyHeader: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name')
    .transform((h) => h.toLowerCase())
    .default('apikey')
    .describe('WSO2 apiKeyHeader: the header (and query parameter) that carries the API key'),
  securitySchemes: z
    .array(z.enum(SECURITY_SCHEMES))
    .default(['oauth2', 'api_key'])
    .describe(
      'WSO2 securityScheme: oauth2, api_key, mutualssl, mutualssl_mandatory, oauth_basic_auth_api_key_mandatory, basic_auth',
    ),
  clientCertificates: z
    .array(ClientCertificateData)
    .default([])
    .describe(
      'Mutual TLS (securitySchemes mutualssl): the client certificates this API accepts, as uploaded to the WSO2 Publisher',
    ),
  endpoints: z
    .strictObject({ production: z.boolean().default(true), sandbox: z.boolean().default(true) })
    .prefault({})
    .describe('Which key types the API serves: a key for a missing endpoint is 900901, as in WSO2'),
  resources: z.array(ResourceData).min(1, 'an API needs at least one resource'),
});

export const ApplicationData = z.strictObject({
  id: name.optional().describe('Defaults to the name'),
  uuid: name.optional(),
  name,
  owner: z.string().default('admin'),
  tier: name.default('Unlimited'),
});

export const SubscriptionData = z.strictObject({
  application: name.describe('Application id or name'),
  api: name.describe('API id or versioned context'),
  tier: name.default('Unlimited'),
  state: z
    .enum(['UNBLOCKED', 'BLOCKED', 'PROD_ONLY_BLOCKED', 'ON_HOLD', 'REJECTED', 'TIER_UPDATE_PENDING'])
    .default('UNBLOCKED'),
});

export const KeyMappingData = z.strictObject({
  consumerKey: name,
  keyManager: z.string().default('Resident Key Manager'),
  application: name.describe('Application id or name'),
  keyType: z.enum(['PRODUCTION', 'SANDBOX']).default('PRODUCTION'),
});

const quotaFields = {
  name,
  requestCount: z.number().int().positive().nullable().default(null).describe('null = unlimited'),
  unitTime: z.number().int().positive().default(1),
  timeUnit: timeUnit.default('min'),
};

export const SubscriptionPolicyData = z.strictObject({
  ...quotaFields,
  stopOnQuotaReach: z.boolean().default(true),
  burst: z
    .strictObject({ limit: z.number().int().positive(), unit: z.enum(['sec', 'min']).default('sec') })
    .optional(),
});

export const SimplePolicyData = z.strictObject(quotaFields);

export const KeyIssuerData = z
  .strictObject({
    name,
    issuer: z.string().optional().describe('Required `iss`; absent = any'),
    kid: z.string().optional().describe('Key id for certificate/publicKey (default: the key thumbprint)'),
    certificate: z.string().optional().describe('PEM X.509 certificate'),
    publicKey: z.string().optional().describe('PEM SPKI public key'),
    jwks: z
      .strictObject({ keys: z.array(z.looseObject({ kty: z.string(), kid: z.string().optional() })) })
      .optional(),
  })
  .refine((k) => [k.certificate, k.publicKey, k.jwks].filter(Boolean).length === 1, {
    message: 'a key issuer needs exactly one of certificate, publicKey, jwks',
  });

export const RevocationData = z.strictObject({
  jti: name,
  expiresAt: z.iso.datetime({ offset: true }).nullable().default(null),
});

export const ControlPlaneData = z.strictObject({
  apis: z.array(ApiData).default([]),
  applications: z.array(ApplicationData).default([]),
  subscriptions: z.array(SubscriptionData).default([]),
  keyMappings: z.array(KeyMappingData).default([]),
  policies: z
    .strictObject({
      subscription: z.array(SubscriptionPolicyData).default([]),
      application: z.array(SimplePolicyData).default([]),
      api: z.array(SimplePolicyData).default([]),
    })
    .prefault({}),
  keyIssuers: z.array(KeyIssuerData).default([]),
  revokedTokens: z.array(RevocationData).default([]),
});

export type ControlPlaneData = z.infer<typeof ControlPlaneData>;
export type ControlPlaneInput = z.input<typeof ControlPlaneData>;
export type ApiData = z.infer<typeof ApiData>;
