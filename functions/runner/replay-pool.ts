/**
 * Replay on worker threads, the main thread's side. A replay is CPU-bound on one thread (JSON.parse,
 * contract validation, mapping, GC); the workers (replay-worker.ts) run that part of several batches
 * at once, each reading its own batch from the embedded log. What a batch does to the outside (a sink
 * write, dead letters) is a call back to this thread, and the Sequencer applies each service's calls
 * in batch order: a sink sees the batches in the order a one-lane in-process replay writes them, and
 * nothing of a batch after one that failed for good.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ReaderSpec } from '../../bus/embedded/read.ts';
import { MeshApimError } from '../../common/errors.ts';
import {
  type FromWorker,
  fromWire,
  type Job,
  type JobCounts,
  type ToWorker,
  toWire,
  type WorkerData,
} from './replay-wire.ts';

export interface ReplayWorkers {
  /** Worker threads (each runs `jobsPerWorker` batches at once). */
  count: number;
  /** URL of the module exporting `replayWorkerHandler` (replay-worker.ts ReplayWorkerEntry). */
  entry: string;
  /** Structured-cloneable: what the entry builds its handler from. */
  init: unknown;
  /** What the workers' handlers call on this thread; each service's calls are applied in batch order. */
  services: Record<string, (payload: unknown) => Promise<unknown>>;
  /** Batches a worker holds at once (one waits on its write while the next computes); default 2. */
  jobsPerWorker?: number;
}

export class ReplayWorkerError extends MeshApimError {
  constructor(message: string) {
    // Retriable: the batch is sent again (to a new worker); nothing of it was acknowledged.
    super('REPLAY_WORKER_EXITED', message, { retriable: true });
  }
}

interface Queued {
  seq: number;
  run: () => Promise<unknown>;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface Lane {
  /** The lowest batch not yet released: neither completed nor done with a call on this service. */
  next: number;
  done: Set<number>;
  queue: Queued[];
  busy: boolean;
}

/**
 * Orders calls per service by batch sequence. A call of batch k runs once every batch before k has
 * completed or made its own call on that service (a batch makes at most one per attempt; a retry of a
 * released batch runs at once), one call at a time per service.
 */
export class Sequencer {
  private readonly lanes = new Map<string, Lane>();
  private readonly completed = new Set<number>();
  private aborted: { after: number; error: unknown } | null = null;

  constructor(services: readonly string[]) {
    for (const s of services) this.lanes.set(s, { next: 0, done: new Set(), queue: [], busy: false });
  }

  call(service: string, seq: number, run: () => Promise<unknown>): Promise<unknown> {
    const lane = this.lanes.get(service);
    if (!lane) return Promise.reject(new Error(`replay: no service ${service} on the main thread`));
    if (this.aborted && seq > this.aborted.after) return Promise.reject(this.aborted.error);
    return new Promise((resolve, reject) => {
      lane.queue.push({ seq, run, resolve, reject });
      this.pump(lane);
    });
  }

  /** The batch's handler returned: later batches no longer wait for its calls. */
  complete(seq: number): void {
    this.completed.add(seq);
    for (const lane of this.lanes.values()) {
      this.advance(lane);
      this.pump(lane);
    }
    const low = Math.min(...[...this.lanes.values()].map((l) => l.next));
    for (const s of this.completed) if (s < low) this.completed.delete(s);
  }

  /** Batch `after` failed for good: the calls of later batches are refused (earlier ones go on). */
  abortAfter(after: number, error: unknown): void {
    if (this.aborted && this.aborted.after <= after) return;
    this.aborted = { after, error };
    for (const lane of this.lanes.values()) {
      const keep: Queued[] = [];
      for (const q of lane.queue) {
        if (q.seq > after) q.reject(error);
        else keep.push(q);
      }
      lane.queue = keep;
    }
  }

  private advance(lane: Lane): void {
    while (this.completed.has(lane.next) || lane.done.has(lane.next)) {
      lane.done.delete(lane.next);
      lane.next++;
    }
  }

