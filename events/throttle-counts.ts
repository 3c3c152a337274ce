/**
 * Cluster-wide throttling (adapter/quota): every adapter instance publishes, each sync interval, what
 * it counted and what it holds leased per (counter key, window). Every instance sums the latest
 * report of every instance, so the decision stays local while the budget is global. A report with
 * no counters is a heartbeat: it keeps the instance's leases alive.
 */
import { z } from 'zod';
import { envelope } from './common.ts';

export const ThrottleCounter = z.object({
  key: z
    .string()
    .min(1)
    .describe('Throttle counter key (adapter/policy/throttle.ts throttleKey: level and parts)'),
  windowStart: z.number().int().min(0).describe('Start of the fixed window, ms since epoch'),
  windowMs: z.number().int().positive().describe('Window length in ms'),
  limit: z.number().int().min(0).describe('The quota of the level (requests per window)'),
  count: z.number().int().min(0).describe('Requests this instance counted in the window'),
  ceiling: z
    .number()
    .int()
    .min(0)
    .describe(
      'Count this instance may reach before the next report: count + its lease of the remaining budget',
    ),
  demand: z
    .number()
    .int()
    .min(0)
    .describe('Requests that asked for this counter during the last sync interval (weights the leases)'),
});
export type ThrottleCounter = z.infer<typeof ThrottleCounter>;

export const ThrottleCounts = z.object({
  ...envelope('throttle-counts'),
  instance: z.object({
    id: z.string().min(1).describe('Adapter instance id (instanceId)'),
    boot: z.string().min(1).describe('Token of this process run: a restarted instance is a new member'),
  }),
  sentAt: z.number().int().min(0).describe('When the report was made, ms since epoch (liveness)'),
  intervalMs: z.number().int().positive().describe('The sender’s sync interval'),
  counters: z
    .array(ThrottleCounter)
    .describe('Counters changed since the previous report (all of them in a full report); empty = heartbeat'),
  full: z.boolean().describe('True when counters lists every live shared counter of the instance'),
});
export type ThrottleCounts = z.infer<typeof ThrottleCounts>;
