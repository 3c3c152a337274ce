/**
 * JWKS cache for one trusted issuer. Keys are fetched once and served from memory; the check path
 * never waits on the network for a key it already knows:
 * - fresh (age < maxAge): served as is;
 * - stale (maxAge <= age < maxAge + staleWindow): served, and one background refresh is started, so a
 *   JWKS outage does not fail checks for known keys;
 * - expired (beyond the stale window): a refresh is awaited; if it fails, the key is unavailable.
 * An unknown `kid` triggers a refresh (key rotation) at most once per cooldown, so a flood of forged
 * kids cannot turn into a flood of JWKS requests. Refreshes are single-flight.
 */
import type { AxiosInstance } from 'axios';
import { type CryptoKey, importJWK, importSPKI, importX509, type JWK } from 'jose';
import { errorMessage } from '../../common/errors.ts';
import { createLogger } from '../../common/log.ts';
import { createHttpClient } from '../http-client.ts';
import { type CredentialMetrics, defaultCredentialMetrics } from './metrics.ts';

const log = createLogger('jwks');

/** What a key lookup yields: a key, a definite "no such key", or "cannot tell now" (JWKS unreachable). */
export type KeyLookup =
  | { kind: 'key'; key: CryptoKey | Uint8Array }
  | { kind: 'unknown-kid' }
  | { kind: 'unavailable'; reason: string };

export interface KeySource {
  lookup(kid: string | undefined, alg: string): Promise<KeyLookup>;
}

export interface JwksCacheOptions {
  url: string;
  /** Label for logs and metrics (issuer). */
  name?: string;
  now?: () => number;
  /** oauth.jwks.* resolved (the defaults live in the config slice). */
  maxAgeMs: number;
  staleWindowMs: number;
  cooldownMs: number;
  timeoutMs: number;
  /** HTTP client (carries the TLS settings); default: a plain client with timeoutMs. */
  http?: AxiosInstance;
  metrics?: CredentialMetrics;
}

interface Entry {
  jwk: JWK;
  imported: Map<string, Promise<CryptoKey | Uint8Array>>;
}

export class JwksCache implements KeySource {
  readonly url: string;
  private readonly name: string;
  private readonly now: () => number;
  private readonly maxAgeMs: number;
  private readonly staleWindowMs: number;
  private readonly cooldownMs: number;
  private readonly http: AxiosInstance;
  private readonly metrics: CredentialMetrics;
  private keys = new Map<string, Entry>();
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<boolean> | undefined;
  /** Number of JWKS HTTP requests made (tests and diagnostics). */
  fetches = 0;

  constructor(options: JwksCacheOptions) {
    this.url = options.url;
    this.name = options.name ?? options.url;
    this.now = options.now ?? Date.now;
    this.maxAgeMs = options.maxAgeMs;
    this.staleWindowMs = options.staleWindowMs;
    this.cooldownMs = options.cooldownMs;
    this.http = options.http ?? createHttpClient({ timeoutMs: options.timeoutMs });
    this.metrics = options.metrics ?? defaultCredentialMetrics();
  }

  async lookup(kid: string | undefined, alg: string): Promise<KeyLookup> {
    const age = this.now() - this.fetchedAt;
    if (age >= this.maxAgeMs + this.staleWindowMs) {
      // Never loaded, or too old to trust: must refresh before answering.
      const ok = await this.refresh(true);
      if (!ok && this.now() - this.fetchedAt >= this.maxAgeMs + this.staleWindowMs) {
        return { kind: 'unavailable', reason: `JWKS ${this.name} unreachable and no usable cached keys` };
      }
    } else if (age >= this.maxAgeMs) {
      void this.refresh(false);
    }
    let entry = this.find(kid, alg);
    if (!entry && this.now() - this.lastAttemptAt >= this.cooldownMs) {
      await this.refresh(true);
      entry = this.find(kid, alg);
    }
    if (!entry) return { kind: 'unknown-kid' };
    return this.importKey(entry, alg);
  }

