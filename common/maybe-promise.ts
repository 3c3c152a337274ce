/**
 * A value, or the promise of one where the work had to wait. The check path returns plain values
 * when it can (a cached credential): an async function costs a promise and a microtask turn per call
 * even when it never waits.
 */
export type MaybePromise<T> = T | Promise<T>;

export const isPromise = <T>(v: MaybePromise<T>): v is Promise<T> =>
  typeof (v as { then?: unknown } | null)?.then === 'function';
