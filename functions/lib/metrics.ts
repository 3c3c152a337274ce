/**
 * One log line per batch with the batch's counters, in CloudWatch Embedded Metric Format: on Lambda
 * the line becomes metrics with no agent or API call; locally it is an ordinary structured log line.
 */
import type { Logger } from '../../common/log.ts';

export interface BatchMetrics {
  records: number;
  processed: number;
  skipped: number;
  deadLettered: number;
  /** Records that failed retriably (the batch is retried). */
  failures: number;
  durationMs: number;
}

export const METRICS_NAMESPACE = 'mesh-apim/functions';

export function emfRecord(fn: string, m: BatchMetrics, now = Date.now()): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [['function']],
          Metrics: [
            { Name: 'records', Unit: 'Count' },
            { Name: 'processed', Unit: 'Count' },
            { Name: 'skipped', Unit: 'Count' },
            { Name: 'deadLettered', Unit: 'Count' },
            { Name: 'failures', Unit: 'Count' },
            { Name: 'durationMs', Unit: 'Milliseconds' },
          ],
        },
      ],
    },
    function: fn,
    ...m,
  };
}

export function logBatchMetrics(logger: Logger, fn: string, m: BatchMetrics, outcome: 'ok' | 'retry'): void {
  logger.info({ ...emfRecord(fn, m), outcome }, 'batch');
}
