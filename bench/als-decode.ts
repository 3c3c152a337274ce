/**
 * ALS ingestion per entry on the main thread, old path vs new, alternated in one run (not a test):
 * `node --import tsx bench/als-decode.ts [--rounds 5] [--messages 3000]`.
 * A StreamAccessLogsMessage of 16 entries shaped as an Istio sidecar's (test/adapter/als/fixtures.ts),
 * each carrying the RequestContext JSON the check wrote. Old: proto-loader's whole-message decode,
 * the mapping, JSON.stringify of the event (what emitter.emit does). New: the wire decoder
 * (adapter/als/decode.ts), the mapping, the event spliced from the metadata JSON. CPU per entry.
 */
import { loadavg } from 'node:os';
import { decodeStreamAccessLogsMessage } from '../adapter/als/decode.ts';
import { type HttpAccessLogEntry, mapAccessLogEntry } from '../adapter/als/mapping.ts';
import { requestContextJson } from '../adapter/emit/events.ts';
import { accessLogService } from '../adapter/proto.ts';
import { toStruct } from '../adapter/struct.ts';
import {
  REQUEST_CONTEXT_METADATA_KEY,
  REQUEST_CONTEXT_METADATA_NAMESPACE,
  RequestContext,
} from '../events/request-attributes.ts';
import { envoyEntry } from '../test/adapter/als/fixtures.ts';
import { ALLOWED_CONTEXT } from './fixtures.ts';
import { benchArgs } from './lib/args.ts';

const { values } = benchArgs({
  usage: 'node --import tsx bench/als-decode.ts [options]',
  options: { rounds: { type: 'string', default: '5' }, messages: { type: 'string', default: '3000' } },
});
const ROUNDS = Number(values.rounds);
const N = Number(values.messages);
const ENTRIES = 16;

// As the check builds it for the bench policies' allowed request, with a check id as the ALS path needs.
const ctx = RequestContext.parse({ ...ALLOWED_CONTEXT, checkId: 'bench~1:1' });
const method = accessLogService().service.StreamAccessLogs!;
const entries = Array.from({ length: ENTRIES }, (_, i) => {
  const e = envoyEntry({ requestId: `r-${i}` }) as {
    common_properties: { metadata: { filter_metadata: Record<string, unknown> } };
  };
  e.common_properties.metadata.filter_metadata[REQUEST_CONTEXT_METADATA_NAMESPACE] = toStruct({
    [REQUEST_CONTEXT_METADATA_KEY]: requestContextJson({
      ...ctx,
      requestId: `r-${i}`,
      checkId: `bench~1:${i}`,
    }),
  });
  return e;
});
const bytes = method.requestSerialize({
  identifier: { node: { id: 'sidecar~10.1.4.9~petstore' }, log_name: 'als' },
  http_logs: { log_entry: entries },
}) as Buffer;
const now = new Date();
let sink = 0;

function oldPath(): void {
  const msg = method.requestDeserialize(bytes) as { http_logs: { log_entry: HttpAccessLogEntry[] } };
  for (const e of msg.http_logs.log_entry) {
    const m = mapAccessLogEntry(e, now);
    if (m.kind === 'event') sink += JSON.stringify(m.event).length;
  }
}

function newPath(): void {
  for (const e of decodeStreamAccessLogsMessage(bytes).http_logs.log_entry) {
    const m = mapAccessLogEntry(e, now);
    if (m.kind === 'event') sink += (m.json ?? JSON.stringify(m.event)).length;
  }
}

function perEntry(f: () => void): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / (N * ENTRIES);
}

for (let i = 0; i < 500; i++) {
  oldPath();
  newPath();
}
const load0 = loadavg();
const old: number[] = [];
const neu: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  // Alternate which runs first.
  if (r % 2 === 0) {
    old.push(perEntry(oldPath));
    neu.push(perEntry(newPath));
  } else {
    neu.push(perEntry(newPath));
    old.push(perEntry(oldPath));
  }
  process.stderr.write(
    `round ${r + 1}: old ${old.at(-1)!.toFixed(2)} µs/entry, new ${neu.at(-1)!.toFixed(2)} µs/entry\n`,
  );
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
process.stdout.write(
  `${JSON.stringify({ messageBytes: bytes.length, entriesPerMessage: ENTRIES, oldUsPerEntry: +med(old).toFixed(2), newUsPerEntry: +med(neu).toFixed(2), newOverOld: +(med(neu) / med(old)).toFixed(3), loadavg: [load0, loadavg()].map((l) => l.map((x) => +x.toFixed(2))), sink: sink > 0 })}\n`,
);
