/**
 * The analytics publisher's core: validated request-attributes -> WSO2 analytics events -> every
 * configured sink; one outcome per record. Sinks come from configuration (createSinks) or are
 * injected (tests, replay).
 */
import path from 'node:path';
import type { Config } from '../../common/config/index.ts';
import { errorMessage, isRetriable } from '../../common/errors.ts';
import type { AnalyticsEvent } from '../../events/analytics.ts';
import type { RequestAttributes } from '../../events/request-attributes.ts';
import type { RecordOutcome } from '../lib/batch.ts';
import type { FunctionCore } from '../lib/define.ts';
import type { FunctionDeps } from '../lib/deps.ts';
import { AnalyticsMappingError, SinkUnavailableError } from './errors.ts';
import { DEFAULT_MAPPING, type MappingOptions, toAnalytics } from './mapping.ts';
import { FileSink } from './sinks/file.ts';
import { HttpBulkSink } from './sinks/http.ts';
import { KafkaSink } from './sinks/kafka.ts';
import type { AnalyticsSink, SinkItem } from './sinks/types.ts';

export const FUNCTION_NAME = 'analytics-publisher';

export const IDEMPOTENCY =
  'Each analytics event is keyed by the eventId of the request-attributes event it came from (one per check, ' +
  'never the x-request-id alone, which retries and clients share): the HTTP sink indexes it as the document id ' +
  '(a re-send overwrites), the file sink drops ids it wrote recently (window seeded from the file ' +
  'tail at start; replays write a per-range file), and the Kafka sink carries a deterministic eventId for ' +
  'consumers to dedupe. Re-processing a batch therefore never double counts in the HTTP sink and, within the ' +
  'window, not in the file sink.';

export interface AnalyticsPublisherOptions {
  sinks: readonly AnalyticsSink[];
  mapping?: MappingOptions;
}

/** `analytics:<request eventId>`; an over-long legacy id is cut to the envelope's 200 characters. */
function analyticsEventId(requestEventId: string): string {
  const id = `analytics:${requestEventId}`;
  return id.length <= 200 ? id : id.slice(0, 200);
}

/** The WSO2 event of one request-attributes event, in the analytics topic's envelope; null = skip. */
export function toAnalyticsEvent(
  ev: RequestAttributes,
  mapping: MappingOptions = DEFAULT_MAPPING,
): AnalyticsEvent | { skip: string } {
  const m = toAnalytics(ev, mapping);
  if (m.metric === null) return { skip: m.reason };
  // One literal per metric (no spreads): this runs once per record on the hot path.
  // eventId is deterministic (no clock): a replay produces byte-identical events.
  return m.metric === 'apim:response'
    ? {
        type: 'apim-analytics',
        schemaVersion: 1,
        eventId: analyticsEventId(ev.eventId),
        occurredAt: m.data.requestTimestamp,
        metric: m.metric,
        data: m.data,
      }
    : {
        type: 'apim-analytics',
        schemaVersion: 1,
        eventId: analyticsEventId(ev.eventId),
        occurredAt: m.data.requestTimestamp,
        metric: m.metric,
        data: m.data,
      };
}

const OK: RecordOutcome = Object.freeze({ status: 'ok' });

/** The core over the given sinks (functions/analytics-publisher/index.ts defines the function). */
export function analyticsFunction(o: AnalyticsPublisherOptions): FunctionCore<RequestAttributes> {
  const mapping = o.mapping ?? DEFAULT_MAPPING;
  return {
    async process(records) {
      const outcomes: RecordOutcome[] = new Array(records.length);
      const items: SinkItem[] = [];
      const owner: number[] = [];
      for (let i = 0; i < records.length; i++) {
        try {
          const a = toAnalyticsEvent(records[i]!.event, mapping);
          if ('skip' in a) outcomes[i] = { status: 'skipped', reason: a.skip };
          else {
            items.push(a);
            owner.push(i);
          }
        } catch (cause) {
          outcomes[i] = {
            status: 'failed',
            error: new AnalyticsMappingError(errorMessage(cause), { cause }),
          };
        }
      }
      if (items.length === 0) return outcomes;
      const perSink = await Promise.allSettled(o.sinks.map((s) => s.write(items)));
      // The common case, every sink answered ok for every item, without a closure per item and sink.
      const allOk = perSink.every(
        (settled) =>
          settled.status === 'fulfilled' &&
          settled.value.length >= items.length &&
          settled.value.every((r) => r.ok),
      );
      if (allOk) {
        for (const i of owner) outcomes[i] = OK;
        return outcomes;
      }
      items.forEach((_, k) => {
        let retriable: unknown;
        let rejected: unknown;
        perSink.forEach((settled, si) => {
          const err =
            settled.status === 'rejected'
              ? settled.reason instanceof Error
                ? settled.reason
                : new SinkUnavailableError(o.sinks[si]!.name, String(settled.reason))
              : settled.value[k]?.ok === false
                ? (settled.value[k] as { error: unknown }).error
                : settled.value[k] === undefined
                  ? new SinkUnavailableError(o.sinks[si]!.name, 'returned no result for an item')
                  : undefined;
          if (err === undefined) return;
          if (isRetriable(err)) retriable ??= err;
          else rejected ??= err;
        });
        // A retriable failure wins: the retry may well succeed everywhere.
        const error = retriable ?? rejected;
        outcomes[owner[k]!] = error === undefined ? OK : { status: 'failed', error };
      });
      return outcomes;
    },
  };
}

export interface SinkOverrides {
  /** File sink base name (replay: per-range file) and truncation at open. */
  fileName?: string;
  truncateFile?: boolean;
  /** Restrict to these sinks (replay --sink). */
  only?: readonly ('file' | 'http' | 'kafka')[];
}

export function createSinks(
  config: Config,
  deps: Pick<FunctionDeps, 'producer'>,
  over: SinkOverrides = {},
): AnalyticsSink[] {
  const f = config.functions;
  const kinds = over.only ?? f.analytics.sinks;
  return kinds.map((kind): AnalyticsSink => {
    switch (kind) {
      case 'file':
        return new FileSink({
          dir: f.analytics.file.dir || path.join(config.dataDir, 'analytics'),
          ...(over.fileName ? { name: over.fileName } : {}),
          truncate: over.truncateFile ?? false,
          maxBytes: f.analytics.file.maxBytes,
          maxFiles: f.analytics.file.maxFiles,
          fsync: f.analytics.file.fsync,
          dedupWindow: f.analytics.file.dedupWindow,
        });
      case 'http':
        if (!f.analytics.http.url)
          throw new SinkUnavailableError('http', 'functions.analytics.http.url is empty');
        return new HttpBulkSink({
          url: f.analytics.http.url,
          indexPrefix: f.analytics.index,
          timeoutMs: f.analytics.http.timeoutMs,
          maxAttempts: f.analytics.http.maxAttempts,
          backoffMs: f.analytics.http.backoffMs,
          username: f.analytics.http.username,
          password: f.analytics.http.password,
        });
      default:
        return new KafkaSink(deps.producer, config.bus.topicPrefix);
    }
  });
}

export function mappingFromConfig(config: Config): MappingOptions {
  return {
    regionId: config.functions.analytics.regionId,
    gatewayType: config.functions.analytics.gatewayType,
  };
}