  /** Loads the key set now (start-up warm-up); false when the JWKS endpoint failed. */
  warm(): Promise<boolean> {
    return this.refresh(true);
  }

  private find(kid: string | undefined, alg: string): Entry | undefined {
    if (kid !== undefined) return this.keys.get(kid);
    // No kid: acceptable only when exactly one key could have signed with this alg.
    const candidates = [...this.keys.values()].filter((e) => e.jwk.alg === undefined || e.jwk.alg === alg);
    return candidates.length === 1 ? candidates[0] : undefined;
  }

  private async importKey(entry: Entry, alg: string): Promise<KeyLookup> {
    // A key published for one algorithm must not verify another (algorithm confusion).
    if (entry.jwk.alg !== undefined && entry.jwk.alg !== alg) return { kind: 'unknown-kid' };
    let imported = entry.imported.get(alg);
    if (!imported) {
      imported = importJWK(entry.jwk, alg);
      entry.imported.set(alg, imported);
    }
    try {
      return { kind: 'key', key: await imported };
    } catch {
      // The JWK cannot be used with this alg (e.g. an RSA key asked for HS256): no such key.
      return { kind: 'unknown-kid' };
    }
  }

  private refresh(force: boolean): Promise<boolean> {
    if (this.inflight) return this.inflight;
    if (!force && this.now() - this.lastAttemptAt < this.cooldownMs) return Promise.resolve(false);
    this.lastAttemptAt = this.now();
    this.inflight = this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async load(): Promise<boolean> {
    this.fetches++;
    try {
      const res = await this.http.get<string>(this.url, { headers: { accept: 'application/json' } });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      const body = JSON.parse(res.data) as { keys?: unknown };
      if (!body || !Array.isArray(body.keys)) throw new Error('response has no "keys" array');
      const next = new Map<string, Entry>();
      for (const jwk of body.keys as JWK[]) {
        if (typeof jwk !== 'object' || jwk === null || typeof jwk.kty !== 'string') continue;
        if (jwk.use !== undefined && jwk.use !== 'sig') continue;
        const kid = typeof jwk.kid === 'string' ? jwk.kid : `#${next.size}`;
        // Keep the imported form of keys that did not change, so rotation does not re-import all.
        const prev = this.keys.get(kid);
        next.set(
          kid,
          prev && JSON.stringify(prev.jwk) === JSON.stringify(jwk) ? prev : { jwk, imported: new Map() },
        );
      }
      this.keys = next;
      this.fetchedAt = this.now();
      this.metrics.jwksRefreshes.inc({ issuer: this.name, result: 'ok' });
      return true;
    } catch (err) {
      this.metrics.jwksRefreshes.inc({ issuer: this.name, result: 'error' });
      log.warn({ jwks: this.url, err: errorMessage(err) }, 'JWKS refresh failed; keeping cached keys');
      return false;
    }
  }
}

/**
 * A fixed key from a PEM X.509 certificate (or SPKI public key): issuers configured with a
 * certificate instead of a JWKS URL.
 */
export class CertificateKeySource implements KeySource {
  private readonly imported = new Map<string, Promise<CryptoKey>>();

  constructor(
    private readonly pem: string,
    private readonly kid?: string,
  ) {}

  async lookup(kid: string | undefined, alg: string): Promise<KeyLookup> {
    if (this.kid !== undefined && kid !== undefined && kid !== this.kid) return { kind: 'unknown-kid' };
    let key = this.imported.get(alg);
    if (!key) {
      key = this.pem.includes('BEGIN CERTIFICATE') ? importX509(this.pem, alg) : importSPKI(this.pem, alg);
      this.imported.set(alg, key);
    }
    try {
      return { kind: 'key', key: await key };
    } catch {
      return { kind: 'unknown-kid' };
    }
  }
}
