/**
 * What replay's main thread and its workers (replay-pool.ts, replay-worker.ts) send each other.
 * Errors cross as plain data and are rebuilt on the other side with what decides a retry: whether
 * it was one of ours (MeshApimError) and, if so, its code and `retriable`.
 */

import type { ReaderSpec } from '../../bus/embedded/read.ts';
import { isRetriable, MeshApimError } from '../../common/errors.ts';

export interface WireError {
  name: string;
  message: string;
  code?: string;
  retriable: boolean;
  ours: boolean;
}

/** A batch: the records of [from, end) of a partition (at most `max`), sequence `seq` of the replay. */
export interface Job {
  type: 'job';
  seq: number;
  partition: number;
  from: number;
  end: number;
  max: number;
  requestId: string;
}

export type ToWorker =
  | Job
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: WireError };

export interface JobCounts {
  read: number;
  first: number | null;
  processed: number;
  skipped: number;
  deadLettered: number;
}

export type FromWorker =
  | { type: 'call'; id: number; seq: number; service: string; payload: unknown }
  | ({ type: 'done'; seq: number; ok: true } & JobCounts)
  | { type: 'done'; seq: number; ok: false; error: WireError };

export interface WorkerData {
  reader: ReaderSpec;
  /** Path of the module that builds the worker's handler (exports `replayWorkerHandler`). */
  entry: string;
  init: unknown;
  functionName: string;
}

/** Calls a service on the main thread, in batch order (replay-pool.ts); resolves to its answer. */
export type CallMain = (service: string, payload: unknown) => Promise<unknown>;

export function toWire(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  const out: WireError = {
    name: e.name,
    message: e.message,
    retriable: isRetriable(err),
    ours: err instanceof MeshApimError,
  };
  if (err instanceof MeshApimError) out.code = err.code;
  return out;
}

export class RemoteError extends MeshApimError {}

/** The error again: one of ours keeps its code and retriable flag; any other is a plain Error (retriable by default). */
export function fromWire(w: WireError): Error {
  const e = w.ours
    ? new RemoteError(w.code ?? 'REMOTE', w.message, { retriable: w.retriable })
    : new Error(w.message);
  e.name = w.name;
  return e;
}
