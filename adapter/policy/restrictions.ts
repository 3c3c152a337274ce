/**
 * Step restrictions: a WSO2 API key's permittedIP and permittedReferer (parsed and matched in
 * credentials/restrictions.ts) against the request; a violation is 403 900908.
 */
import { ipPermitted, refererPermitted } from '../credentials/restrictions.ts';
import type { ValidCredential } from '../credentials/types.ts';
import type { CheckRequest, Decision, MatchInfo } from '../domain.ts';
import { deny } from './decision.ts';

/** The denial of a client the credential's restrictions exclude, or null. */
export function restrictions(
  request: CheckRequest,
  cred: ValidCredential,
  match: MatchInfo,
): Decision | null {
  const { permittedIPs, permittedReferers } = cred.restrictions;
  if (permittedIPs && !ipPermitted(request.clientIp, permittedIPs)) {
    return deny('RESOURCE_FORBIDDEN', 'IP_NOT_PERMITTED', match, {
      description: 'Access forbidden: the client IP is not permitted for this API key',
    });
  }
  if (permittedReferers && !refererPermitted(request.headers.referer, permittedReferers)) {
    return deny('RESOURCE_FORBIDDEN', 'REFERER_NOT_PERMITTED', match, {
      description: 'Access forbidden: the referer is not permitted for this API key',
    });
  }
  return null;
}
