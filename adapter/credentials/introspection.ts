/**
 * RFC 7662 token introspection client (WSO2 key manager: POST /oauth2/introspect) with the caches
 * that keep it off the check's hot path:
 * - positive cache until the token's `exp`, capped (a revocation is noticed within the cap);
 * - short negative cache for inactive tokens (a flood of garbage tokens costs one call each per TTL);
 * - single-flight: concurrent checks carrying the same token share one upstream call;
 * - an outage or malformed answer is `unavailable` (never cached); the caller decides open/closed.
 * Entries are keyed by the token's SHA-256 digest (events/token-revoked.ts tokenDigest): a token-revoked
 * event carries only that digest, and it must find the entry to drop it. All three are one lru-cache
 * (bounded in entries and in bytes: an answer's claims are the server's, of any size) whose
 * `fetchMethod` is the upstream call: an `unavailable` answer is thrown from it, so lru-cache drops the
 * pending entry and every joined caller gets the rejection, which introspect() turns back into
 * `unavailable`.
 */
import type { AxiosInstance } from 'axios';
import { LRUCache } from 'lru-cache';
import { errorMessage } from '../../common/errors.ts';
import { createLogger } from '../../common/log.ts';
import { createHttpClient } from '../http-client.ts';
import { tokenDigest } from '../revocation/store.ts';
import { cacheEntryBytes } from './cache.ts';
import { type CredentialMetrics, defaultCredentialMetrics } from './metrics.ts';

const log = createLogger('introspection');

/** The RFC 7662 response members the adapter uses (all optional except `active`). */
export interface IntrospectionClaims {
  active: true;
  scope?: string;
  client_id?: string;
  username?: string;
  token_type?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
  sub?: string;
  aud?: string | string[];
  iss?: string;
  jti?: string;
  [claim: string]: unknown;
}

export type IntrospectionResult =
  | { kind: 'active'; claims: IntrospectionClaims }
  | { kind: 'inactive' }
  | { kind: 'unavailable'; reason: string };

export interface IntrospectionOptions {
  url: string;
  clientId: string;
  clientSecret: string;
  /** RFC 6749 2.3.1: HTTP Basic or credentials in the form body. */
  clientAuth: 'basic' | 'client_secret_post';
  now?: () => number;
  /** Upper bound of a positive cache entry, whatever the token's exp. */
  positiveTtlCapMs: number;
  negativeTtlMs: number;
  maxEntries: number;
  /** Bound of the cache in (estimated) bytes. */
  maxBytes: number;
  /** Timeout of one call; used by the client built when `http` is not given. */
  timeoutMs: number;
  http?: AxiosInstance;
  metrics?: CredentialMetrics;
}

/** What the cache holds: only definite answers. */
type Cached = IntrospectionResult & { kind: 'active' | 'inactive' };

/** Thrown from the fetchMethod so the answer is not cached; never leaves this module. */
class Unavailable extends Error {}

