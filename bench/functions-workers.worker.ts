/**
 * Worker side of bench/functions-workers.ts: the CPU part of the analytics pipeline (decode +
 * validate against the request-attributes contract + WSO2 mapping + ELK line), nothing else.
 */
import { parentPort } from 'node:worker_threads';
import type { RequestAttributes as RequestAttributesEvent } from '../events/request-attributes.ts';
import { RequestAttributes } from '../events/request-attributes.ts';
import { toAnalyticsEvent } from '../functions/analytics-publisher/publisher.ts';
import { elkLineWith } from '../functions/analytics-publisher/sinks/elk-line.ts';
import { validateRecord } from '../functions/lib/contracts.ts';

/** The lines of one batch of record values, joined (what the file sink writes). */
export function renderBatch(values: readonly Buffer[]): string {
  let out = '';
  for (const value of values) {
    const rec = { topic: 'bench', partition: 0, offset: '0', timestamp: 0, key: null, value, headers: {} };
    const a = toAnalyticsEvent(validateRecord(rec, RequestAttributes) as RequestAttributesEvent);
    if (!('skip' in a)) out += elkLineWith('12:00:00,000 [', a);
  }
  return out;
}

/** One message = one batch: the values concatenated in one transferred buffer, split at `ends`. */
parentPort?.on('message', (m: { id: number; buf: Uint8Array; ends: number[] }) => {
  const all = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
  const values: Buffer[] = [];
  let at = 0;
  for (const end of m.ends) {
    values.push(all.subarray(at, end));
    at = end;
  }
  parentPort!.postMessage({ id: m.id, text: renderBatch(values) });
});
