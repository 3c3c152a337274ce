/**
 * A replay worker thread's body: reads its batches from the embedded log on a connection of its own
 * and runs them through the handler `workerData.entry` builds (the whole batch core: decode, contract
 * validation, mapping), whose side effects (sink writes, dead letters) are calls to the main thread
 * (replay-pool.ts applies them in batch order). A few jobs run at once, so one waits on its write
 * while the next computes; AsyncLocalStorage tells the calls whose batch they belong to.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { openPageReader } from '../../bus/embedded/read.ts';
import type { KafkaHandler } from '../lib/handler.ts';
import {
  type CallMain,
  type FromWorker,
  fromWire,
  type Job,
  type ToWorker,
  toWire,
  type WorkerData,
} from './replay-wire.ts';

export interface ReplayWorkerEntry {
  replayWorkerHandler(init: unknown, call: CallMain): KafkaHandler;
}

export function runReplayWorker(entry: ReplayWorkerEntry): void {
  const data = workerData as WorkerData;
  const port = parentPort!;
  const post = (m: FromWorker) => port.postMessage(m);
  const reader = openPageReader(data.reader);
  const batch = new AsyncLocalStorage<number>();
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  let nextId = 1;
  const call: CallMain = (service, payload) => {
    const seq = batch.getStore();
    if (seq === undefined)
      return Promise.reject(new Error(`replay worker: ${service} called outside a batch`));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      post({ type: 'call', id, seq, service, payload });
    });
  };
  const handler = entry.replayWorkerHandler(data.init, call);

  const run = async (job: Job) => {
    try {
      const records = reader.read(job.partition, job.from, job.end, job.max);
      if (records.length === 0) {
        post({
          type: 'done',
          seq: job.seq,
          ok: true,
          read: 0,
          first: null,
          processed: 0,
          skipped: 0,
          deadLettered: 0,
        });
        return;
      }
      const context = { awsRequestId: job.requestId, functionName: data.functionName };
      const s = await batch.run(job.seq, () =>
        handler.records
          ? handler.records(records, context)
          : Promise.reject(new Error('replay worker handler has no record entry point')),
      );
      post({
        type: 'done',
        seq: job.seq,
        ok: true,
        read: records.length,
        first: Number(records[0]!.offset),
        processed: s.processed,
        skipped: s.skipped,
        deadLettered: s.deadLettered,
      });
    } catch (err) {
      post({ type: 'done', seq: job.seq, ok: false, error: toWire(err) });
    }
  };

  port.on('message', (m: ToWorker) => {
    if (m.type === 'job') {
      void run(m);
      return;
    }
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(fromWire(m.error));
  });
  port.on('close', () => reader.close());
}
