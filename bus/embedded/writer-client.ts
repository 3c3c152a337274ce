/**
 * The main thread's side of the embedded log's writer worker (writer.ts): posts a request, returns
 * a promise of the answer. Never blocks the event loop. The worker is started on first use; if it
 * dies (crash, OOM, a native fault) every request in flight is rejected with a retriable
 * BrokerUnavailableError (nothing was acknowledged for them: callers spool and retry) and the next
 * request starts a new worker.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../common/log.ts';
import type { WriterData, WriterReply, WriterRequest } from './writer.ts';

// The worker runs the TypeScript source. tsx's CommonJS hooks transpile it on the worker's own
// thread: its ESM hooks (module.register) would start another loader thread, an isolate of its own
// (~20 MB resident), for the few files the writer loads (log-writer.ts and its jobs). The CLI and
// vitest load TS their own way, and a worker inherits neither.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
require(workerData.tsx).register();
require(require('node:url').fileURLToPath(workerData.entry));
`;
// Resolved here, from this file: an eval worker's require() would resolve from the process's cwd.
const TSX_CJS = createRequire(import.meta.url).resolve('tsx/cjs/api');
const ENTRY = new URL('./writer.ts', import.meta.url).href;
/**
 * In the image's compiled bundle (infra/image/bundle.ts) this code sits in a .js chunk next to the
 * writer's own entry, which runs as is: no tsx, no bootstrap.
 */
const BUNDLED_WRITER = import.meta.url.endsWith('.ts')
  ? null
  : new URL('./embedded-log-writer.js', import.meta.url);

export class WriterExitedError extends Error {
  override readonly name = 'WriterExitedError';
  readonly code = 'WRITER_EXITED';
}

type Pending = { resolve(v: unknown): void; reject(e: unknown): void };
type Request = WriterRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class WriterClient {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closing = false;
  /** Produce requests answered, and how many commits they took (the group-commit ratio). */
  readonly stats = { produced: 0, commits: 0, restarts: 0 };

  constructor(
    private readonly data: WriterData,
    private readonly log: Logger,
    /** Receives the batch buffers the writer hands back with produce answers (to be reused). */
    private readonly onBuffer: (buffer: ArrayBuffer) => void = () => {},
  ) {}

  private start(): Worker {
    const w = BUNDLED_WRITER
      ? new Worker(BUNDLED_WRITER, { workerData: this.data })
      : new Worker(BOOTSTRAP, { eval: true, workerData: { ...this.data, entry: ENTRY, tsx: TSX_CJS } });
    w.unref();
    w.on('message', (reply: WriterReply) => this.onReply(reply));
    w.on('error', (err) => {
      this.log.error({ err }, 'embedded log writer failed');
      this.fail(w, err);
    });
    w.on('exit', (code) => {
      if (!this.closing) this.log.error({ code }, 'embedded log writer exited');
      this.fail(w, new WriterExitedError(`embedded log writer exited (code ${code})`));
    });
    this.worker = w;
    return w;
  }

  /** Rejects everything in flight on a worker that is gone; the next request starts a new one. */
  private fail(w: Worker, err: unknown): void {
    if (this.worker !== w) return;
    this.worker = null;
    if (!this.closing) this.stats.restarts++;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(err);
  }

  private onReply(reply: WriterReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker?.unref();
    if (reply.ok) {
      if (reply.buffer) this.onBuffer(reply.buffer);
      if (reply.groupSize !== undefined) {
        this.stats.produced++;
        this.stats.commits += 1 / reply.groupSize;
      }
      p.resolve(reply.result);
      return;
    }
    const e = new Error(reply.error.message);
    e.name = reply.error.name;
    if (reply.error.code) (e as Error & { code?: string }).code = reply.error.code;
    p.reject(e);
  }

  /** `transfer`: ArrayBuffers moved to the worker (a produce batch), not copied. */
  request<T = unknown>(req: Request, transfer?: ArrayBuffer[]): Promise<T> {
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // Referenced while answers are due: the process does not exit under an unanswered produce.
      if (this.pending.size === 1) w.ref();
      w.postMessage({ ...req, id }, transfer);
    });
  }

  /** Closes the worker's connection after what is queued (requests are answered in order). */
  async close(): Promise<void> {
    if (!this.worker) return;
    const w = this.worker;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    const closed = this.request({ op: 'close' });
    this.closing = true;
    await closed.catch(() => {}); // already gone
    w.ref(); // keeps the process up until the worker has closed its connection and exited
    await exited;
  }
}
