/**
 * usage-billing: closed usage windows (mesh-apim.usage.v1) -> Stripe usage records, in the shape
 * WSO2's Stripe monetization publishes them (functions/usage-billing/stripe.ts says where we differ).
 * Core: functions/usage-billing/{mapping,stripe}.ts (pure), client.ts (HTTP + retries).
 * Trigger: mesh-apim.usage.v1; `npm start` runs it in-process only with functions.billingProvider
 * stripe (default none: no billing provider locally).
 *
 * At-least-once contract: a record is posted with `action=set` of the window's total at the window's
 * own timestamp and an idempotency key per (item, window, revision): a redelivered batch replays
 * Stripe's first answer, a later revision overwrites the earlier one, a replayed topic converges on
 * the latest revision. Unmapped windows and records Stripe refuses are dead-lettered with the reason;
 * Stripe unavailable (after the client's retries) fails the batch (retried).
 */

import { TOPICS } from '../../events/topics.ts';
import type { Usage } from '../../events/usage.ts';
import {
  type FunctionDeps,
  type KafkaFunction,
  kafkaBatchHandler,
  type RecordOutcome,
} from '../lib/index.ts';
import type { FunctionModule } from '../registry.ts';
import { type PostedUsageRecord, StripeUsageClient } from './client.ts';
import { BillingMappingError, BillingUnavailableError, BillingUnmappedError } from './errors.ts';
import { type BillingMapping, loadMapping, resolveItem } from './mapping.ts';
import { quantityOf, type UsageRecordRequest, usageRecordRequest } from './stripe.ts';

export const name = 'usage-billing';

/** What posts a usage record (StripeUsageClient; a fake in tests). */
export interface UsageRecordPoster {
  post(req: UsageRecordRequest): Promise<PostedUsageRecord>;
}

export function stripeClientOf(config: FunctionDeps['config']): StripeUsageClient {
  const f = config.functions;
  if (f.billingStripeSecretKey === '')
    throw new BillingMappingError(
      'functions.billingProvider is stripe but functions.billingStripeSecretKey is empty (Lambda: billingStripeSecretArn)',
    );
  return new StripeUsageClient({
    baseUrl: f.billingStripeUrl,
    secretKey: f.billingStripeSecretKey,
    stripeVersion: f.billingStripeVersion,
    maxAttempts: f.billingMaxAttempts,
    backoffMs: f.billingBackoffMs,
    timeoutMs: f.billingTimeoutMs,
  });
}

export function definition(
  deps: FunctionDeps,
  options: { mapping?: BillingMapping; poster?: UsageRecordPoster } = {},
): KafkaFunction<Usage> {
  if (deps.config.functions.billingProvider !== 'stripe' && !options.poster)
    throw new BillingMappingError('usage-billing needs functions.billingProvider stripe');
  // Validated at start: a bad mapping or a missing key stops the function before it consumes anything.
  const mapping = options.mapping ?? loadMapping(deps.config.functions);
  const poster = options.poster ?? stripeClientOf(deps.config);
  return {
    name,
    topics: [TOPICS.usage],
    idempotency:
      'action=set of the window total at its own timestamp, Idempotency-Key per (item, windowId, revision)',
    async process(records, ctx) {
      // Within a batch only a window's latest revision needs posting (set overwrites the earlier ones).
      const latest = new Map<string, number>();
      for (const { event } of records)
        latest.set(event.windowId, Math.max(latest.get(event.windowId) ?? 0, event.revision));
      const outcomes: RecordOutcome[] = [];
      let unavailable: BillingUnavailableError | null = null;
      let posted = 0;
      for (const { event } of records) {
        if (unavailable) {
          outcomes.push({ status: 'failed', error: unavailable });
          continue;
        }
        if (event.revision < (latest.get(event.windowId) ?? 0)) {
          outcomes.push({ status: 'skipped', reason: 'superseded by a later revision in the batch' });
          continue;
        }
        const r = resolveItem(mapping, event);
        if (r.kind === 'ignored') {
          outcomes.push({ status: 'skipped', reason: `ignored by billing rule ${r.rule}` });
          continue;
        }
        // Counts only grow across revisions: a window with nothing to bill now has had nothing before.
        if (r.kind === 'item' ? quantityOf(event, r.entry) === 0 : event.counts.allowed === 0) {
          outcomes.push({ status: 'skipped', reason: 'nothing to bill' });
          continue;
        }
        if (r.kind === 'unmapped') {
          outcomes.push({
            status: 'failed',
            error: new BillingUnmappedError(r.reason, {
              windowId: event.windowId,
              revision: event.revision,
              application: event.application,
              api: event.api,
              subscriptionTier: event.subscriptionTier,
              keyType: event.keyType,
            }),
          });
          continue;
        }
        try {
          const req = usageRecordRequest(event, r.entry);
          const res = await poster.post(req);
          posted += 1;
          ctx.logger.debug(
            { windowId: event.windowId, revision: event.revision, item: r.entry.item, ...res },
            'usage record posted',
          );
          outcomes.push({ status: 'ok' });
        } catch (err) {
          if (err instanceof BillingUnavailableError) {
            // The rest of the batch waits for the retry: posting later windows first gains nothing.
            unavailable = err;
            outcomes.push({ status: 'failed', error: err });
          } else outcomes.push({ status: 'failed', error: err as Error });
        }
      }
      if (posted > 0) ctx.logger.info({ posted }, 'usage records posted to Stripe');
      return outcomes;
    },
  };
}

export const module: FunctionModule = {
  name,
  description: 'usage windows -> Stripe usage records (action=set per window revision, WSO2 Stripe shape)',
  topics: [TOPICS.usage],
  enabled: (config) => config.functions.billingProvider !== 'none',
  create: (deps) => ({ handler: kafkaBatchHandler(definition(deps), deps), close: async () => {} }),
};
