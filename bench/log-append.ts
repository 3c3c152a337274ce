/**
 * The embedded log writer's append, isolated (not a test): `node --import tsx bench/log-append.ts
 * [--batches 300] [--batch 100] [--partitions 1] [--rounds 5]`. CPU per record of LogWriter.produce
 * (decode the wire batch, partition, insert, update the partitions, commit) on one connection with
 * synchronous=NORMAL (no fsync: CPU, not the disk), records shaped like the check's
 * request-attributes event (a ~1.2 KB JSON value keyed by a request id).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogWriter } from '../bus/embedded/log-writer.ts';
import { encodeWireBatch, type WireRecord } from '../bus/embedded/produce.ts';
import { openDatabase } from '../bus/embedded/schema.ts';
import { benchArgs } from './lib/args.ts';

const { values } = benchArgs({
  usage: 'node --import tsx bench/log-append.ts [options]',
  options: {
    batches: { type: 'string', default: '300' },
    batch: { type: 'string', default: '100' },
    partitions: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '5' },
  },
});
const BATCHES = Number(values.batches);
const SIZE = Number(values.batch);
const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-log-append-'));
const path = join(dir, 'log.db');
openDatabase(path, { busyTimeoutMs: 5000, fsync: false, create: true }).close();
const db = openDatabase(path, { busyTimeoutMs: 5000, fsync: false, create: false });
const writer = new LogWriter(db, 1);
writer.createTopics([
  { name: 'ra', partitions: Number(values.partitions), retentionMs: -1, cleanupPolicy: 'delete' },
]);
const value = (i: number) =>
  `{"type":"request-attributes","schemaVersion":1,"eventId":"chk:bench~abcdefgh:${i}","occurredAt":"2026-12-03T14:00:00.000Z","source":"check",${'"field":"value-of-some-length-for-a-request",'.repeat(24)}"response":null}`;
let n = 0;
function batch(): Buffer {
  const records: WireRecord[] = [];
  for (let i = 0; i < SIZE; i++, n++)
    records.push({
      key: `0f8fad5b-d9cb-469f-a165-${String(n).padStart(12, '0')}`,
      value: value(n),
      headers: null,
      ts: 1_796_000_000_000 + n,
    });
  return encodeWireBatch(records);
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const perRecord: number[] = [];
for (let r = 0; r < Number(values.rounds) + 1; r++) {
  const data = Array.from({ length: BATCHES }, batch);
  const c0 = process.cpuUsage();
  for (const d of data) writer.produce([{ topic: 'ra', data: d }]);
  const c = process.cpuUsage(c0);
  if (r > 0) perRecord.push((c.user + c.system) / (BATCHES * SIZE)); // round 0 warms up
}
process.stdout.write(
  `${JSON.stringify({ batch: SIZE, partitions: Number(values.partitions), cpuUsPerRecord: +med(perRecord).toFixed(2), rounds: perRecord.map((x) => +x.toFixed(2)), valueBytes: Buffer.byteLength(value(0)) })}\n`,
);
db.close();
rmSync(dir, { recursive: true, force: true });
