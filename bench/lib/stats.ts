/** Summaries of repeated measurements: median (true median, NaN-free), min–max spread, percentiles, counter sums. */

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Agg {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function agg(xs: number[]): Agg {
  const f = xs.filter((x) => Number.isFinite(x));
  return { median: median(f), min: Math.min(...f), max: Math.max(...f), n: f.length };
}

/** The p-quantile of ascending nanosecond latencies, in ms. */
export function pct(sorted: number[], p: number): number {
  return sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! / 1e6
    : Number.NaN;
}

/** Sum of every series of a Prometheus counter in a /metrics text. */
export function metricSum(text: string, name: string): number {
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}
