/**
 * Elasticsearch/OpenSearch `_bulk` sink (NDJSON over axios). The event id (dedupKey: the
 * request-attributes eventId, one per check) is the document id, so a redelivered batch or a replay overwrites instead of double counting. Documents go to
 * `<indexPrefix>_response` / `<indexPrefix>_faulty` (default apim_event_*, the index names WSO2's
 * Kibana dashboards read) with an `@timestamp` copied from requestTimestamp.
 *
 * Failures: the whole request failing with 429, 5xx, a timeout or a network error is retried (p-retry:
 * capped exponential backoff with jitter, a whole-request Retry-After waited first, up to
 * maxBackoffMs); per-item errors are split: 429/5xx items are retried, other
 * item errors (mapping/parsing: 4xx) are poison for that record. When attempts run out the
 * remaining items fail retriably (the batch is retried later). Other whole-request 4xx (401, 403,
 * 404 index missing ...) are configuration problems: retriable too, so no event is lost to them.
 */
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import axios, { type AxiosInstance } from 'axios';
import pRetry from 'p-retry';
import { FAULTY_METRIC } from '../../../events/analytics.ts';
import { SinkRejectedError, SinkUnavailableError } from '../errors.ts';
import { type AnalyticsSink, dedupKey, type SinkItem, type SinkItemResult } from './types.ts';

export interface HttpSinkOptions {
  url: string;
  indexPrefix: string;
  timeoutMs: number;
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs?: number;
  username?: string;
  password?: string;
  /** How a Retry-After is waited (test seam; default a timer). */
  wait?: (ms: number) => Promise<void>;
  /**
   * Documents per `_bulk` request: a bigger batch is split (Elasticsearch advises requests of a few
   * MB; 1,000 WSO2 documents are ~1.2 MB). Default 1000.
   */
  maxDocsPerRequest?: number;
  /** `_bulk` requests of one batch in flight at once (and keep-alive sockets kept). Default 2. */
  concurrency?: number;
}

interface BulkItemResult {
  status: number;
  error?: { type?: string; reason?: string } | string;
}

export function indexFor(item: SinkItem, prefix: string): string {
  return `${prefix}_${item.metric === FAULTY_METRIC ? 'faulty' : 'response'}`;
}

export function bulkBody(items: readonly SinkItem[], prefix: string): string {
  let body = '';
  const response = JSON.stringify(`${prefix}_response`);
  const faulty = JSON.stringify(`${prefix}_faulty`);
  for (const it of items) {
    const index = it.metric === FAULTY_METRIC ? faulty : response;
    // Spliced rather than spread + stringified twice: the same bytes, one stringify per document.
    const doc = JSON.stringify(it.data);
    body += `{"index":{"_index":${index},"_id":${JSON.stringify(dedupKey(it))}}}\n`;
    body += `{"@timestamp":${JSON.stringify(it.data.requestTimestamp)}${doc.length > 2 ? ',' : ''}${doc.slice(1)}\n`;
  }
  return body;
}

const retriableStatus = (s: number) => s === 429 || s >= 500;

