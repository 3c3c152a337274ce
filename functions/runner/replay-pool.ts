/**
 * Parallel replay: one worker_thread per partition (functions/runner/replay-worker.ts) running the
 * analytics publisher's CPU part (decode, validate, map) and its sinks, so partitions use more than
 * the one JS thread. The main thread keeps reading the log, pacing (--rate), retrying batches and
 * producing to the bus (dead letters, Kafka sink) on the workers' behalf.
 *
 * What changes with workers: each partition has its own sinks and dedup state, so the file sink
 * writes one replay file per partition, `<replay file>.p<partition>.log`, each truncated when the
 * replay starts (a range replayed twice still leaves one copy of every event); the HTTP sink is
 * unchanged (document id = event id). Ordering is per partition, as on the bus.
 * Lambda is untouched: it runs one batch per invocation through the same handler in-process.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Bus, InRecord, OutRecord } from '../../bus/types.ts';
import type { Config } from '../../common/config.ts';
import { MeshApimError } from '../../common/errors.ts';
import type { SinkOverrides } from '../analytics/publisher.ts';
import type { ReplayHandler } from './replay.ts';
import type { BatchMessage, MainReply, ReplayWorkerData, WorkerReply } from './replay-worker.ts';

export interface ReplayPoolOptions {
  config: Config;
  overrides: SinkOverrides;
  dryRun?: boolean;
  /** Where the workers' dead letters and Kafka-sink records go. */
  producer: Pick<Bus, 'produce'>;
  logLevel?: string;
}

export interface ReplayPool {
  /** The handler of one partition's lane (its worker starts on first use). */
  handlerFor(partition: number): ReplayHandler;
  close(): Promise<void>;
}

/** The per-partition replay file base name: `<name>.p<partition>`. */
export function partitionFileName(name: string, partition: number): string {
  return `${name}.p${partition}`;
}

function startWorker(data: ReplayWorkerData): Worker {
  const url = new URL(`./replay-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData: data });
  // From source (bin/mesh-apim.js runs TypeScript through tsx): a worker does not inherit the main
  // thread's loader hooks, so it registers tsx before importing the worker module.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(
    `import(${tsx}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`,
    { eval: true, workerData: data },
  );
}

/** A batch's keys, values and headers in one buffer (transferred, not copied per record). */
function pack(records: readonly InRecord[]): {
  buf: Uint8Array;
  records: BatchMessage['records'];
} {
  let size = 0;
  for (const r of records) {
    size += (r.key?.length ?? 0) + (r.value?.length ?? 0);
    for (const h of Object.values(r.headers)) size += h.length;
  }
  const buf = new Uint8Array(size);
  let at = 0;
  const put = (b: Buffer | null): [number, number] | null => {
    if (b === null) return null;
    buf.set(b, at);
    at += b.length;
    return [at - b.length, at];
  };
  const out = records.map((r) => {
    const headers: Record<string, [number, number]> = {};
    for (const [k, v] of Object.entries(r.headers)) headers[k] = put(v)!;
    return {
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      timestamp: r.timestamp,
      key: put(r.key),
      value: put(r.value),
      headers,
    };
  });
  return { buf, records: out };
}

export function replayWorkerPool(o: ReplayPoolOptions): ReplayPool {
  const workers = new Map<number, { worker: Worker; handler: ReplayHandler }>();
  const start = (partition: number) => {
    const fileName = o.overrides.fileName;
    const worker = startWorker({
      config: o.config,
      overrides: {
        ...o.overrides,
        ...(fileName ? { fileName: partitionFileName(fileName, partition) } : {}),
      },
      dryRun: o.dryRun ?? false,
      logLevel: o.logLevel ?? 'warn',
    });
    const pending = new Map<number, { resolve: (v: WorkerReply) => void; reject: (e: unknown) => void }>();
    let next = 0;
    let dead: Error | undefined;
    worker.on('message', (m: WorkerReply) => {
      if (m.kind === 'produce') {
        const records: OutRecord[] = m.records.map((r) =>
          typeof r.value === 'string' ? r : { ...r, value: Buffer.from(r.value) },
        );
        o.producer.produce(m.topic, records).then(
          () => worker.postMessage({ kind: 'produced', id: m.id } satisfies MainReply),
          (err: Error) =>
            worker.postMessage({ kind: 'produced', id: m.id, error: err.message } satisfies MainReply),
        );
        return;
      }
      pending.get(m.id)?.resolve(m);
      pending.delete(m.id);
    });
    const fail = (err: Error) => {
      dead = err;
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`replay worker of partition ${partition} exited (${code})`)));
    const handler: ReplayHandler = async (records) => {
      if (dead) throw new MeshApimError('REPLAY_WORKER_DEAD', dead.message, { cause: dead });
      const { buf, records: meta } = pack(records);
      const id = next++;
      const reply = await new Promise<WorkerReply>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        const msg: BatchMessage = { kind: 'batch', id, requestId: randomUUID(), buf, records: meta };
        worker.postMessage(msg, [buf.buffer as ArrayBuffer]);
      });
      if (reply.kind === 'failed') {
        throw new MeshApimError(reply.error.code, reply.error.message, { retriable: reply.error.retriable });
      }
      return (reply as Extract<WorkerReply, { kind: 'done' }>).summary;
    };
    workers.set(partition, { worker, handler });
    return handler;
  };
  return {
    handlerFor: (partition) => workers.get(partition)?.handler ?? start(partition),
    async close() {
      await Promise.all(
        [...workers.values()].map(
          ({ worker }) =>
            new Promise<void>((resolve) => {
              worker.removeAllListeners('exit');
              worker.once('exit', () => resolve());
              worker.postMessage({ kind: 'close' });
            }),
        ),
      );
      workers.clear();
    },
  };
}
