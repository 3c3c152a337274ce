/**
 * Lambda's Kafka event shapes, their decoding into bus InRecords, and the reverse builder used by the
 * local runner, replay, `invoke` and tests — so the exact same handler code runs on Lambda and locally.
 *
 * Both shapes group records under "<topic>-<partition>"; key and value are base64, headers are an
 * array of single-entry objects `{ name: [byte, ...] }`. MSK adds `eventSourceArn`.
 */
import type { InRecord } from '../../bus/types.ts';
import { InvalidLambdaEventError, RecordDecodeError } from './errors.ts';

export type LambdaKafkaHeader = Record<string, number[]>;

export interface LambdaKafkaRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType?: 'CREATE_TIME' | 'LOG_APPEND_TIME';
  /** base64; absent for a null key. */
  key?: string | null;
  /** base64; absent/null for a tombstone. */
  value?: string | null;
  headers?: LambdaKafkaHeader[];
}

export interface MskEvent {
  eventSource: 'aws:kafka';
  eventSourceArn: string;
  bootstrapServers?: string;
  records: Record<string, LambdaKafkaRecord[]>;
}

export interface SelfManagedKafkaEvent {
  eventSource: 'SelfManagedKafka';
  bootstrapServers?: string;
  records: Record<string, LambdaKafkaRecord[]>;
}

export type LambdaKafkaEvent = MskEvent | SelfManagedKafkaEvent;

export type LambdaEventShape = 'msk' | 'self-managed';

/** "<topic>-<partition>": topic names may contain dashes, so split at the last one. */
export function splitTopicPartition(groupKey: string): { topic: string; partition: number } {
  const i = groupKey.lastIndexOf('-');
  const topic = groupKey.slice(0, i);
  const part = groupKey.slice(i + 1);
  if (i <= 0 || !/^\d+$/.test(part)) {
    throw new InvalidLambdaEventError(`records key "${groupKey}" is not "<topic>-<partition>"`);
  }
  return { topic, partition: Number(part) };
}

/**
 * Strict base64 without a regex pass over every value (the hot path of every batch). Node's decoder
 * skips characters outside the alphabet and stops at the first '=', so a string is canonical base64
 * exactly when its length is a multiple of 4, it holds no base64url characters ('-', '_'), and it
 * decodes to length/4*3 bytes less its (at most two) trailing '='.
 */
function decodeBase64(field: string, text: string): Buffer {
  // Buffer.from(..., 'base64') silently skips garbage; a corrupt field must be a poison record instead.
  if (typeof text !== 'string' || text.length % 4 !== 0 || text.includes('-') || text.includes('_')) {
    throw new RecordDecodeError(`${field} is not valid base64`);
  }
  const n = text.length;
  const pad = n === 0 ? 0 : text.charCodeAt(n - 1) === 61 ? (text.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
  const buf = Buffer.from(text, 'base64');
  if (buf.length !== (n / 4) * 3 - pad) throw new RecordDecodeError(`${field} is not valid base64`);
  return buf;
}

function decodeHeaders(headers: unknown): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  if (headers === undefined || headers === null) return out;
  if (!Array.isArray(headers)) throw new RecordDecodeError('headers is not an array');
  for (const h of headers) {
    if (typeof h !== 'object' || h === null) throw new RecordDecodeError('header entry is not an object');
    for (const [name, bytes] of Object.entries(h as Record<string, unknown>)) {
      if (!Array.isArray(bytes) || !bytes.every((b) => Number.isInteger(b) && b >= -128 && b <= 255)) {
        throw new RecordDecodeError(`header "${name}" is not an array of bytes`);
      }
      // Java producers' signed bytes come through as negatives: & 0xff makes them unsigned.
      out[name] = Buffer.from((bytes as number[]).map((b) => b & 0xff)); // a repeated header: last one wins
    }
  }
  return out;
}

/** A record that could not even be turned into an InRecord: kept raw for the dead-letter envelope. */
export interface UndecodableRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: number | null;
  raw: LambdaKafkaRecord;
  error: RecordDecodeError;
}

export type DecodedEntry = { ok: true; record: InRecord } | { ok: false; failure: UndecodableRecord };

/** Structural check of the event envelope; a wrong envelope is the invoker's bug, not a poison record. */
export function assertLambdaKafkaEvent(event: unknown): asserts event is LambdaKafkaEvent {
  if (typeof event !== 'object' || event === null)
    throw new InvalidLambdaEventError('event is not an object');
  const e = event as Record<string, unknown>;
  if (e.eventSource !== 'aws:kafka' && e.eventSource !== 'SelfManagedKafka') {
    throw new InvalidLambdaEventError(
      `eventSource must be "aws:kafka" or "SelfManagedKafka", got ${JSON.stringify(e.eventSource)}`,
    );
  }
  if (e.eventSource === 'aws:kafka' && typeof e.eventSourceArn !== 'string') {
    throw new InvalidLambdaEventError('an MSK event (aws:kafka) needs eventSourceArn');
  }
  if (typeof e.records !== 'object' || e.records === null || Array.isArray(e.records)) {
    throw new InvalidLambdaEventError('records must be an object keyed by "<topic>-<partition>"');
  }
  for (const [k, list] of Object.entries(e.records as Record<string, unknown>)) {
    splitTopicPartition(k);
    if (!Array.isArray(list)) throw new InvalidLambdaEventError(`records["${k}"] is not an array`);
  }
}

