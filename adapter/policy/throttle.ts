/**
 * Step throttle: the quota levels that apply to a request, checked and counted in the counters
 * beside them.
 *
 * Levels: the API's and the resource's own policies (every caller of the API), then per caller the
 * burst (spike arrest), the subscription tier and the application tier, or, for an unsecured
 * resource, the Unauthenticated tier per client address, or, for a client certificate alone, the
 * certificate's tier. A hard level over its limit denies 429 (WSO2's 9008xx); a soft subscription
 * quota (stopOnQuotaReach false) allows and marks the request.
 *
 * Counters: exact per-instance request counts in fixed windows aligned to the epoch (a 1-minute
 * quota resets at each whole minute). This is the explicit state decide() is handed; it is bounded,
 * and the bound never costs a live counter: counters whose window has passed are worth nothing and
 * are dropped to make room, but a counter whose window is still running is never evicted for a
 * newcomer (that would reset a subscriber's used quota). A newcomer that finds no room is refused
 * (counted in `refused`); decide() denies its request 429, fail closed: a quota the adapter cannot
 * count is not enforced, so admitting it uncounted would turn the bound into a bypass.
 * Unauthenticated clients (keyed by address, which an attacker rotates) may hold at most half the
 * counters, so a flood of them cannot keep a new subscriber from being counted.
 */
import type { ApiClientCertificate } from '../credentials/mtls.ts';
import type { ValidCredential } from '../credentials/types.ts';
import type {
  ApplicationInfo,
  CheckRequest,
  Decision,
  MatchInfo,
  RateLimitInfo,
  ThrottleScope,
} from '../domain.ts';
import { UNAUTHENTICATED_TIER } from '../snapshot/tiers.ts';
import type { ApiEntry, Quota, ResourceEntry, Snapshot, SubscriptionEntry } from '../snapshot/types.ts';
import type { Wso2ErrorName } from '../wso2-errors.ts';
import { type Admitted, allow, deny, type Strip } from './decision.ts';

interface Counter {
  windowStart: number;
  windowMs: number;
  count: number;
  anonymous: boolean;
}

export interface WindowCount {
  count: number;
  /** ms since epoch when the current window ends. */
  resetAt: number;
  /** A counter exists for the key (a key without one needs room to be counted). */
  tracked: boolean;
}

/**
 * Unambiguous counter key: the level, then each part length-prefixed (`sub:4:acme:9:eu:orders`), so
 * no two different part lists share a key whatever characters the names contain.
 */
export function throttleKey(level: string, ...parts: readonly string[]): string {
  let key = level;
  for (const p of parts) key += `:${p.length}:${p}`;
  return key;
}

/**
 * The Unauthenticated tier's client identity: an IPv4 address as is, an IPv6 client by its /64 (a
 * host on one network gets a whole /64 and can rotate addresses inside it freely; IPv4-mapped IPv6
 * is the IPv4 address). Anything that does not parse is one shared `unknown` client.
 */
export function clientBucket(address: string | null | undefined): string {
  if (!address) return 'unknown';
  const a = address.trim();
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(a)) return ipv4(a) ?? 'unknown';
  const groups = ipv6Groups(a);
  if (!groups) return 'unknown';
  // ::ffff:a.b.c.d (IPv4-mapped): the IPv4 client.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

function ipv4(a: string): string | null {
  const octets = a.split('.').map(Number);
  return octets.every((o) => o <= 255) ? octets.join('.') : null;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped, embedded IPv4 allowed), or null. */