/** An attempt that left documents to send again; `retryAfterMs` from a whole-request Retry-After. */
class RetryBulk extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/** Retry-After as seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: unknown, now = Date.now()): number | null {
  if (typeof header !== 'string' || header.trim() === '') return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : null;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export class HttpBulkSink implements AnalyticsSink {
  readonly name = 'http';
  private readonly http: AxiosInstance;
  private readonly agent: Agent | HttpsAgent;
  private readonly o: Required<Omit<HttpSinkOptions, 'username' | 'password'>>;

  constructor(options: HttpSinkOptions) {
    this.o = {
      maxBackoffMs: 10_000,
      wait: (ms) => sleep(ms),
      maxDocsPerRequest: 1000,
      concurrency: 2,
      ...options,
    };
    // An explicit keep-alive agent (Node's global one keeps alive too since 19, but with up to
    // Infinity sockets and a 5 s idle timeout): one socket per request in flight, reused across
    // batches and warm Lambda invocations.
    const agentOptions = {
      keepAlive: true,
      maxSockets: this.o.concurrency,
      maxFreeSockets: this.o.concurrency,
    };
    this.agent = options.url.startsWith('https:') ? new HttpsAgent(agentOptions) : new Agent(agentOptions);
    this.http = axios.create({
      baseURL: options.url.replace(/\/+$/, ''),
      timeout: options.timeoutMs,
      headers: { 'content-type': 'application/x-ndjson' },
      ...(options.username ? { auth: { username: options.username, password: options.password ?? '' } } : {}),
      // Every status is an answer to classify here, not an exception.
      validateStatus: () => true,
      transformResponse: [(d: unknown) => d],
      responseType: 'text',
      // _bulk never redirects: without follow-redirects axios uses node:http directly (no
      // redirect wrapper per request). Request size is bounded by maxDocsPerRequest instead.
      maxRedirects: 0,
      maxBodyLength: Number.POSITIVE_INFINITY,
      maxContentLength: Number.POSITIVE_INFINITY,
      ...(this.agent instanceof HttpsAgent ? { httpsAgent: this.agent } : { httpAgent: this.agent }),
    });
  }

  /**
   * A batch of at most maxDocsPerRequest documents is one request; a bigger one is split into
   * chunks sent `concurrency` at a time, each with its own attempts (results stay in item order).
   * An id repeated across chunks may land in either order; within one chunk the last one wins.
   */
  async write(items: readonly SinkItem[]): Promise<SinkItemResult[]> {
    const size = this.o.maxDocsPerRequest;
    if (items.length <= size) return this.writeChunk(items);
    const chunks: (readonly SinkItem[])[] = [];
    for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
    const done: SinkItemResult[][] = new Array(chunks.length);
    let next = 0;
    const lane = async () => {
      while (next < chunks.length) {
        const k = next++;
        done[k] = await this.writeChunk(chunks[k]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, chunks.length) }, lane));
    return done.flat();
  }

  private async writeChunk(items: readonly SinkItem[]): Promise<SinkItemResult[]> {
    const results: (SinkItemResult | undefined)[] = new Array(items.length);
    // Within one batch the last event of an id wins, as it would in the index.
    let pending = items.map((_, i) => i);
    let lastError = 'no attempt made';
    const attempt = async (): Promise<void> => {
      try {
        const left = await this.send(items, pending, results);
        pending = left.again;
        if (pending.length > 0) throw new RetryBulk(left.reason);
      } catch (err) {
        if (err instanceof RetryBulk) lastError = err.message;
        throw err;
      }
    };
    const { maxAttempts, backoffMs, maxBackoffMs } = this.o;
    try {
      await pRetry(attempt, {
        retries: maxAttempts - 1,
        // randomize draws 1x..2x of minTimeout: with half the base, a wait is 0.5x..1x of base * 2^n.
        minTimeout: backoffMs / 2,
        factor: 2,
        randomize: true,
        maxTimeout: maxBackoffMs,
        onFailedAttempt: async ({ error, retriesLeft }) => {
          const wait = error instanceof RetryBulk ? error.retryAfterMs : null;
          // p-retry adds its own backoff after this; a Retry-After is waited here first, capped.
          if (wait !== null && retriesLeft > 0) await this.o.wait(Math.min(wait, maxBackoffMs));
        },
      });
    } catch {
      // lastError says why; what is still pending fails retriably below.
    }
    for (const i of pending) {
      results[i] = {
        ok: false,
        error: new SinkUnavailableError('http', `gave up after ${maxAttempts} attempts: ${lastError}`),
      };
    }
    return results as SinkItemResult[];
  }

  /**
   * One `_bulk` request of the pending documents: settles what it can in `results` and returns the
   * indexes to send again (retriable item errors), with the last one's reason; a whole-request
   * failure throws RetryBulk (everything stays pending).
   */
  private async send(
    items: readonly SinkItem[],
    pending: number[],
    results: (SinkItemResult | undefined)[],
  ): Promise<{ again: number[]; reason: string }> {
    const batch = pending.map((i) => items[i]!);
    let status: number;
    let text: string;
    let retryAfter: unknown;
    try {
      const res = await this.http.post('/_bulk', bulkBody(batch, this.o.indexPrefix));
      status = res.status;
      text = typeof res.data === 'string' ? res.data : JSON.stringify(res.data);
      retryAfter = res.headers['retry-after'];
    } catch (err) {
      throw new RetryBulk(`request failed: ${(err as Error).message}`); // timeout / network
    }
    if (status < 200 || status >= 300) {
      throw new RetryBulk(`_bulk answered ${status}: ${text.slice(0, 300)}`, retryAfterMs(retryAfter));
    }
    let parsed: { errors?: boolean; items?: Record<string, BulkItemResult>[] };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new RetryBulk(`_bulk answered ${status} with a body that is not JSON`);
    }
    if (!parsed.errors) {
      for (const i of pending) results[i] = { ok: true };
      return { again: [], reason: '' };
    }
    const itemResults = parsed.items ?? [];
    if (itemResults.length !== batch.length) {
      throw new RetryBulk(`_bulk returned ${itemResults.length} items for ${batch.length} documents`);
    }
    const again: number[] = [];
    let reason = '';
    itemResults.forEach((entry, j) => {
      const i = pending[j]!;
      const r = Object.values(entry)[0] ?? { status: 500 };
      if (r.status >= 200 && r.status < 300) results[i] = { ok: true };
      else if (retriableStatus(r.status)) {
        again.push(i);
        reason = `item ${items[i]!.data.correlationId}: ${r.status} ${describe(r.error)}`;
      } else {
        results[i] = {
          ok: false,
          error: new SinkRejectedError(
            'http',
            `document rejected with ${r.status}: ${describe(r.error)}`,
            r.error,
          ),
        };
      }
    });
    return { again, reason };
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

function describe(e: BulkItemResult['error']): string {
  if (!e) return 'unknown error';
  if (typeof e === 'string') return e;
  return `${e.type ?? 'error'}: ${e.reason ?? ''}`;
}
