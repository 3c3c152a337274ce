/**
 * The embedded log's writer: a worker thread that owns the write connection, so no SQLite commit
 * (and no fsync with bus.embedded.fsync=true) ever runs on the event loop. The main thread posts
 * requests and awaits the answers (writer-client.ts).
 *
 * Group commit: requests that arrive while a commit runs (fsync is the slow part) are queued; the
 * next turn appends every queued produce in one transaction, in arrival order, and answers them all
 * after it committed. A produce is answered only after its transaction committed, so an
 * acknowledged record survives the worker, the process, and (fsync on) the machine.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LogWriter } from './log-writer.ts';
import type { ProduceCall } from './produce.ts';
import { openDatabase, type TopicSpecRow } from './schema.ts';

export interface WriterData {
  path: string;
  fsync: boolean;
  busyTimeoutMs: number;
  defaultPartitions: number;
}

export type WriterRequest =
  | { id: number; op: 'produce'; call: ProduceCall }
  | { id: number; op: 'createTopics'; specs: TopicSpecRow[] }
  | {
      id: number;
      op: 'claim';
      groupId: string;
      topics: string[];
      owner: string;
      leaseMs: number;
      now: number;
    }
  | { id: number; op: 'position'; groupId: string; topic: string; partition: number; fromBeginning: boolean }
  | {
      id: number;
      op: 'commit';
      groupId: string;
      topic: string;
      partition: number;
      offset: number;
      owner: string;
    }
  | { id: number; op: 'release'; owner: string }
  | { id: number; op: 'retention'; now: number }
  | { id: number; op: 'crash' }
  | { id: number; op: 'close' };

export type WriterReply =
  | {
      id: number;
      ok: true;
      result?: unknown;
      groupSize?: number;
      /** A produce's batch buffer, handed back to be reused (produce.ts: BatchBuffers). */
      buffer?: ArrayBuffer;
    }
  | { id: number; ok: false; error: { name: string; message: string; code?: string } };

const port = parentPort!;
const data = workerData as WriterData;
const db = openDatabase(data.path, { busyTimeoutMs: data.busyTimeoutMs, fsync: data.fsync, create: false });
const writer = new LogWriter(db, data.defaultPartitions);

const errorOf = (err: unknown) => ({
  name: (err as Error)?.name ?? 'Error',
  message: (err as Error)?.message ?? String(err),
  ...(typeof (err as { code?: unknown })?.code === 'string' ? { code: (err as { code: string }).code } : {}),
});

let queue: WriterRequest[] = [];
let scheduled = false;

function run(req: Exclude<WriterRequest, { op: 'produce' }>): unknown {
  switch (req.op) {
    case 'createTopics':
      return writer.createTopics(req.specs);
    case 'claim':
      return writer.claim(req);
    case 'position':
      return writer.position(req);
    case 'commit':
      return writer.commit(req);
    case 'release':
      return writer.release(req.owner);
    case 'retention':
      return writer.enforceRetention(req.now);
    case 'crash':
      // Test hook: a writer that dies with requests in flight must surface as errors, losing nothing acknowledged.
      process.exit(70);
      break;
    case 'close':
      db.close();
      setImmediate(() => process.exit(0));
      return undefined;
  }
}

type ProduceRequest = Extract<WriterRequest, { op: 'produce' }>;

/** The answer to a committed produce, with its batch buffer moved back (this isolate would hold it until a rare GC). */
function produced(g: ProduceRequest, groupSize: number): void {
  const buffer = g.call.data.buffer as ArrayBuffer;
  port.postMessage({ id: g.id, ok: true, groupSize, buffer } satisfies WriterReply, [buffer]);
}

/** Answers a run of produce requests: one transaction for all; on failure each alone (errors stay with their call). */
function produceGroup(group: ProduceRequest[]): void {
  try {
    writer.produce(group.map((g) => g.call));
    for (const g of group) produced(g, group.length);
    return;
  } catch (err) {
    if (group.length === 1) {
      port.postMessage({ id: group[0]!.id, ok: false, error: errorOf(err) } satisfies WriterReply);
      return;
    }
  }
  for (const g of group) {
    try {
      writer.produce([g.call]);
      produced(g, 1);
    } catch (err) {
      port.postMessage({ id: g.id, ok: false, error: errorOf(err) } satisfies WriterReply);
    }
  }
}

function turn(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  let i = 0;
  while (i < batch.length) {
    const req = batch[i]!;
    if (req.op === 'produce') {
      let j = i;
      while (j < batch.length && batch[j]!.op === 'produce') j++;
      produceGroup(batch.slice(i, j) as ProduceRequest[]);
      i = j;
      continue;
    }
    try {
      port.postMessage({ id: req.id, ok: true, result: run(req) } satisfies WriterReply);
    } catch (err) {
      port.postMessage({ id: req.id, ok: false, error: errorOf(err) } satisfies WriterReply);
    }
    i++;
  }
}

port.on('message', (req: WriterRequest) => {
  queue.push(req);
  if (!scheduled) {
    scheduled = true;
    // After the messages already delivered to this turn: they join the same transaction.
    setImmediate(turn);
  }
});
