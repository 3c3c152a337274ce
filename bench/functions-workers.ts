/**
 * `npm run bench:functions-workers`: does moving the analytics pipeline's CPU part (decode, validate,
 * map, render: bench/functions-workers.worker.ts) into worker_threads pay on this machine? Side by
 * side in one run, alternating rounds: the same batches rendered on the main thread, and by a pool of
 * 1, 2, 3 workers with one batch in flight per worker (a partition per worker, in order); values go
 * over in one transferred buffer per batch, lines come back as one string. Reports events/s, the
 * ratio to the main thread, and CPU µs per event (process-wide: main + workers).
 * Knobs: BENCH_EVENTS (default 200000), BENCH_BATCH (1000), BENCH_ROUNDS (2).
 */
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { analyticsCases } from '../functions/analytics-publisher/samples.ts';
import { renderBatch } from './functions-workers.worker.ts';

const N = Number(process.env.BENCH_EVENTS ?? 200_000);
const B = Number(process.env.BENCH_BATCH ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const cases = Object.values(analyticsCases()).filter((e) => e.api !== null);
const values = Array.from({ length: N }, (_, i) =>
  Buffer.from(JSON.stringify({ ...cases[i % cases.length]!, requestId: `b-${i}`, eventId: `ev-${i}` })),
);
const batches: Buffer[][] = [];
for (let i = 0; i < N; i += B) batches.push(values.slice(i, i + B));

/** A TypeScript worker under tsx: the loader is registered inside the worker before its module loads. */
function startWorker(): Worker {
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const mod = JSON.stringify(new URL('./functions-workers.worker.ts', import.meta.url).href);
  return new Worker(`import(${tsx}).then((m) => { m.register(); return import(${mod}); });`, { eval: true });
}

function pool(n: number) {
  const workers = Array.from({ length: n }, startWorker);
  const pending = new Map<number, (text: string) => void>();
  let id = 0;
  for (const w of workers) {
    w.on('message', (m: { id: number; text: string }) => {
      pending.get(m.id)?.(m.text);
      pending.delete(m.id);
    });
  }
  const call = (w: Worker, batch: readonly Buffer[]) =>
    new Promise<string>((resolve) => {
      const buf = Buffer.concat(batch);
      const ends: number[] = [];
      let at = 0;
      for (const v of batch) {
        at += v.length;
        ends.push(at);
      }
      const bytes = new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
      const k = id++;
      pending.set(k, resolve);
      w.postMessage({ id: k, buf: bytes, ends }, [bytes.buffer]);
    });
  return {
    /** Every batch, one lane per worker, each lane's batches in order; total output bytes. */
    async run(list: readonly (readonly Buffer[])[]): Promise<number> {
      let next = 0;
      let out = 0;
      await Promise.all(
        workers.map(async (w) => {
          while (next < list.length) {
            const text = await call(w, list[next++]!);
            out += Buffer.byteLength(text); // after the await: `out += await` would add to a stale sum
          }
        }),
      );
      return out;
    },
    close: () => Promise.all(workers.map((w) => w.terminate())),
  };
}

function measure<T>(f: () => Promise<T>) {
  return async () => {
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    const out = await f();
    const s = (performance.now() - t) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { out, rate: N / s, cpuUs: (cpu.user + cpu.system) / N };
  };
}

const sizes = [1, 2, 3];
const pools = sizes.map(pool);
// warm-up: every thread's JIT sees the code before the timed rounds
renderBatch(values.slice(0, 20_000));
await Promise.all(pools.map((p) => p.run(batches.slice(0, 20))));
const best: Record<string, { rate: number; cpuUs: number }> = {};
const keep = (k: string, r: { rate: number; cpuUs: number }) => {
  if (!best[k] || r.rate > best[k].rate) best[k] = r;
};
let expected = -1;
for (let round = 0; round < ROUNDS; round++) {
  const main = await measure(async () =>
    batches.reduce((n, b) => n + Buffer.byteLength(renderBatch(b)), 0),
  )();
  expected = main.out;
  keep('main', main);
  for (const [i, p] of pools.entries()) {
    const r = await measure(() => p.run(batches))();
    if (r.out !== expected) throw new Error(`workers rendered ${r.out} bytes, the main thread ${expected}`);
    keep(`w${sizes[i]}`, r);
  }
}
await Promise.all(pools.map((p) => p.close()));
const m = best.main!;
const lines = [
  `analytics CPU part (decode+validate+map+render), ${N} events, batches of ${B}, ${cpus().length} cores, best of ${ROUNDS} alternating rounds:`,
  `  main thread: ${Math.round(m.rate)} events/s, ${m.cpuUs.toFixed(1)} CPU µs/event`,
  ...sizes.map((n) => {
    const r = best[`w${n}`]!;
    return `  ${n} worker(s):  ${Math.round(r.rate)} events/s (${(r.rate / m.rate).toFixed(2)}x the main thread), ${r.cpuUs.toFixed(1)} CPU µs/event (main + workers)`;
  }),
];
process.stdout.write(`${lines.join('\n')}\n`);
