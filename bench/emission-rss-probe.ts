/**
 * Loaded into a bench adapter with `--import` by bench/emission-rss.ts --probe: every 500 ms one
 * line on stderr with process.memoryUsage() in MB (the main isolate's heap, external, ArrayBuffers,
 * and RSS, which also holds the writer worker's isolate and SQLite's memory).
 */
const mb = (n: number) => Math.round(n / 1048576);
const timer = setInterval(() => {
  const m = process.memoryUsage();
  process.stderr.write(
    `[probe ${process.pid}] rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)}\n`,
  );
}, 500);
timer.unref();
