/**
 * Step credential: what the credential chain found, as the API's security settings let it count.
 * The check goes on with a valid credential whose key type the API has an endpoint for; every
 * other outcome ends here: a missing, invalid or expired credential (401), an unreachable key
 * manager (500, or allowed on a fail-open API), a failed client certificate (401 900911), or a
 * client certificate that alone authenticates the request (allowed, throttled by its tier).
 */
import { type ApiClientCertificate, verifyClientCertificate } from '../credentials/mtls.ts';
import { type CredentialResult, isBearer, type ValidCredential } from '../credentials/types.ts';
import type { CheckRequest, Decision, MatchInfo } from '../domain.ts';
import { expiredTokenHeaders, invalidTokenHeaders, missingCredentialHeaders } from '../response.ts';
import type { ApiEntry, ResourceEntry, Snapshot } from '../snapshot/types.ts';
import { WSO2_ERRORS } from '../wso2-errors.ts';
import { deny, type Step, type Strip } from './decision.ts';
import { apiLevels, certificateLevels, type ThrottleState, throttle } from './throttle.ts';

/** WSO2's wording, naming the carriers this API accepts (APISecurityConstants + the API's header). */
function missingDescription(api: ApiEntry): string {
  const carriers: string[] = [];
  if (api.securitySchemes.has('oauth2')) carriers.push("'Authorization : Bearer ACCESS_TOKEN'");
  if (api.securitySchemes.has('api_key')) carriers.push(`'${api.apiKeyHeader}: API_KEY'`);
  return `Missing Credentials. Make sure your API invocation call has a header: ${carriers.join(' or ') || "'Authorization : Bearer ACCESS_TOKEN'"}`;
}

function schemeEnabled(api: ApiEntry, credential: CredentialResult): boolean {
  if (credential.type === 'none') return true;
  return api.securitySchemes.has(credential.type === 'apikey' ? 'api_key' : 'oauth2');
}

export function credential(
  request: CheckRequest,
  given: CredentialResult,
  snapshot: Snapshot,
  api: ApiEntry,
  resource: ResourceEntry,
  match: MatchInfo,
  now: number,
  counters: ThrottleState,
  strip: Strip,
): Step<ValidCredential> {
  // A scheme the API does not enable is not looked at (WSO2 engages only the enabled authenticators):
  // its credential counts as absent.
  const cred = schemeEnabled(api, given) ? given : ({ status: 'missing', type: given.type } as const);

  // Mutual TLS (credentials/mtls.ts): a mandatory certificate is checked first; where it alone
  // decides, a valid application credential still supplies the identity, any other is ignored.
  const mtls = api.mutualTls;
  if (mtls && mtls.mode !== 'optional') {
    const v = verifyClientCertificate(request.clientCertificate, request.headers, mtls, now);
    if (!v.ok) {
      match.credentialType = 'mtls';
      return deny('MUTUAL_SSL_FAILURE', `MTLS_${v.reason}`, match, {
        description: `${WSO2_ERRORS.MUTUAL_SSL_FAILURE.message}: ${v.detail}`,
      });
    }
    if (mtls.mode === 'mandatory' && cred.status !== 'valid') {
      return certificateAlone(request, snapshot, api, v.certificate, match, now, counters, strip);
    }
  }

  switch (cred.status) {
    case 'missing':
      return deny('MISSING_CREDENTIALS', 'CREDENTIAL_MISSING', match, {
        headers: missingCredentialHeaders(cred.type),
        description: missingDescription(api),
      });
    case 'invalid':
      match.credentialType = cred.type;
      return deny('INVALID_CREDENTIALS', `CREDENTIAL_${cred.reason}`, match, {
        headers: invalidTokenHeaders(cred.type),
      });
    case 'expired':
      match.credentialType = cred.type;
      // WSO2's ApiKeyAuthenticator answers an expired API key with 900901 (Invalid Credentials).
      if (!isBearer(cred.type)) return deny('INVALID_CREDENTIALS', 'CREDENTIAL_EXPIRED', match);
      return deny('EXPIRED_CREDENTIALS', 'CREDENTIAL_EXPIRED', match, { headers: expiredTokenHeaders() });
    case 'unavailable': {
      match.credentialType = cred.type;
      if (!cred.failOpen) {
        return deny('KEY_MANAGER_UNAVAILABLE', `CREDENTIAL_UNAVAILABLE_${cred.reason}`, match, {
          headers: { 'retry-after': '5' },
        });
      }
      // Fail-open API: no application is known, so only the API and resource quotas apply.
      const d = throttle(request, apiLevels(snapshot, api, resource), match, now, counters, strip);
      return d.kind === 'allow' ? { ...d, reason: 'KEY_MANAGER_UNAVAILABLE_FAIL_OPEN' } : d;
    }
  }

  match.credentialType = cred.type;
  match.keyType = cred.keyType;
  match.subject = cred.subject;
  // WSO2: "Production/sandbox key offered to the API with no production/sandbox endpoint" (900901).
  if (cred.keyType === 'SANDBOX' ? !api.keyTypes.sandbox : !api.keyTypes.production) {
    return deny('INVALID_CREDENTIALS', 'KEY_TYPE_HAS_NO_ENDPOINT', match, {
      headers: invalidTokenHeaders(cred.type),
      description: `Invalid Credentials. ${cred.keyType === 'SANDBOX' ? 'Sandbox' : 'Production'} key offered to the API with no ${cred.keyType === 'SANDBOX' ? 'sandbox' : 'production'} endpoint`,
    });
  }
  return cred;
}

/**
 * A request authenticated by its client certificate alone, as carbon-apimgt's
 * MutualSSLAuthenticator.setAuthContext reports it: user = the subject CN, PRODUCTION, tier = the
 * certificate's (stop on quota reach), no application, and no resource-level throttling.
 */
function certificateAlone(
  request: CheckRequest,
  snapshot: Snapshot,
  api: ApiEntry,
  cert: ApiClientCertificate,
  match: MatchInfo,
  now: number,
  counters: ThrottleState,
  strip: Strip,
): Decision {
  match.credentialType = 'mtls';
  match.keyType = 'PRODUCTION';
  match.subject = cert.subject;
  if (!api.keyTypes.production) {
    return deny('INVALID_CREDENTIALS', 'KEY_TYPE_HAS_NO_ENDPOINT', match, {
      description: 'Invalid Credentials. Production key offered to the API with no production endpoint',
    });
  }
  match.subscriptionTier = cert.tier;
  return throttle(request, certificateLevels(snapshot, api, cert), match, now, counters, strip);
}
