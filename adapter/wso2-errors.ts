/**
 * WSO2 API Manager 4.x gateway error codes with the HTTP status its gateway answers, as the 'Error
 * Handling' page of wso2/docs-apim documents them (401: 900901 900902 900905 900907 900909; 403:
 * 900906 900908 900910; 429: 9008xx; 500: 900900; 503: 700700 900801), and messages / descriptions
 * as WSO2 words them: wso2/carbon-apimgt APISecurityConstants (message; description = message + ". "
 * + detail, getFailureMessageDetailDescription) and the enforcer's ThrottleConstants
 * (wso2/product-microgateway: every throttle-out is "Message throttled out" / "You have exceeded
 * your quota"). Bodies are `{"code","message","description"}` as WSO2's JSON fault sequences send them.
 */
import type { DecisionKind } from './domain.ts';

export interface Wso2Error {
  code: number;
  httpStatus: number;
  kind: Exclude<DecisionKind, 'allow'>;
  message: string;
  description: string;
}

function e(
  code: number,
  httpStatus: number,
  kind: Wso2Error['kind'],
  message: string,
  description: string,
): Wso2Error {
  return { code, httpStatus, kind, message, description };
}

const THROTTLED = 'Message throttled out';
const QUOTA = 'You have exceeded your quota';

export const WSO2_ERRORS = {
  API_BLOCKED: e(
    700700,
    503,
    'unavailable',
    'API blocked',
    'This API has been blocked temporarily. Please try again later or contact the system administrators.',
  ),
  API_THROTTLED: e(900800, 429, 'rate-limited', THROTTLED, QUOTA),
  RESOURCE_THROTTLED: e(900802, 429, 'rate-limited', THROTTLED, QUOTA),
  APPLICATION_THROTTLED: e(900803, 429, 'rate-limited', THROTTLED, QUOTA),
  SUBSCRIPTION_THROTTLED: e(900804, 429, 'rate-limited', THROTTLED, QUOTA),
  BURST_THROTTLED: e(900807, 429, 'rate-limited', THROTTLED, QUOTA),
  UNCLASSIFIED_AUTH_FAILURE: e(
    900900,
    500,
    'unavailable',
    'Unclassified Authentication Failure',
    'Unclassified Authentication Failure',
  ),
  /** Also an expired API key: WSO2's ApiKeyAuthenticator answers 900901 for it (not 900903). */
  INVALID_CREDENTIALS: e(
    900901,
    401,
    'unauthenticated',
    'Invalid Credentials',
    'Invalid Credentials. Make sure you have provided the correct security credentials',
  ),
  MISSING_CREDENTIALS: e(
    900902,
    401,
    'unauthenticated',
    'Missing Credentials',
    "Missing Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer ACCESS_TOKEN' or 'apikey: API_KEY'",
  ),
  /** OAuth2 tokens only. */
  EXPIRED_CREDENTIALS: e(
    900903,
    401,
    'unauthenticated',
    'Access Token Expired',
    'Access Token Expired. Renew the access token and try again',
  ),
  NO_MATCHING_RESOURCE: e(
    900906,
    403,
    'not-found',
    'No matching resource found in the API for the given request',
    'No matching resource found in the API for the given request. Check the API documentation and add a proper REST resource path to the invocation URL',
  ),
  /**
   * Not a WSO2 gateway status: the path stays ambiguous after normalisation (adapter/path.ts), so no
   * resource matches it unambiguously. WSO2's code for "no matching resource", with 400 as Envoy
   * (path_with_escaped_slashes_action REJECT_REQUEST) and Istio (%00) answer such paths: the client
   * must send the path in normal form, and a retry as is will never succeed.
   */
  AMBIGUOUS_PATH: e(
    900906,
    400,
    'not-found',
    'No matching resource found for given API Request',
    'The request path is ambiguous: send it in normal form',
  ),
  SUBSCRIPTION_BLOCKED: e(
    900907,
    401,
    'forbidden',
    'The requested API is temporarily blocked',
    'The requested API is temporarily blocked',
  ),
  RESOURCE_FORBIDDEN: e(
    900908,
    403,
    'forbidden',
    'Resource forbidden',
    'User is NOT authorized to access the Resource. API Subscription validation failed.',
  ),
  SUBSCRIPTION_INACTIVE: e(
    900909,
    401,
    'forbidden',
    'The subscription to the API is inactive',
    'The subscription to the API is inactive',
  ),
  SCOPE_FORBIDDEN: e(
    900910,
    403,
    'forbidden',
    'The access token does not allow you to access the requested resource',
    'The access token does not allow you to access the requested resource',
  ),
  /** An API that makes mutual TLS mandatory (we do not verify client certificates: refused). */
  MUTUAL_SSL_FAILURE: e(
    900911,
    401,
    'unauthenticated',
    'The mutual SSL authentication has failed due to invalid/missing client certificate',
    'The mutual SSL authentication has failed due to invalid/missing client certificate',
  ),
  /** The key manager (introspection, JWKS) could not be reached: WSO2's documented 900900 / 500. */
  KEY_MANAGER_UNAVAILABLE: e(
    900900,
    500,
    'unavailable',
    'Unclassified Authentication Failure',
    'Unclassified Authentication Failure. The key manager could not be reached to validate the credential. Try again later.',
  ),
  /** Not a WSO2 gateway answer: the adapter itself failed and the failure mode is closed (retryable). */
  INTERNAL_ERROR: e(
    900900,
    503,
    'unavailable',
    'Unclassified Authentication Failure',
    'The authorization service could not evaluate the request. Try again later.',
  ),
} as const;

export type Wso2ErrorName = keyof typeof WSO2_ERRORS;

/** The JSON body of a denied response. */
export function wso2Body(code: number, message: string, description: string): string {
  return JSON.stringify({ code: String(code), message, description });
}
