/**
 * WSO2's ELK reporter line: log4j pattern `%d{HH:mm:ss,SSS} [%X{ip}-%X{host}] [%t] %5p %c{1} %m%n`
 * around `apimMetrics: <metric>, properties :<json>` (note WSO2's space before the colon). The
 * Logstash grok of WSO2's ELK guide keys on " apimMetrics:" and " :" so the prefix only has to
 * keep that shape.
 */
import type { SinkItem } from './types.ts';

function hhmmss(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())},${p(d.getUTCMilliseconds(), 3)}`;
}

/** The part of a line before the metric name: the same for every line of one batch (one clock read). */
export function elkPrefix(now: Date, thread = 'analytics-publisher'): string {
  return `${hhmmss(now)} [-] [${thread}]  INFO ELKCounterMetric apimMetrics: `;
}

/** One line from a batch's prefix (elkPrefix). */
export function elkLineWith(prefix: string, item: SinkItem): string {
  // JSON.stringify never emits raw CR/LF (they are escaped), so one event is always one line.
  return `${prefix}${item.metric}, properties :${JSON.stringify(item.data)}\n`;
}

export function elkLine(item: SinkItem, now: Date, thread = 'analytics-publisher'): string {
  return elkLineWith(elkPrefix(now, thread), item);
}

const LINE = /apimMetrics: (apim:[a-z]+), properties :(\{.*\})\s*$/;

/** Parses a line back (tests, dedup seeding, tools). Returns null for other lines. */
export function parseElkLine(line: string): { metric: string; data: Record<string, unknown> } | null {
  const m = LINE.exec(line);
  if (!m) return null;
  try {
    return { metric: m[1]!, data: JSON.parse(m[2]!) as Record<string, unknown> };
  } catch {
    return null;
  }
}
