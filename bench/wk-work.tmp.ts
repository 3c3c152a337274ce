import { parentPort } from 'node:worker_threads';
import { toAnalyticsEvent } from '../functions/analytics/publisher.ts';
import { elkLineWith } from '../functions/analytics/sinks/elk-line.ts';
import { validateRecord } from '../functions/lib/contracts.ts';
import { RequestAttributes } from '../events/request-attributes.ts';
export function work(values: Buffer[]): string[] {
  const out: string[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const ev = validateRecord({ topic: 't', partition: 0, offset: '0', timestamp: 0, key: null, value: values[i]!, headers: {} }, RequestAttributes);
    const a = toAnalyticsEvent(ev as any) as any;
    out[i] = elkLineWith('12:00:00,000 [', a);
  }
  return out;
}
parentPort?.on('message', (m: { id: number; buf: Uint8Array; ends: number[] }) => {
  const b = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
  const vals: Buffer[] = []; let at = 0;
  for (const e of m.ends) { vals.push(b.subarray(at, e)); at = e; }
  const lines = work(vals);
  parentPort!.postMessage({ id: m.id, text: lines.join('') });
});
