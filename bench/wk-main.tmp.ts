import { Worker } from 'node:worker_threads';
import { analyticsCases } from '../functions/analytics/samples.ts';
import { work } from './wk-work.tmp.ts';
const cases = Object.values(analyticsCases()).filter((e) => e.api !== null);
const N = Number(process.env.N ?? 200000), B = 1000;
const vals = Array.from({ length: N }, (_, i) => Buffer.from(JSON.stringify({ ...cases[i % cases.length]!, requestId: `b-${i}`, eventId: `ev-${i}` })));
work(vals.slice(0, 20000));
let c = process.cpuUsage(); let t = performance.now(); let bytes = 0;
for (let i = 0; i < N; i += B) { const l = work(vals.slice(i, i + B)); bytes += Buffer.byteLength(l.join('')); }
const single = (performance.now() - t); const singleCpu = process.cpuUsage(c);
console.log(`single thread: ${Math.round(N / single * 1000)} ev/s, main cpu ${((singleCpu.user + singleCpu.system) / N).toFixed(1)} us/ev`);
for (const W of [1, 2, 3]) {
  const ws = Array.from({ length: W }, () => new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./wk-work.tmp.ts', import.meta.url).href)}); });`, { eval: true }));
  const pend = new Map<number, (s: string) => void>(); let id = 0;
  for (const w of ws) w.on('message', (m: { id: number; text: string }) => { pend.get(m.id)!(m.text); pend.delete(m.id); });
  const call = (w: Worker, chunk: Buffer[]) => new Promise<string>((r) => { const buf = Buffer.concat(chunk); const ends: number[] = []; let at = 0; for (const v of chunk) { at += v.length; ends.push(at); } const ab = new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length)); const k = id++; pend.set(k, r); w.postMessage({ id: k, buf: ab, ends }, [ab.buffer]); });
  await Promise.all(ws.map((w) => call(w, vals.slice(0, 20000))));
  c = process.cpuUsage(); t = performance.now();
  // one lane per worker (= per partition), each in order
  let next = 0; let outBytes = 0;
  await Promise.all(ws.map(async (w) => { while (next < N) { const i = next; next += B; const s = await call(w, vals.slice(i, i + B)); outBytes += Buffer.byteLength(s); } }));
  const ms = performance.now() - t; const cpu = process.cpuUsage(c);
  console.log(`${W} worker(s): ${Math.round(N / ms * 1000)} ev/s (${(single / ms).toFixed(2)}x single), main+workers cpu ${((cpu.user + cpu.system) / N).toFixed(1)} us/ev, bytes ok ${outBytes === bytes}`);
  await Promise.all(ws.map((w) => w.terminate()));
}
