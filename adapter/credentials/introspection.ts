/**
 * RFC 7662 token introspection client (WSO2 key manager: POST /oauth2/introspect) with the caches
 * that keep it off the check's hot path:
 * - positive cache until the token's `exp`, capped (a revocation is noticed within the cap);
 * - short negative cache for inactive tokens (a flood of garbage tokens costs one call each per TTL);
 * - single-flight: concurrent checks carrying the same token share one upstream call;
 * - an outage or malformed answer is `unavailable` (never cached); the caller decides open/closed.
 * Entries are keyed by the token's SHA-256 digest (events/token-revoked.ts tokenDigest): a token-revoked
 * event carries only that digest, and it must find the entry to drop it. The cache is an lru-cache
 * bounded in entries and in bytes (an answer's claims are the server's, of any size); single-flight
 * stays a map of running calls (docs/decisions.md).
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

type CacheEntry = { result: IntrospectionResult & { kind: 'active' | 'inactive' }; until: number };

function formEncode(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

export class IntrospectionClient {
  private readonly options: Required<Omit<IntrospectionOptions, 'http' | 'now' | 'metrics'>>;
  readonly metrics: CredentialMetrics;
  private readonly now: () => number;
  private readonly http: AxiosInstance;
  private readonly cache: LRUCache<string, CacheEntry>;
  private readonly inflight = new Map<string, Promise<IntrospectionResult>>();
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
    this.cache = new LRUCache<string, CacheEntry>({
      max: this.options.maxEntries,
      maxSize: this.options.maxBytes,
      sizeCalculation: (e) => cacheEntryBytes(e.result),
    });
    this.now = options.now ?? Date.now;
    this.http = options.http ?? createHttpClient({ timeoutMs: this.options.timeoutMs });
    this.metrics = options.metrics ?? defaultCredentialMetrics();
  }

  /**
   * Cached answer if there is one; never blocks. The check path tries this before awaiting.
   * `digest` is tokenDigest(token), passed when the caller has it already (hash once per check).
   */
  cached(token: string, digest: string = tokenDigest(token)): IntrospectionResult | undefined {
    const entry = this.cache.get(digest);
    if (!entry) return undefined;
    if (entry.until <= this.now()) {
      this.cache.delete(digest);
      return undefined;
    }
    this.metrics.introspectionCache.inc({
      result: entry.result.kind === 'active' ? 'hit' : 'negative-hit',
    });
    return entry.result;
  }

  /** Drops a token's cached answer (a revoked opaque token must not be served from the cache). */
  forget(token: string): void {
    this.forgetDigest(tokenDigest(token));
  }

  /** Same, by the token's digest: what a token-revoked event of kind `token` carries. */
  forgetDigest(digest: string): void {
    this.cache.delete(digest);
  }

  introspect(token: string, digest: string = tokenDigest(token)): Promise<IntrospectionResult> {
    const hit = this.cached(token, digest);
    if (hit) return Promise.resolve(hit);
    const running = this.inflight.get(digest);
    if (running) {
      this.metrics.introspectionCache.inc({ result: 'joined' });
      return running;
    }
    this.metrics.introspectionCache.inc({ result: 'miss' });
    const call = this.call(token, digest).finally(() => this.inflight.delete(digest));
    this.inflight.set(digest, call);
    return call;
  }

  /** `until` is on the injected clock (checked on every read); the ttl bounds the entry in real time too. */
  private store(digest: string, entry: CacheEntry): void {
    this.cache.set(digest, entry, { ttl: Math.max(1, entry.until - this.now()) });
  }

  private async call(token: string, digest: string): Promise<IntrospectionResult> {
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
    let result: IntrospectionResult;
    try {
      const res = await this.http.post<string>(this.options.url, formEncode(fields), { headers });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      result = this.interpret(JSON.parse(res.data));
    } catch (err) {
      this.metrics.introspections.inc({ result: 'error' });
      log.warn({ url: this.options.url, err: errorMessage(err) }, 'token introspection failed');
      return { kind: 'unavailable', reason: `introspection failed: ${errorMessage(err)}` };
    }
    this.metrics.introspections.inc({ result: result.kind });
    if (result.kind === 'active') {
      const now = this.now();
      const cap = now + this.options.positiveTtlCapMs;
      const exp = result.claims.exp;
      this.store(digest, { result, until: typeof exp === 'number' ? Math.min(exp * 1000, cap) : cap });
    } else if (result.kind === 'inactive') {
      this.store(digest, { result, until: this.now() + this.options.negativeTtlMs });
    }
    return result;
  }

  private interpret(body: unknown): IntrospectionResult {
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
