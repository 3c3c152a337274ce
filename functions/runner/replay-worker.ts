/**
 * Worker side of the parallel replay (functions/runner/replay-pool.ts): one worker per partition,
 * running the analytics publisher's whole handler (decode, validate against the contract, map,
 * sinks) over the batches its partition's lane sends, with its own sinks and dedup state: its file
 * sink writes the partition's own replay file. Dead letters and Kafka-sink records are produced
 * by the main thread (it owns the bus): the worker asks and waits for the answer, so a batch
 * resolves only once they are durable, as in-process.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { InRecord, OutRecord } from '../../bus/types.ts';
import type { Config } from '../../common/config.ts';
import { isRetriable } from '../../common/errors.ts';
import { createLogger } from '../../common/log.ts';
import type { SinkOverrides } from '../analytics/publisher.ts';
import { create } from '../analytics-publisher.ts';
import { MemoryDeadLetterPublisher } from '../lib/dead-letter.ts';
import { busDeps, type FunctionDeps } from '../lib/deps.ts';

export interface ReplayWorkerData {
  config: Config;
  overrides: SinkOverrides;
  /** Publish nothing: no sinks, dead letters kept in memory (dry run). */
  dryRun: boolean;
  /** The caller's log level (per-batch lines are the caller's choice, e.g. silenced by the bench). */
  logLevel: string;
}

/** One batch: record values/keys concatenated in one transferred buffer. */
export interface BatchMessage {
  kind: 'batch';
  id: number;
  requestId: string;
  buf: Uint8Array;
  records: {
    topic: string;
    partition: number;
    offset: string;
    timestamp: number;
    /** [start, end) in buf, or null. */
    key: [number, number] | null;
    value: [number, number] | null;
    headers: Record<string, [number, number]>;
  }[];
}

export type WorkerReply =
  | { kind: 'done'; id: number; summary: { processed: number; skipped: number; deadLettered: number } }
  | { kind: 'failed'; id: number; error: { message: string; code: string; retriable: boolean } }
  | { kind: 'produce'; id: number; topic: string; records: OutRecord[] };

export type MainReply = { kind: 'produced'; id: number; error?: string };

function decode(m: BatchMessage): InRecord[] {
  const all = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
  const slice = (r: [number, number] | null) => (r === null ? null : all.subarray(r[0], r[1]));
  return m.records.map((r) => {
    const headers: Record<string, Buffer> = {};
    for (const [k, range] of Object.entries(r.headers)) headers[k] = slice(range)!;
    return { ...r, key: slice(r.key), value: slice(r.value), headers };
  });
}

if (parentPort) {
  const port = parentPort;
  const data = workerData as ReplayWorkerData;
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let rpc = 0;
  // The main thread's bus, by message: resolves once the records are durably produced.
  const producer = {
    produce: (topic: string, records: OutRecord[]) =>
      new Promise<void>((resolve, reject) => {
        const id = rpc++;
        waiting.set(id, { resolve, reject });
        port.postMessage({ kind: 'produce', id, topic, records } satisfies WorkerReply);
      }),
  };
  const logger = createLogger('replay');
  logger.level = data.logLevel;
  const deps: FunctionDeps = busDeps(producer, data.config, logger);
  if (data.dryRun) deps.deadLetters = new MemoryDeadLetterPublisher();
  const instance = create(deps, data.dryRun ? { sinks: [] } : { overrides: data.overrides });
  port.on('message', async (m: BatchMessage | MainReply | { kind: 'close' }) => {
    if (m.kind === 'produced') {
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.error === undefined) w?.resolve();
      else w?.reject(new Error(m.error));
      return;
    }
    if (m.kind === 'close') {
      await instance.close();
      port.close();
      return;
    }
    try {
      const s = await instance.handler.records!(decode(m), { awsRequestId: m.requestId });
      port.postMessage({
        kind: 'done',
        id: m.id,
        summary: { processed: s.processed, skipped: s.skipped, deadLettered: s.deadLettered },
      } satisfies WorkerReply);
    } catch (err) {
      const e = err as Error & { code?: string };
      port.postMessage({
        kind: 'failed',
        id: m.id,
        error: { message: e.message, code: e.code ?? 'REPLAY_WORKER_FAILED', retriable: isRetriable(err) },
      } satisfies WorkerReply);
    }
  });
}
