/**
 * Elasticsearch/OpenSearch `_bulk` sink (NDJSON over axios). The event id (dedupKey: the
 * request-attributes eventId, one per check) is the document id, so a redelivered batch or a replay overwrites instead of double counting. Documents go to
 * `<indexPrefix>_response` / `<indexPrefix>_faulty` (default apim_event_*, the index names WSO2's
 * Kibana dashboards read) with an `@timestamp` copied from requestTimestamp.
 *
 * Failures: the whole request failing with 429, 5xx, a timeout or a network error is retried with
 * exponential backoff and full jitter; per-item errors are split: 429/5xx items are retried, other
 * item errors (mapping/parsing: 4xx) are poison for that record. When attempts run out the
 * remaining items fail retriably (the batch is retried later). Other whole-request 4xx (401, 403,
 * 404 index missing ...) are configuration problems: retriable too, so no event is lost to them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import axios, { type AxiosInstance } from 'axios';
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
  /** Test hook: deterministic jitter. */
  random?: () => number;
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

export class HttpBulkSink implements AnalyticsSink {
  readonly name = 'http';
  private readonly http: AxiosInstance;
  private readonly o: Required<Omit<HttpSinkOptions, 'username' | 'password'>>;

  constructor(options: HttpSinkOptions) {
    this.o = { maxBackoffMs: 10_000, random: Math.random, ...options };
    this.http = axios.create({
      baseURL: options.url.replace(/\/+$/, ''),
      timeout: options.timeoutMs,
      headers: { 'content-type': 'application/x-ndjson' },
      ...(options.username ? { auth: { username: options.username, password: options.password ?? '' } } : {}),
      // Every status is an answer to classify here, not an exception.
      validateStatus: () => true,
      transformResponse: [(d: unknown) => d],
      responseType: 'text',
    });
  }

  private backoff(attempt: number): number {
    const cap = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** (attempt - 1));
    return Math.floor(this.o.random() * cap); // full jitter
  }

  async write(items: readonly SinkItem[]): Promise<SinkItemResult[]> {
    const results: (SinkItemResult | undefined)[] = new Array(items.length);
    // Within one batch the last event of an id wins, as it would in the index.
    let pending = items.map((_, i) => i);
    let lastError = 'no attempt made';
    for (let attempt = 1; attempt <= this.o.maxAttempts && pending.length > 0; attempt++) {
      if (attempt > 1) await sleep(this.backoff(attempt - 1));
      const batch = pending.map((i) => items[i]!);
      let status: number;
      let text: string;
      try {
        const res = await this.http.post('/_bulk', bulkBody(batch, this.o.indexPrefix));
        status = res.status;
        text = typeof res.data === 'string' ? res.data : JSON.stringify(res.data);
      } catch (err) {
        lastError = `request failed: ${(err as Error).message}`;
        continue; // timeout / network: retry
      }
      if (status < 200 || status >= 300) {
        lastError = `_bulk answered ${status}: ${text.slice(0, 300)}`;
        continue;
      }
      let parsed: { errors?: boolean; items?: Record<string, BulkItemResult>[] };
      try {
        parsed = JSON.parse(text);
      } catch {
        lastError = `_bulk answered ${status} with a body that is not JSON`;
        continue;
      }
      if (!parsed.errors) {
        for (const i of pending) results[i] = { ok: true };
        pending = [];
        break;
      }
      const itemResults = parsed.items ?? [];
      if (itemResults.length !== batch.length) {
        lastError = `_bulk returned ${itemResults.length} items for ${batch.length} documents`;
        continue;
      }
      const again: number[] = [];
      itemResults.forEach((entry, j) => {
        const i = pending[j]!;
        const r = Object.values(entry)[0] ?? { status: 500 };
        if (r.status >= 200 && r.status < 300) results[i] = { ok: true };
        else if (retriableStatus(r.status)) {
          again.push(i);
          lastError = `item ${items[i]!.data.correlationId}: ${r.status} ${describe(r.error)}`;
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
      pending = again;
    }
    for (const i of pending) {
      results[i] = {
        ok: false,
        error: new SinkUnavailableError('http', `gave up after ${this.o.maxAttempts} attempts: ${lastError}`),
      };
    }
    return results as SinkItemResult[];
  }

  async close(): Promise<void> {}
}

function describe(e: BulkItemResult['error']): string {
  if (!e) return 'unknown error';
  if (typeof e === 'string') return e;
  return `${e.type ?? 'error'}: ${e.reason ?? ''}`;
}
