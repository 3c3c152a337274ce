/**
 * Shadow (dry-run) enforcement: the check evaluates everything as usual (decide() unchanged, so the
 * throttle counters count exactly as when enforcing), then a denial is logged (rate-limited),
 * counted in mesh_apim_shadow_decisions_total and answered as an allow. What the allow forwards is
 * what a real allow forwards: the credential carriers are stripped, client-sent identity headers
 * removed, and the adapter's identity headers set from what the check established — the
 * application, user and key type only when the credential was valid and the denial is not about
 * the credential; never forged from an invalid one.
 */
import { LRUCache } from 'lru-cache';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../common/log.ts';
import type { CredentialResult } from './credentials/types.ts';
import {
  type AllowDecision,
  type CheckRequest,
  type Decision,
  emptyMatch,
  type MatchInfo,
} from './domain.ts';
import { allow, MISSING_STRIP } from './policy/decision.ts';
import type { Snapshot } from './snapshot/types.ts';

export type EnforcementMode = 'enforce' | 'shadow';

export const SHADOW_REASON = 'SHADOW_ALLOW';

/** A denial waived in shadow mode (the served allow) and the denial it replaces. */
export interface Waived {
  served: AllowDecision;
  denied: Exclude<Decision, AllowDecision>;
}

export interface ShadowOptions {
  /** adapter.enforcement: the mode of APIs without their own, and of requests matching no API. */
  mode: EnforcementMode;
  registry: Registry;
  logger: Logger;
  /** Minimum time between two log lines for one API + reason (ms); default 10 s. */
  logIntervalMs?: number;
  /** Monotonic ms for the log rate limit; default performance.now. */
  now?: () => number;
}

const MAX_LOG_KEYS = 1000;

export class ShadowEnforcement {
  private readonly mode: EnforcementMode;
  private readonly counter: Counter<'api' | 'decision' | 'code'>;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly now: () => number;
  /** api|reason -> last logged at, and denials not logged since. */
  private readonly logged = new LRUCache<string, { at: number; suppressed: number }>({ max: MAX_LOG_KEYS });

  constructor(o: ShadowOptions) {
    this.mode = o.mode;
    this.log = o.logger;
    this.intervalMs = o.logIntervalMs ?? 10_000;
    this.now = o.now ?? (() => performance.now());
    this.counter =
      (o.registry.getSingleMetric('mesh_apim_shadow_decisions_total') as Counter<
        'api' | 'decision' | 'code'
      >) ??
      new Counter({
        name: 'mesh_apim_shadow_decisions_total',
        help: 'Denials evaluated in shadow enforcement and answered as allowed instead, by API id, would-be decision and WSO2 code',
        labelNames: ['api', 'decision', 'code'] as const,
        registers: [o.registry],
      });
  }

  /** The mode in force for a decision: the matched API's own, else the global one. */
  modeOf(decision: Decision, snapshot: Snapshot): EnforcementMode {
    const id = decision.match.api?.id;
    const own = id === undefined ? undefined : snapshot.apis.get(id)?.enforcement;
    return own ?? this.mode;
  }

  /**
   * For a denial under shadow enforcement: counts and logs it and returns the allow to serve.
   * null when the decision is enforced (an allow, or an API in enforce mode).
   */
  waive(
    decision: Decision,
    request: CheckRequest,
    credential: CredentialResult,
    snapshot: Snapshot,
  ): Waived | null {
    if (decision.kind === 'allow' || this.modeOf(decision, snapshot) !== 'shadow') return null;
    const served = shadowAllow(decision, request, credential);
    const api = decision.match.api?.id ?? 'none';
    this.counter.inc({ api, decision: decision.kind, code: String(decision.code) });
    this.logRateLimited(api, decision, request);
    return { served, denied: decision };
  }

  private logRateLimited(
    api: string,
    decision: Exclude<Decision, AllowDecision>,
    request: CheckRequest,
  ): void {
    const key = `${api}|${decision.reason}`;
    const now = this.now();
    const seen = this.logged.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.log.info(
      {
        api,
        decision: decision.kind,
        code: decision.code,
        reason: decision.reason,
        requestId: request.requestId,
        suppressed: seen?.suppressed ?? 0,
      },
      'shadow enforcement: would have denied, allowed',
    );
    this.logged.set(key, { at: now, suppressed: 0 });
  }
}

/**
 * The allow served in place of a shadow denial. Identity beyond the API comes only from a valid
 * credential whose denial is not about the credential itself (a 401 such as a revoked token or a key
 * type without an endpoint keeps only the API's identity).
 */
export function shadowAllow(
  decision: Exclude<Decision, AllowDecision>,
  request: CheckRequest,
  credential: CredentialResult,
): AllowDecision {
  const trusted = credential.status === 'valid' && decision.kind !== 'unauthenticated';
  const match: MatchInfo = trusted
    ? decision.match
    : {
        ...emptyMatch(),
        api: decision.match.api,
        resource: decision.match.resource,
        credentialType: decision.match.credentialType,
      };
  const strip = credential.status === 'missing' ? MISSING_STRIP : credential.strip;
  const served = allow(request, match, { overQuota: false, throttleKey: null, rateLimit: null }, strip);
  return { ...(served as AllowDecision), reason: SHADOW_REASON };
}
