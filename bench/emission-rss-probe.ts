/**
 * Loaded into a bench adapter with `--import` by bench/emission-rss.ts --probe: every 500 ms one
 * line on stderr with process.memoryUsage() in MB (the main isolate's heap, external, ArrayBuffers,
 * and RSS, which also holds the writer worker's isolate and SQLite's memory).
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';

const mb = (n: number) => Math.round(n / 1048576);
// GC pauses since the last line: scavenges (minor) and mark-compacts (major), count and longest.
const gc = { minor: 0, major: 0, minorMax: 0, majorMax: 0, majorMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gc.major++;
      gc.majorMs += e.duration;
      gc.majorMax = Math.max(gc.majorMax, e.duration);
    } else {
      gc.minor++;
      gc.minorMax = Math.max(gc.minorMax, e.duration);
    }
  }
}).observe({ entryTypes: ['gc'] });
const timer = setInterval(() => {
  const m = process.memoryUsage();
  // RssAnon is memory the process owns; RssFile is mapped files (SQLite's db/WAL pages), reclaimable.
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) / 1024;
  process.stderr.write(
    `[probe ${process.pid}] rss ${mb(m.rss)} anon ${Math.round(kb('RssAnon'))} file ${Math.round(kb('RssFile'))} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)} | gc minor ${gc.minor} (max ${gc.minorMax.toFixed(1)} ms) major ${gc.major} (max ${gc.majorMax.toFixed(1)} ms, total ${gc.majorMs.toFixed(0)} ms)\n`,
  );
  Object.assign(gc, { minor: 0, major: 0, minorMax: 0, majorMax: 0, majorMs: 0 });
}, 500);
timer.unref();
process.on('SIGUSR2', async () => {
  const { writeHeapSnapshot } = await import('node:v8');
  process.stderr.write(
    `[probe ${process.pid}] snapshot ${writeHeapSnapshot(join(tmpdir(), `heap-${process.pid}.heapsnapshot`))}\n`,
  );
});
