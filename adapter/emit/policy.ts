/**
 * The one place that decides which side emits a request's event (adapter.accessLogs):
 *  - access logs on: allowed requests are emitted from the access log (it knows the response);
 *    denials from the check, because Envoy does not pass ext_authz metadata to the access log on a
 *    denial, so the access log cannot rebuild them.
 *  - access logs off: the check emits every request, response fields null; access-log entries
 *    (if Envoy sends them anyway) are ignored so nothing is counted twice.
 */
import type { RequestContext } from '../../events/request-attributes.ts';

export interface EmissionPolicy {
  readonly accessLogs: boolean;
  /** Does the check emit the event of a request decided this way? */
  fromCheck(decision: RequestContext['decision']): boolean;
  /** Does an access-log entry carrying our metadata produce an event? */
  fromAccessLog(): boolean;
}

export function emissionPolicy(accessLogs: boolean): EmissionPolicy {
  return {
    accessLogs,
    fromCheck: (decision) => !accessLogs || decision.kind !== 'allow',
    fromAccessLog: () => accessLogs,
  };
}
