/**
 * What one check leaves behind for its observers (the event emitter, tests): the request, the
 * credential result, the decision and its RequestContext. Its own module because it joins the
 * credential types and the domain types, which must not import each other both ways.
 */
import type { RequestContext } from '../events/request-attributes.ts';
import type { CredentialResult } from './credentials/types.ts';
import type { CheckRequest, Decision } from './domain.ts';

export interface CheckTimings {
  /** ms since epoch when the check started. */
  startedAt: number;
  /** Time spent verifying the credential, ms (fractional). */
  credentialMs: number;
  /** Time spent in decide(), ms (fractional). */
  decideMs: number;
  /** Whole check, ms (fractional). */
  totalMs: number;
}

/** Handed to the onCheck observer after every decision (the event emitter plugs in there). */
export interface CheckRecord {
  request: CheckRequest;
  credential: CredentialResult;
  decision: Decision;
  context: RequestContext;
  timings: CheckTimings;
  /** True when the decision is the configured failure-mode answer to an internal error. */
  internalError: boolean;
}

export type CheckObserver = (record: CheckRecord) => void;
