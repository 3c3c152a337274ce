/**
 * WSO2 API Manager's gateway error codes ('Error Handling' table of the WSO2 API-M docs), with
 * the HTTP status WSO2's gateway answers and the documented message. Bodies are
 * `{"code","message","description"}` as WSO2's JSON fault sequences send them.
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

export const WSO2_ERRORS = {
  API_BLOCKED: e(
    700700,
    503,
    'unavailable',
    'API blocked',
    'This API has been blocked temporarily. Please try again later or contact the system administrators.',
  ),
  API_THROTTLED: e(
    900800,
    429,
    'rate-limited',
    'Message throttled out',
    'The maximum number of requests that can be made to the API within a designated time period is reached and the API is throttled for the user.',
  ),
  RESOURCE_THROTTLED: e(
    900802,
    429,
    'rate-limited',
    'Resource level throttle out',
    'Message is throttled out because resource level has exceeded',
  ),
  APPLICATION_THROTTLED: e(
    900803,
    429,
    'rate-limited',
    'Application level throttle out',
    'Message is throttled out because application level is exceeded',
  ),
  SUBSCRIPTION_THROTTLED: e(
    900804,
    429,
    'rate-limited',
    'Subscription level throttled out',
    'Message throttled out due to subscription level throttling limit reached.',
  ),
  BURST_THROTTLED: e(
    900807,
    429,
    'rate-limited',
    'Message throttled out',
    'Messaged throttled out because of exceeding the burst control/rate limit (requests per second) in the subscription level policy.',
  ),
  UNCLASSIFIED_AUTH_FAILURE: e(
    900900,
    401,
    'unauthenticated',
    'Unclassified Authentication Failure',
    'An unspecified error has occurred',
  ),
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
    "Invalid Credentials. Make sure your API invocation call has a header: 'apikey' (or an 'apikey' query parameter)",
  ),
  EXPIRED_CREDENTIALS: e(
    900903,
    401,
    'unauthenticated',
    'Access Token Expired',
    'Access Token has expired. Renew Access token',
  ),
  NO_MATCHING_RESOURCE: e(
    900906,
    404,
    'not-found',
    'No matching resource found for given API Request',
    'A resource with the name in the request can not be found in the API',
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
    403,
    'forbidden',
    'The requested API is temporarily blocked',
    'The subscription to the API has been blocked',
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
    403,
    'forbidden',
    'The subscription to the API is inactive',
    'The subscription to the API is inactive (on hold or rejected)',
  ),
  SCOPE_FORBIDDEN: e(
    900910,
    403,
    'forbidden',
    'The access token does not allow you to access the requested resource',
    'User is NOT authorized to access the Resource: the credential lacks a required scope.',
  ),
  /** The key manager (introspection, JWKS) could not be reached to validate the credential. */
  KEY_MANAGER_UNAVAILABLE: e(
    900900,
    503,
    'unavailable',
    'Unclassified Authentication Failure',
    'The key manager could not be reached to validate the access token. Try again later.',
  ),
  /** Not a WSO2 gateway code: the adapter itself failed and the failure mode is closed. */
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
