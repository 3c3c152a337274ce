/**
 * A local OTLP/HTTP trace receiver (JSON encoding, what @opentelemetry/exporter-trace-otlp-http
 * sends): POST /v1/traces, answers 200 with an empty ExportTraceServiceResponse, keeps every span
 * with its resource attributes. Gzip bodies are inflated (OTEL_EXPORTER_OTLP_COMPRESSION=gzip).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

type AnyValue = {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
};
interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  status: { code?: number; message?: string };
  attributes: Record<string, string | number | boolean | undefined>;
  resource: Record<string, string | number | boolean | undefined>;
}

function flatten(kvs: KeyValue[] | undefined): Record<string, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const kv of kvs ?? []) {
    const v = kv.value;
    out[kv.key] =
      v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
  }
  return out;
}

export class FakeOtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Requests that were not a parsable JSON export (their content type). */
  readonly rejected: string[] = [];
  private server: Server | null = null;
  private waiters: Array<() => void> = [];

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`${req.method} ${req.url}`);
          let body = Buffer.concat(chunks);
          if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
          const json = JSON.parse(body.toString('utf8')) as {
            resourceSpans?: Array<{
              resource?: { attributes?: KeyValue[] };
              scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }>;
            }>;
          };
          for (const rs of json.resourceSpans ?? []) {
            const resource = flatten(rs.resource?.attributes);
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                this.spans.push({
                  traceId: String(s.traceId),
                  spanId: String(s.spanId),
                  parentSpanId: String(s.parentSpanId ?? ''),
                  name: String(s.name),
                  kind: Number(s.kind),
                  status: (s.status as ReceivedSpan['status']) ?? {},
                  attributes: flatten(s.attributes as KeyValue[]),
                  resource,
                });
              }
            }
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          for (const w of this.waiters.splice(0)) w();
        } catch {
          this.rejected.push(String(req.headers['content-type']));
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once at least n spans arrived (rejects after timeoutMs). */
  async waitFor(n: number, timeoutMs = 10_000): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.spans.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`fake OTLP receiver: ${this.spans.length} of ${n} spans`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.spans;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