function formEncode(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

export class IntrospectionClient {
  private readonly options: Required<Omit<IntrospectionOptions, 'http' | 'now' | 'metrics'>>;
  readonly metrics: CredentialMetrics;
  private readonly now: () => number;
  private readonly http: AxiosInstance;
  /** Keyed by digest; the fetch context is the token itself (what the upstream call sends). */
  private readonly cache: LRUCache<string, Cached, string>;
  /** Upstream calls made (tests and diagnostics). */
  calls = 0;

  constructor(options: IntrospectionOptions) {
    // Resolved values only (oauth.introspection.*): the defaults live in the config slice.
    this.options = {
      url: options.url,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      clientAuth: options.clientAuth,
      positiveTtlCapMs: options.positiveTtlCapMs,
      negativeTtlMs: options.negativeTtlMs,
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes,
      timeoutMs: options.timeoutMs,
    };
    this.now = options.now ?? Date.now;
    const now = this.now;
    this.cache = new LRUCache<string, Cached, string>({
      max: this.options.maxEntries,
      maxSize: this.options.maxBytes,
      sizeCalculation: (result) => cacheEntryBytes(result),
      // The TTL runs on the injected clock (an entry ends at the token's exp, which is wall-clock
      // time); 0 = read the clock on every lookup instead of caching it for 1 ms behind a timer.
      perf: { now: () => now() },
      ttlResolution: 0,
      // A forget() (revocation) or an eviction while the call runs must not turn the joined callers'
      // answer into a rejection (that would read as an outage and could fail open): they get the
      // server's answer, and lru-cache does not store it, the entry being gone.
      ignoreFetchAbort: true,
      fetchMethod: (_digest, _stale, { context, options: entry }) => this.call(context, entry),
    });
    this.http = options.http ?? createHttpClient({ timeoutMs: this.options.timeoutMs });
    this.metrics = options.metrics ?? defaultCredentialMetrics();
  }

  /**
   * Cached answer if there is one; never blocks. The check path tries this before awaiting.
   * `digest` is tokenDigest(token), passed when the caller has it already (hash once per check).
   */
  cached(token: string, digest: string = tokenDigest(token)): IntrospectionResult | undefined {
    // undefined while the entry's call is still running: the caller then awaits introspect().
    const result = this.cache.get(digest);
    if (result) this.countHit(result);
    return result;
  }

  private countHit(result: Cached): void {
    this.metrics.introspectionCache.inc({ result: result.kind === 'active' ? 'hit' : 'negative-hit' });
  }

  /** Drops a token's cached answer (a revoked opaque token must not be served from the cache). */
  forget(token: string): void {
    this.forgetDigest(tokenDigest(token));
  }

  /** Same, by the token's digest: what a token-revoked event of kind `token` carries. */
  forgetDigest(digest: string): void {
    this.cache.delete(digest);
  }

  async introspect(token: string, digest: string = tokenDigest(token)): Promise<IntrospectionResult> {
    const status: LRUCache.Status<string, Cached, string> = {};
    const running = this.cache.fetch(digest, { context: token, status });
    // status.fetch is set synchronously: 'hit', 'inflight' (joined a running call) or a new call.
    if (status.fetch !== 'hit') {
      this.metrics.introspectionCache.inc({ result: status.fetch === 'inflight' ? 'joined' : 'miss' });
    }
    try {
      const result = await running;
      if (result === undefined) throw new Unavailable('introspection answer was dropped');
      if (status.fetch === 'hit') this.countHit(result);
      return result;
    } catch (err) {
      return { kind: 'unavailable', reason: errorMessage(err) };
    }
  }

  /**
   * The fetchMethod: one upstream call. A definite answer is returned with its TTL set on `entry`
   * (the set options lru-cache stores it with); anything else is thrown, so it is not cached.
   */
  private async call(
    token: string,
    entry: LRUCache.FetcherOptions<string, Cached, string>['options'],
  ): Promise<Cached> {
    this.calls++;
    const { clientAuth, clientId, clientSecret } = this.options;
    const fields: Record<string, string> = { token, token_type_hint: 'access_token' };
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (clientAuth === 'basic') {
      // RFC 6749 2.3.1: client id and secret are form-urlencoded before Basic encoding.
      const user = encodeURIComponent(clientId);
      const pass = encodeURIComponent(clientSecret);
      headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    } else {
      fields.client_id = clientId;
      fields.client_secret = clientSecret;
    }
    let result: Cached;
    try {
      const res = await this.http.post<string>(this.options.url, formEncode(fields), { headers });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      result = this.interpret(JSON.parse(res.data));
    } catch (err) {
      this.metrics.introspections.inc({ result: 'error' });
      log.warn({ url: this.options.url, err: errorMessage(err) }, 'token introspection failed');
      throw new Unavailable(`introspection failed: ${errorMessage(err)}`);
    }
    this.metrics.introspections.inc({ result: result.kind });
    const now = this.now();
    if (result.kind === 'active') {
      const cap = now + this.options.positiveTtlCapMs;
      const exp = result.claims.exp;
      const until = typeof exp === 'number' ? Math.min(exp * 1000, cap) : cap;
      entry.ttl = Math.max(1, Math.floor(until - now));
    } else {
      entry.ttl = this.options.negativeTtlMs;
    }
    return result;
  }

  private interpret(body: unknown): Cached {
    if (
      typeof body !== 'object' ||
      body === null ||
      typeof (body as { active?: unknown }).active !== 'boolean'
    ) {
      throw new Error('response is not an RFC 7662 object with a boolean "active"');
    }
    const claims = body as IntrospectionClaims | { active: false };
    if (!claims.active) return { kind: 'inactive' };
    const nowSec = this.now() / 1000;
    // A server answering active for an expired or not-yet-valid token is not trusted on that point.
    if (typeof claims.exp === 'number' && claims.exp <= nowSec) return { kind: 'inactive' };
    if (typeof claims.nbf === 'number' && claims.nbf > nowSec) return { kind: 'inactive' };
    return { kind: 'active', claims };
  }
}
