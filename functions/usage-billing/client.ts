/**
 * The Stripe usage-record client: one POST per window revision, retried with p-retry (exponential
 * backoff, jitter) on what classifyAnswer() calls retriable, waiting at least a Retry-After. Every
 * attempt carries the same Idempotency-Key, so a retry after a lost answer replays the first result.
 */
import pRetry, { AbortError } from 'p-retry';
import { BillingRejectedError, BillingUnavailableError } from './errors.ts';
import { classifyAnswer, type UsageRecordRequest } from './stripe.ts';

export interface StripeClientOptions {
  baseUrl: string;
  secretKey: string;
  stripeVersion: string;
  maxAttempts: number;
  backoffMs: number;
  timeoutMs: number;
}

export interface PostedUsageRecord {
  id: string | null;
  attempts: number;
  /** Stripe answered from its idempotency store (Idempotent-Replayed: true). */
  replayed: boolean;
}

class RetryableAnswer extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}

export class StripeUsageClient {
  constructor(
    private readonly o: StripeClientOptions,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async post(req: UsageRecordRequest): Promise<PostedUsageRecord> {
    let attempts = 0;
    let key = req.idempotencyKey;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.o.secretKey}`,
      'content-type': 'application/x-www-form-urlencoded',
      'idempotency-key': req.idempotencyKey,
    };
    if (req.account) headers['stripe-account'] = req.account;
    if (this.o.stripeVersion) headers['stripe-version'] = this.o.stripeVersion;
    const body = new URLSearchParams(req.form).toString();
    const url = `${this.o.baseUrl.replace(/\/+$/, '')}${req.path}`;
    try {
      return await pRetry(
        async () => {
          attempts += 1;
          let res: Response;
          try {
            res = await this.fetchImpl(url, {
              method: 'POST',
              headers: { ...headers, 'idempotency-key': key },
              body,
              signal: AbortSignal.timeout(this.o.timeoutMs),
            });
          } catch (err) {
            // Network error or timeout: the request may or may not have run; the key makes a repeat safe.
            throw new RetryableAnswer(`Stripe unreachable: ${(err as Error).message}`, null);
          }
          const text = await res.text();
          let parsed: unknown = null;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            parsed = { error: { message: text.slice(0, 200) } };
          }
          const verdict = classifyAnswer({ status: res.status, headers: res.headers, body: parsed });
          if (verdict.kind === 'ok')
            return {
              id: (parsed as { id?: string } | null)?.id ?? null,
              attempts,
              replayed: res.headers.get('idempotent-replayed') === 'true',
            };
          if (verdict.kind === 'retry') {
            // Stripe keeps a 5xx that began executing under its key and replays it for 24 h. `set` of
            // the same quantity at the same timestamp is idempotent by itself, so a fresh key is safe.
            if (res.status >= 500 && res.headers.get('idempotent-replayed') === 'true')
              key = `${req.idempotencyKey}:a${attempts + 1}`;
            throw new RetryableAnswer(verdict.reason, verdict.retryAfterMs);
          }
          if (verdict.kind === 'unavailable')
            throw new AbortError(new BillingUnavailableError(`Stripe refused: ${verdict.reason}`));
          throw new AbortError(new BillingRejectedError(res.status, verdict.reason, verdict.error));
        },
        {
          retries: this.o.maxAttempts - 1,
          minTimeout: this.o.backoffMs,
          factor: 2,
          randomize: true,
          maxTimeout: Math.max(this.o.backoffMs, 30_000),
          onFailedAttempt: async ({ error, retriesLeft }) => {
            const wait = error instanceof RetryableAnswer ? error.retryAfterMs : null;
            // p-retry adds its own backoff after this; a longer Retry-After is waited here first.
            if (wait !== null && retriesLeft > 0) await new Promise((r) => setTimeout(r, wait));
          },
        },
      );
    } catch (err) {
      if (err instanceof BillingRejectedError || err instanceof BillingUnavailableError) throw err;
      throw new BillingUnavailableError(
        `Stripe usage record not accepted after ${attempts} attempt(s): ${(err as Error).message}`,
        { cause: err, details: { idempotencyKey: req.idempotencyKey, attempts } },
      );
    }
  }
}