function ipv6Groups(input: string): number[] | null {
  let a = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  if (a.length > 45 || !/^[0-9a-fA-F:.]+$/.test(a)) return null;
  const halves = a.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(piece) ? ipv4(piece) : null;
        if (!v4) return null;
        const o = v4.split('.').map(Number);
        out.push((o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return null;
        out.push(Number.parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

export type { ThrottleScope };

/**
 * A budget shared with other adapter instances (adapter/quota): the one interface the counters
 * consult. Synchronous and local: it answers from what the instances last told each other.
 */
export interface ThrottleBudget {
  /** The count this instance may reach in the current window of `key` (its share of `limit`). */
  ceiling(key: string, windowMs: number, limit: number, count: number, now: number): number;
  /** A request was counted: `count` is the instance's new count in the current window. */
  counted(key: string, windowMs: number, count: number): void;
  /** How the ceiling of `key` is decided now (said in the event of a throttled request). */
  scope(key: string, windowMs: number, now: number): ThrottleScope;
}

export interface ThrottleStateOptions {
  /** Called once per refused newcomer (a metric). */
  onRefused?: (anonymous: boolean) => void;
  /** Cluster-wide budget (adapter/quota); without one every limit is this instance's own. */
  budget?: ThrottleBudget;
}

export class ThrottleState {
  private readonly counters = new Map<string, Counter>();
  readonly maxKeys: number;
  /** Bound of the counters of unauthenticated clients (half of maxKeys). */
  readonly maxAnonymousKeys: number;
  private anonymousCount = 0;
  /** No counter's window ends before this (a lower bound): a sweep before it would find nothing. */
  private earliestEnd = Number.POSITIVE_INFINITY;
  private readonly onRefused: (anonymous: boolean) => void;
  private readonly budget: ThrottleBudget | undefined;
  /** Newcomers refused because every counter held was live. */
  refused = 0;

  constructor(maxKeys = 1_000_000, options: ThrottleStateOptions = {}) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be a positive integer');
    this.maxKeys = maxKeys;
    this.maxAnonymousKeys = Math.max(1, Math.floor(maxKeys / 2));
    this.onRefused = options.onRefused ?? (() => {});
    this.budget = options.budget;
  }

  /**
   * The count this instance may reach in the current window of `key`: `limit` itself unless a
   * cluster budget is shared, then this instance's lease of it (never more than `limit`).
   */
  allowance(key: string, windowMs: number, limit: number, count: number, now: number): number {
    if (!this.budget) return limit;
    return Math.min(limit, this.budget.ceiling(key, windowMs, limit, count, now));
  }

  /** How the allowance of `key` is decided (for the event of a throttled request); none without a budget. */
  scope(key: string, windowMs: number, now: number): ThrottleScope | undefined {
    return this.budget?.scope(key, windowMs, now);
  }

  get size(): number {
    return this.counters.size;
  }

  /** Requests counted in the current window of `key`. */
  peek(key: string, windowMs: number, now: number): WindowCount {
    const start = Math.floor(now / windowMs) * windowMs;
    const c = this.counters.get(key);
    const count = c && c.windowStart === start && c.windowMs === windowMs ? c.count : 0;
    return { count, resetAt: start + windowMs, tracked: c !== undefined };
  }

  /**
   * True when counters can be created for all of `newcomers` (keys without one), sweeping ended
   * windows if that makes room; otherwise false, nothing is created and the refusal is counted.
   */
  admit(newcomers: readonly { anonymous?: boolean | undefined }[], now: number): boolean {
    if (newcomers.length === 0) return true;
    const anonymous = newcomers.filter((n) => n.anonymous === true).length;
    if (this.hasRoom(newcomers.length, anonymous)) return true;
    this.sweep(now);
    if (this.hasRoom(newcomers.length, anonymous)) return true;
    this.refused += 1;
    this.onRefused(anonymous > 0);
    return false;
  }

  /**
   * Counts one request in the current window of `key`; returns the new count, or null when the key
   * is a newcomer and there is no room for it (see admit()).
   */
  consume(key: string, windowMs: number, now: number, anonymous = false): number | null {
    const start = Math.floor(now / windowMs) * windowMs;
    const c = this.counters.get(key);
    if (c) {
      if (c.windowStart !== start || c.windowMs !== windowMs) {
        c.windowStart = start;
        c.windowMs = windowMs;
        c.count = 0;
      }
      c.count += 1;
      this.budget?.counted(key, windowMs, c.count);
      return c.count;
    }
    if (!this.admit([{ anonymous }], now)) return null;
    this.counters.set(key, { windowStart: start, windowMs, count: 1, anonymous });
    this.budget?.counted(key, windowMs, 1);
    if (anonymous) this.anonymousCount += 1;
    this.earliestEnd = Math.min(this.earliestEnd, start + windowMs);
    return 1;
  }

  /** Drops every counter whose window has ended (idle keys). */
  sweep(now: number): number {
    // Windows only move forward, so until the earliest end nothing can have ended.
    if (now < this.earliestEnd) return 0;
    let dropped = 0;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [key, c] of this.counters) {
      const end = c.windowStart + c.windowMs;
      if (end <= now) {
        this.counters.delete(key);
        if (c.anonymous) this.anonymousCount -= 1;
        dropped += 1;
      } else if (end < earliest) earliest = end;
    }
    this.earliestEnd = earliest;
    return dropped;
  }

  private hasRoom(total: number, anonymous: number): boolean {
    return (
      this.counters.size + total <= this.maxKeys && this.anonymousCount + anonymous <= this.maxAnonymousKeys
    );
  }
}

/** One quota a request is counted against. */
export interface Level {
  name: Wso2ErrorName;
  reason: string;
  key: string;
  quota: Quota;
  /** False only for a soft subscription quota: over it the request is allowed and marked. */
  hard: boolean;
  /** Keyed by an unauthenticated client's address (its own, smaller share of the counters). */
  anonymous?: boolean;
}

/** The API-level quota (the API's own policy), shared by every caller of the API. */
function apiPolicyLevel(snapshot: Snapshot, api: ApiEntry): Level | null {
  const apiPolicy = api.policy ? snapshot.apiPolicies.get(api.policy) : undefined;
  if (!apiPolicy) return null;
  return {
    name: 'API_THROTTLED',
    reason: 'API_LIMIT_EXCEEDED',
    key: throttleKey('api', api.info.id),
    quota: apiPolicy.quota,
    hard: true,
  };
}

/** The API's and the resource's quotas: all that applies when no caller is known (key manager fail-open). */
export function apiLevels(snapshot: Snapshot, api: ApiEntry, resource: ResourceEntry): Level[] {
  const levels: Level[] = [];
  const apiLevel = apiPolicyLevel(snapshot, api);
  if (apiLevel) levels.push(apiLevel);
  const resPolicy = resource.policy ? snapshot.apiPolicies.get(resource.policy) : undefined;
  if (resPolicy) {
    levels.push({
      name: 'RESOURCE_THROTTLED',
      reason: 'RESOURCE_LIMIT_EXCEEDED',
      key: throttleKey('res', api.info.id, resource.method, resource.template),
      quota: resPolicy.quota,
      hard: true,
    });
  }
  return levels;
}

/** An unsecured resource: the API's levels and the Unauthenticated tier per client address. */
export function unauthenticatedLevels(
  request: CheckRequest,
  snapshot: Snapshot,
  api: ApiEntry,
  resource: ResourceEntry,
): Level[] {
  const levels = apiLevels(snapshot, api, resource);
  const tier = snapshot.subscriptionPolicies.get(UNAUTHENTICATED_TIER);
  if (tier) {
    levels.push({
      name: 'SUBSCRIPTION_THROTTLED',
      reason: 'SUBSCRIPTION_LIMIT_EXCEEDED',
      key: throttleKey('anon', api.info.id, clientBucket(request.clientIp)),
      quota: tier.quota,
      hard: true,
      anonymous: true,
    });
  }
  return levels;
}

/**
 * A client certificate alone (carbon-apimgt's MutualSSLAuthenticator): the API's own quota and the
 * certificate tier's burst and quota, always hard; no resource-level throttling.
 */
export function certificateLevels(snapshot: Snapshot, api: ApiEntry, cert: ApiClientCertificate): Level[] {
  const levels: Level[] = [];
  const apiLevel = apiPolicyLevel(snapshot, api);
  if (apiLevel) levels.push(apiLevel);
  const tier = snapshot.subscriptionPolicies.get(cert.tier);
  // WSO2 keys the quota by "<serial>_<issuer>_<api>": here the certificate's digest and the API.
  if (tier?.burst) {
    levels.push({
      name: 'BURST_THROTTLED',
      reason: 'BURST_LIMIT_EXCEEDED',
      key: throttleKey('mtls-burst', cert.sha256, api.info.id),
      quota: { requestCount: tier.burst.limit, windowMs: tier.burst.windowMs },
      hard: true,
    });
  }
  if (tier) {
    levels.push({
      name: 'SUBSCRIPTION_THROTTLED',
      reason: 'SUBSCRIPTION_LIMIT_EXCEEDED',
      key: throttleKey('mtls', cert.sha256, api.info.id),
      quota: tier.quota,
      hard: true,
    });
  }
  return levels;
}

/**
 * A subscribed application: the API's levels, the burst (the tier's, else the key's tierInfo
 * spike arrest), the subscription tier (soft unless it stops on quota reach) and the application
 * tier, which WSO2 counts per application and end user.
 */
export function subscriptionLevels(
  snapshot: Snapshot,
  api: ApiEntry,
  resource: ResourceEntry,
  app: ApplicationInfo,
  sub: SubscriptionEntry,
  cred: ValidCredential,
): Level[] {
  const levels = apiLevels(snapshot, api, resource);
  const subPolicy = snapshot.subscriptionPolicies.get(sub.tier);
  const claimTier = cred.tierInfo?.[sub.tier];
  const burst =
    subPolicy?.burst ??
    (claimTier?.spikeArrestLimit && claimTier.spikeArrestLimit > 0
      ? { limit: claimTier.spikeArrestLimit, windowMs: claimTier.spikeArrestUnit === 'min' ? 60_000 : 1000 }
      : null);
  if (burst) {
    levels.push({
      name: 'BURST_THROTTLED',
      reason: 'BURST_LIMIT_EXCEEDED',
      key: throttleKey('burst', app.id, api.info.id),
      quota: { requestCount: burst.limit, windowMs: burst.windowMs },
      hard: true,
    });
  }
  if (subPolicy) {
    levels.push({
      name: 'SUBSCRIPTION_THROTTLED',
      reason: 'SUBSCRIPTION_LIMIT_EXCEEDED',
      key: throttleKey('sub', app.id, api.info.id),
      quota: subPolicy.quota,
      hard: subPolicy.stopOnQuotaReach,
    });
  }
  const appPolicy = snapshot.applicationPolicies.get(app.tier);
  if (appPolicy) {
    levels.push({
      name: 'APPLICATION_THROTTLED',
      reason: 'APPLICATION_LIMIT_EXCEEDED',
      key: throttleKey('app', app.id, cred.subject ?? ''),
      quota: appPolicy.quota,
      hard: true,
    });
  }
  return levels;
}

/** A level with a request count (a null count is unlimited: nothing to check or count). */
const counted = (l: Level) => l.quota.requestCount !== null;

/**
 * The throttle step: the allow when every level has room (each then counts the request), else the
 * 429 of the first hard level over its limit (a denied request uses up no quota).
 */
export function throttle(
  request: CheckRequest,
  levels: readonly Level[],
  match: MatchInfo,
  now: number,
  state: ThrottleState,
  strip: Strip,
): Decision {
  const outcome = count(levels, match, now, state);
  return 'denied' in outcome ? outcome.denied : allow(request, match, outcome, strip);
}

function count(
  levels: readonly Level[],
  match: MatchInfo,
  now: number,
  state: ThrottleState,
): { denied: Decision } | Admitted {
  let overQuota = false;
  let overKey: string | null = null;
  const active = levels.filter(counted);
  const newcomers: Level[] = [];
  let firstReset = Number.POSITIVE_INFINITY;
  // Check every level before counting: a denied request uses up no quota.
  for (const l of active) {
    const limit = l.quota.requestCount!;
    const { count, resetAt, tracked } = state.peek(l.key, l.quota.windowMs, now);
    if (!tracked) newcomers.push(l);
    firstReset = Math.min(firstReset, resetAt);
    // Across replicas (adapter/quota) this instance may count only up to its lease of the limit.
    if (count < state.allowance(l.key, l.quota.windowMs, limit, count, now)) continue;
    if (!l.hard) {
      overQuota = true;
      overKey = l.key;
      continue;
    }
    const resetSeconds = Math.max(1, Math.ceil((resetAt - now) / 1000));
    return {
      denied: deny(l.name, l.reason, match, {
        throttleKey: l.key,
        throttleScope: state.scope(l.key, l.quota.windowMs, now),
        headers: {
          'retry-after': String(resetSeconds),
          'x-ratelimit-limit': String(limit),
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(resetSeconds),
        },
      }),
    };
  }
  // No room for this request's new counters (every counter held is live): refused, fail closed,
  // rather than counted nowhere. Room comes back when a window ends.
  if (!state.admit(newcomers, now)) {
    const l = newcomers[0]!;
    const resetSeconds = Math.max(1, Math.ceil((firstReset - now) / 1000));
    return {
      denied: deny(l.name, 'THROTTLE_CAPACITY_EXCEEDED', match, {
        throttleKey: l.key,
        headers: { 'retry-after': String(resetSeconds) },
      }),
    };
  }
  let tightest: RateLimitInfo | null = null;
  for (const l of active) {
    // Admitted above and nothing runs in between (synchronous): never null here.
    const count = state.consume(l.key, l.quota.windowMs, now, l.anonymous) ?? 0;
    const limit = l.quota.requestCount!;
    const remaining = Math.max(0, limit - count);
    if (!tightest || remaining < tightest.remaining) {
      const resetAt = Math.floor(now / l.quota.windowMs) * l.quota.windowMs + l.quota.windowMs;
      tightest = { limit, remaining, resetSeconds: Math.max(1, Math.ceil((resetAt - now) / 1000)) };
    }
  }
  return { overQuota, throttleKey: overKey, rateLimit: tightest };
}