export function eventShape(event: LambdaKafkaEvent): LambdaEventShape {
  return event.eventSource === 'aws:kafka' ? 'msk' : 'self-managed';
}

/**
 * Decodes every record of the event, in group order then offset order. Per-record problems do not
 * throw: they come back as `{ ok: false }` entries so the batch core can dead-letter them.
 */
export function decodeKafkaEvent(event: unknown): DecodedEntry[] {
  assertLambdaKafkaEvent(event);
  const out: DecodedEntry[] = [];
  for (const [groupKey, list] of Object.entries(event.records)) {
    const group = splitTopicPartition(groupKey);
    for (const raw of list) {
      const topic = typeof raw?.topic === 'string' ? raw.topic : group.topic;
      const partition = Number.isInteger(raw?.partition) ? raw.partition : group.partition;
      const offset = raw?.offset;
      if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
        throw new InvalidLambdaEventError(`record in "${groupKey}" has no valid offset`);
      }
      const timestamp = Number.isFinite(raw.timestamp) ? raw.timestamp : null;
      try {
        if (topic !== group.topic || partition !== group.partition) {
          throw new RecordDecodeError(`record says ${topic}-${partition} but is grouped under "${groupKey}"`);
        }
        const key = raw.key === undefined || raw.key === null ? null : decodeBase64('key', raw.key);
        const value = raw.value === undefined || raw.value === null ? null : decodeBase64('value', raw.value);
        out.push({
          ok: true,
          record: {
            topic,
            partition,
            offset: String(offset),
            timestamp: timestamp ?? 0,
            key,
            value,
            headers: decodeHeaders(raw.headers),
          },
        });
      } catch (err) {
        if (!(err instanceof RecordDecodeError)) throw err;
        out.push({
          ok: false,
          failure: { topic, partition, offset: String(offset), timestamp, raw, error: err },
        });
      }
    }
  }
  return out;
}

export interface BuildEventOptions {
  shape?: LambdaEventShape;
  /** MSK cluster ARN (shape msk). */
  eventSourceArn?: string;
  bootstrapServers?: string;
}

const DEFAULT_ARN =
  'arn:aws:kafka:us-east-1:000000000000:cluster/mesh-apim-local/00000000-0000-0000-0000-000000000000-1';

/** InRecords (any topics/partitions) -> the event Lambda would deliver for them. */
export function buildLambdaKafkaEvent(
  records: readonly InRecord[],
  options: BuildEventOptions = {},
): LambdaKafkaEvent {
  const groups: Record<string, LambdaKafkaRecord[]> = {};
  for (const r of records) {
    const k = `${r.topic}-${r.partition}`;
    const rec: LambdaKafkaRecord = {
      topic: r.topic,
      partition: r.partition,
      offset: Number(r.offset),
      timestamp: r.timestamp,
      timestampType: 'CREATE_TIME',
      value: r.value === null ? null : r.value.toString('base64'),
      headers: Object.entries(r.headers).map(([name, v]) => ({ [name]: [...v] })),
    };
    if (r.key !== null) rec.key = r.key.toString('base64');
    const group = groups[k] ?? [];
    group.push(rec);
    groups[k] = group;
  }
  const bootstrapServers = options.bootstrapServers ?? 'localhost:9092';
  if ((options.shape ?? 'self-managed') === 'msk') {
    return {
      eventSource: 'aws:kafka',
      eventSourceArn: options.eventSourceArn ?? DEFAULT_ARN,
      bootstrapServers,
      records: groups,
    };
  }
  return { eventSource: 'SelfManagedKafka', bootstrapServers, records: groups };
}

/** Convenience for tests and samples: JSON values -> InRecords on one topic/partition. */
export function inRecordsFromValues(
  topic: string,
  values: readonly unknown[],
  options: {
    partition?: number;
    firstOffset?: number;
    timestamp?: number;
    key?: (v: unknown) => string | null;
  } = {},
): InRecord[] {
  return values.map((v, i) => ({
    topic,
    partition: options.partition ?? 0,
    offset: String((options.firstOffset ?? 0) + i),
    timestamp: options.timestamp ?? Date.now(),
    key: options.key ? (options.key(v) === null ? null : Buffer.from(options.key(v) as string)) : null,
    value: Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)),
    headers: {},
  }));
}