  private pump(lane: Lane): void {
    if (lane.busy) return;
    let at = -1;
    for (let i = 0; i < lane.queue.length; i++) {
      const q = lane.queue[i]!;
      if (q.seq <= lane.next && (at < 0 || q.seq < lane.queue[at]!.seq)) at = i;
    }
    if (at < 0) return;
    const q = lane.queue.splice(at, 1)[0]!;
    lane.busy = true;
    q.run().then(
      (v) => {
        if (q.seq >= lane.next) lane.done.add(q.seq);
        this.advance(lane);
        lane.busy = false;
        q.resolve(v);
        this.pump(lane);
      },
      (e) => {
        lane.busy = false;
        q.reject(e);
        this.pump(lane);
      },
    );
  }
}

// As the embedded log's writer worker does (bus/embedded/writer-client.ts): tsx's CommonJS hooks
// transpile the TypeScript on the worker's own thread, no loader thread of their own.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
require(workerData.tsx).register();
require(workerData.body).runReplayWorker(require(workerData.entry));
`;
const TSX_CJS = createRequire(import.meta.url).resolve('tsx/cjs/api');
const BODY = fileURLToPath(new URL('./replay-worker.ts', import.meta.url));

interface Thread {
  worker: Worker;
  jobs: Map<number, { resolve(c: JobCounts): void; reject(e: unknown): void }>;
  dead: boolean;
}

export class ReplayPool {
  private readonly threads: Thread[] = [];
  readonly sequencer: Sequencer;
  private closing = false;

  constructor(
    private readonly reader: ReaderSpec,
    private readonly spec: ReplayWorkers,
    private readonly functionName: string,
  ) {
    this.sequencer = new Sequencer(Object.keys(spec.services));
    // All at once: a worker's start (loading and transpiling the handler's modules) takes a while.
    for (let i = 0; i < Math.max(1, spec.count); i++) this.threads.push(this.start());
  }

  /** Batches at once over all workers. */
  get window(): number {
    return Math.max(1, this.spec.count) * Math.max(1, this.spec.jobsPerWorker ?? 2);
  }

  private start(): Thread {
    const data: WorkerData & { tsx: string; body: string } = {
      reader: this.reader,
      entry: this.spec.entry.startsWith('file:') ? fileURLToPath(this.spec.entry) : this.spec.entry,
      init: this.spec.init,
      functionName: this.functionName,
      tsx: TSX_CJS,
      body: BODY,
    };
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: data });
    const t: Thread = { worker, jobs: new Map(), dead: false };
    worker.on('message', (m: FromWorker) => this.onMessage(t, m));
    const lost = (why: string) => {
      if (t.dead) return;
      t.dead = true;
      const jobs = [...t.jobs.values()];
      t.jobs.clear();
      for (const j of jobs) j.reject(new ReplayWorkerError(why));
    };
    worker.on('error', (err) => lost(`replay worker failed: ${err.message}`));
    worker.on('exit', (code) => lost(`replay worker exited (code ${code})`));
    return t;
  }

  private onMessage(t: Thread, m: FromWorker): void {
    if (m.type === 'call') {
      const service = this.spec.services[m.service];
      const reply = (r: ToWorker) => {
        if (!t.dead) t.worker.postMessage(r);
      };
      this.sequencer
        .call(m.service, m.seq, () =>
          service ? service(m.payload) : Promise.reject(new Error(`no service ${m.service}`)),
        )
        .then(
          (value) => reply({ type: 'reply', id: m.id, ok: true, value }),
          (err: unknown) => reply({ type: 'reply', id: m.id, ok: false, error: toWire(err) }),
        );
      return;
    }
    const j = t.jobs.get(m.seq);
    if (!j) return;
    t.jobs.delete(m.seq);
    if (m.ok)
      j.resolve({
        read: m.read,
        first: m.first,
        processed: m.processed,
        skipped: m.skipped,
        deadLettered: m.deadLettered,
      });
    else j.reject(fromWire(m.error));
  }

  /** Runs one attempt of a batch on the least busy worker (starting workers up to `count`). */
  run(job: Omit<Job, 'type'>): Promise<JobCounts> {
    if (this.closing) return Promise.reject(new Error('replay pool closed'));
    for (let i = this.threads.length - 1; i >= 0; i--) if (this.threads[i]!.dead) this.threads.splice(i, 1);
    let t = this.threads.reduce<Thread | undefined>(
      (a, b) => (!a || b.jobs.size < a.jobs.size ? b : a),
      undefined,
    );
    if (!t || (t.jobs.size > 0 && this.threads.length < Math.max(1, this.spec.count))) {
      t = this.start();
      this.threads.push(t);
    }
    const thread = t;
    return new Promise<JobCounts>((resolve, reject) => {
      thread.jobs.set(job.seq, { resolve, reject });
      thread.worker.postMessage({ type: 'job', ...job } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    this.threads.length = 0;
  }
}
