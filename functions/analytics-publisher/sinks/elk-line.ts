/**
 * WSO2's ELK reporter line: log4j pattern `%d{HH:mm:ss,SSS} [%X{ip}-%X{host}] [%t] %5p %c{1} %m%n`
 * around `apimMetrics: <metric>, properties :<json>` (note WSO2's space before the colon). The
 * Logstash grok of WSO2's ELK guide keys on " apimMetrics:" and " :" so the prefix only has to
 * keep that shape. The MDC slot `[%X{ip}-%X{host}]` carries the event id (dedupKey) instead, so a
 * restarted file sink can seed its dedup window from the file without adding keys to WSO2's JSON.
 */
import type { SinkItem } from './types.ts';

function hhmmss(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())},${p(d.getUTCMilliseconds(), 3)}`;
}

/** The clock part of a line: the same for every line of one batch (one clock read). */
export function elkPrefix(now: Date): string {
  return `${hhmmss(now)} [`;
}

// Event ids are [A-Za-z0-9:~._-] (events/); anything else is dropped so the slot stays one token.
const safeId = (id: string): string => (/^[\w:~.-]*$/.test(id) ? id : id.replace(/[^\w:~.-]/g, ''));

/** One line from a batch's prefix (elkPrefix). */
export function elkLineWith(prefix: string, item: SinkItem, thread = 'analytics-publisher'): string {
  // JSON.stringify never emits raw CR/LF (they are escaped), so one event is always one line.
  return `${prefix}${safeId(item.eventId)}] [${thread}]  INFO ELKCounterMetric apimMetrics: ${item.metric}, properties :${JSON.stringify(item.data)}\n`;
}

export function elkLine(item: SinkItem, now: Date, thread = 'analytics-publisher'): string {
  return elkLineWith(elkPrefix(now), item, thread);
}

// dotAll: JSON.stringify leaves U+2028/U+2029 raw, and without `s` a `.` stops at them (callers split on \n).
const LINE = /^\S+ \[([^\]]*)\] .*?apimMetrics: (apim:[a-z]+), properties :(\{.*\})\s*$/s;

/**
 * Parses a line back (tests, dedup seeding, tools). Returns null for other lines. `id` is the event id
 * of the MDC slot, or null on lines written before it carried one (`[-]`).
 */
export function parseElkLine(
  line: string,
): { id: string | null; metric: string; data: Record<string, unknown> } | null {
  const m = LINE.exec(line);
  if (!m) return null;
  try {
    const id = m[1] === '-' || m[1] === '' ? null : m[1]!;
    return { id, metric: m[2]!, data: JSON.parse(m[3]!) as Record<string, unknown> };
  } catch {
    return null;
  }
}
