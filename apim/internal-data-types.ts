/**
 * Response shapes of WSO2's internal data API (`/internal/data/v1`, Swagger 2.0 in
 * ../shared/contracts/wso2/internal-data-api-v1.yaml), as zod parsers. Lenient where WSO2 is (every
 * member optional, unknown members kept), strict where the adapter depends on a value: a list whose
 * items lack the identifying members is rejected, so a half-understood answer never becomes a snapshot.
 */
import { z } from 'zod';

const Pagination = z
  .object({
    offset: z.number().int().optional(),
    limit: z.number().int().optional(),
    total: z.number().int().optional(),
    next: z.string().optional(),
    previous: z.string().optional(),
  })
  .loose();

function listOf<T extends z.ZodType>(item: T) {
  return z.object({
    count: z.number().int().optional(),
    list: z.array(item),
    pagination: Pagination.optional(),
  });
}

export const UrlMapping = z
  .object({
    authScheme: z.string().optional(),
    throttlingPolicy: z.string().optional(),
    httpMethod: z.string(),
    urlPattern: z.string(),
    scopes: z.array(z.string()).optional(),
  })
  .loose();
export type UrlMapping = z.infer<typeof UrlMapping>;

export const Api = z
  .object({
    uuid: z.string().optional(),
    apiId: z.number().int(),
    provider: z.string().optional(),
    name: z.string(),
    version: z.string(),
    context: z.string(),
    policy: z.string().optional(),
    apiType: z.string().optional(),
    status: z.string().optional(),
    isDefaultVersion: z.boolean().optional(),
    urlMappings: z.array(UrlMapping).optional(),
  })
  .loose();
export type Api = z.infer<typeof Api>;

export const Application = z
  .object({
    uuid: z.string().optional(),
    id: z.number().int(),
    name: z.string(),
    subName: z.string().optional(),
    policy: z.string().optional(),
    tokenType: z.string().optional(),
    groupIds: z
      .array(z.object({ groupId: z.string().optional(), applicationId: z.number().optional() }).loose())
      .optional(),
    attributes: z.record(z.string(), z.string()).optional(),
  })
  .loose();
export type Application = z.infer<typeof Application>;

export const Subscription = z
  .object({
    subscriptionId: z.number().int().optional(),
    /** The subscription policy's NAME (e.g. "Gold"), despite the member's name. */
    policyId: z.string(),
    apiId: z.number().int(),
    appId: z.number().int(),
    subscriptionState: z.string(),
  })
  .loose();
export type Subscription = z.infer<typeof Subscription>;

export const KeyMapping = z
  .object({
    applicationId: z.number().int(),
    consumerKey: z.string(),
    keyType: z.string().optional(),
    keyManager: z.string().optional(),
  })
  .loose();
export type KeyMapping = z.infer<typeof KeyMapping>;

const LimitBase = { timeUnit: z.string(), unitTime: z.number().int() };
export const ThrottleLimit = z
  .object({
    type: z.string().optional(),
    quotaType: z.string().optional(),
    requestCount: z
      .object({ ...LimitBase, requestCount: z.number().int() })
      .loose()
      .optional(),
    bandwidth: z
      .object({ ...LimitBase, dataAmount: z.number(), dataUnit: z.string() })
      .loose()
      .optional(),
    eventCount: z
      .object({ ...LimitBase, eventCount: z.number().int() })
      .loose()
      .optional(),
  })
  .loose();
export type ThrottleLimit = z.infer<typeof ThrottleLimit>;

const PolicyBase = {
  id: z.number().int().optional(),
  tenantId: z.number().int().optional(),
  tenantDomain: z.string().optional(),
  name: z.string(),
  quotaType: z.string().optional(),
  defaultLimit: ThrottleLimit.optional(),
};

export const SubscriptionPolicy = z
  .object({
    ...PolicyBase,
    rateLimitCount: z.number().int().optional(),
    rateLimitTimeUnit: z.string().optional(),
    stopOnQuotaReach: z.boolean().optional(),
    graphQLMaxComplexity: z.number().int().optional(),
    graphQLMaxDepth: z.number().int().optional(),
  })
  .loose();
export type SubscriptionPolicy = z.infer<typeof SubscriptionPolicy>;

export const ApplicationPolicy = z.object(PolicyBase).loose();
export type ApplicationPolicy = z.infer<typeof ApplicationPolicy>;

export const ApiPolicy = z
  .object({
    ...PolicyBase,
    applicableLevel: z.string().optional(),
    conditionGroups: z.array(z.object({ defaultLimit: ThrottleLimit.optional() }).loose()).optional(),
  })
  .loose();
export type ApiPolicy = z.infer<typeof ApiPolicy>;

export const RevokedEvents = z
  .object({
    revokedJWTList: z
      .array(z.object({ jwt_signature: z.string(), expiry_time: z.number().optional() }).loose())
      .optional(),
    revokedJWTSubjectEntityList: z
      .array(
        z
          .object({
            entity_id: z.string(),
            entity_type: z.string().optional(),
            revocation_time: z.number().optional(),
          })
          .loose(),
      )
      .optional(),
    revokedJWTConsumerKeyList: z
      .array(
        z
          .object({
            consumer_key: z.string(),
            revocation_time: z.number().optional(),
            type: z.string().optional(),
          })
          .loose(),
      )
      .optional(),
  })
  .loose();
export type RevokedEvents = z.infer<typeof RevokedEvents>;

export const ApiList = listOf(Api);
export const ApplicationList = listOf(Application);
export const SubscriptionList = listOf(Subscription);
export const KeyMappingList = listOf(KeyMapping);
export const SubscriptionPolicyList = listOf(SubscriptionPolicy);
export const ApplicationPolicyList = listOf(ApplicationPolicy);
export const ApiPolicyList = listOf(ApiPolicy);

/** Everything one pull reads: the raw material of a snapshot (also what is persisted as last good). */
/** A client certificate read from the Publisher API (alias, tier, PEM) for one API's mutual TLS. */
export const ApimClientCertificate = z.object({
  alias: z.string().min(1),
  tier: z.string().min(1),
  certificate: z.string(),
});

export const ApimData = z.object({
  apis: z.array(Api),
  applications: z.array(Application),
  subscriptions: z.array(Subscription),
  keyMappings: z.array(KeyMapping),
  subscriptionPolicies: z.array(SubscriptionPolicy),
  applicationPolicies: z.array(ApplicationPolicy),
  apiPolicies: z.array(ApiPolicy),
  revoked: RevokedEvents,
  /**
   * Publisher API client certificates by API uuid, only for APIs with mutualssl whose fetch
   * succeeded (absent = none: such an API refuses every call, 900911). Not part of the internal
   * data API; default {} keeps pulls persisted before this existed readable.
   */
  clientCertificates: z.record(z.string(), z.array(ApimClientCertificate)).default({}),
});
export type ApimData = z.infer<typeof ApimData>;
