/**
 * Usage export for a person (`mesh-apim usage`): the latest revision of every window, summed over
 * source partitions into one row per (hour, application, API, tier, key type). Pure.
 */
import type { Usage } from '../events/usage.ts';

export interface UsageRow {
  hour: string;
  applicationId: string;
  applicationName: string;
  applicationOwner: string;
  apiId: string;
  apiName: string;
  apiVersion: string;
  subscriptionTier: string;
  keyType: string;
  allowed: number;
  throttled: number;
  denied: number;
  overQuota: number;
  responseBytes: number;
  responseBytesKnown: number;
  /** Windows (source partitions) summed into the row; false when any of them was not exact. */
  windows: number;
  exact: boolean;
}

export interface ReportFilter {
  fromMs: number;
  toMs: number;
  application?: string;
}

/** Latest revision per windowId (a topic read before compaction still holds older ones). */
export function latestRevisions(events: Iterable<Usage>): Usage[] {
  const latest = new Map<string, Usage>();
  for (const e of events) {
    const cur = latest.get(e.windowId);
    if (!cur || e.revision > cur.revision) latest.set(e.windowId, e);
  }
  return [...latest.values()];
}

/** Hours starting in [from, to), optionally of one application (id or name), sorted by hour then ids. */
export function usageReport(events: Iterable<Usage>, f: ReportFilter): UsageRow[] {
  const rows = new Map<string, UsageRow>();
  for (const e of latestRevisions(events)) {
    const start = Date.parse(e.window.start);
    if (start < f.fromMs || start >= f.toMs) continue;
    if (
      f.application !== undefined &&
      f.application !== e.application.id &&
      f.application !== e.application.name
    )
      continue;
    const key = [e.window.start, e.application.id, e.api.id, e.subscriptionTier ?? '', e.keyType ?? ''].join(
      '\0',
    );
    let r = rows.get(key);
    if (!r) {
      r = {
        hour: e.window.start,
        applicationId: e.application.id,
        applicationName: e.application.name,
        applicationOwner: e.application.owner,
        apiId: e.api.id,
        apiName: e.api.name,
        apiVersion: e.api.version,
        subscriptionTier: e.subscriptionTier ?? '',
        keyType: e.keyType ?? '',
        allowed: 0,
        throttled: 0,
        denied: 0,
        overQuota: 0,
        responseBytes: 0,
        responseBytesKnown: 0,
        windows: 0,
        exact: true,
      };
      rows.set(key, r);
    }
    r.allowed += e.counts.allowed;
    r.throttled += e.counts.throttled;
    r.denied += e.counts.denied;
    r.overQuota += e.counts.overQuota;
    r.responseBytes += e.responseBytes;
    r.responseBytesKnown += e.responseBytesKnown;
    r.windows += 1;
    r.exact &&= e.exact;
  }
  return [...rows.values()].sort(
    (a, b) =>
      a.hour.localeCompare(b.hour) ||
      a.applicationId.localeCompare(b.applicationId) ||
      a.apiId.localeCompare(b.apiId) ||
      a.subscriptionTier.localeCompare(b.subscriptionTier) ||
      a.keyType.localeCompare(b.keyType),
  );
}

const COLUMNS: (keyof UsageRow)[] = [
  'hour',
  'applicationId',
  'applicationName',
  'applicationOwner',
  'apiId',
  'apiName',
  'apiVersion',
  'subscriptionTier',
  'keyType',
  'allowed',
  'throttled',
  'denied',
  'overQuota',
  'responseBytes',
  'responseBytesKnown',
  'windows',
  'exact',
];

/** RFC 4180: quote fields with a comma, quote or line break; double inner quotes. */
function csvField(v: string | number | boolean): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly UsageRow[]): string {
  const lines = [COLUMNS.join(',')];
  for (const r of rows) lines.push(COLUMNS.map((c) => csvField(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
