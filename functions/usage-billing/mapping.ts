/**
 * Which Stripe subscription item a usage window is billed to. WSO2 keeps this in its database: a
 * subscription (application, API) gets a Stripe subscription whose one item carries the tier's plan
 * (StripeSubscriptionCreationWorkflowExecutor; AM_MONETIZATION_SUBSCRIPTIONS, AM_POLICY_PLAN_MAPPING),
 * and the usage publisher looks it up per (API, application, tenant). Neither WSO2 REST API in
 * /work/shared/contracts/wso2 exposes that table (the Publisher API has only the API's monetization
 * properties), so here the mapping is a YAML document of its own. Pure: parse + resolve.
 *
 * ```yaml
 * subscriptionItems:
 *   - { application: <id|name>, api: <id|name|name:version>, tier: Gold, item: si_..., account: acct_... }
 * ignore:            # windows billed nowhere on purpose (skipped, not dead-lettered)
 *   - { keyType: SANDBOX }
 *   - { tier: Unlimited }
 * ```
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Usage } from '../../events/usage.ts';
import { BillingMappingError } from './errors.ts';

const KeyType = z.enum(['PRODUCTION', 'SANDBOX']);

const Entry = z
  .object({
    application: z.string().min(1).describe('Application id or name'),
    api: z.string().min(1).describe('API id, name, or name:version'),
    // Required: in WSO2 a tier is a plan and a plan is a subscription item; a tier-less entry would let
    // two tiers of one hour (a tier change) share the item's timestamp and overwrite each other.
    tier: z.string().min(1).describe('Subscription tier (policy) whose plan the item carries'),
    keyType: KeyType.optional().describe('Only this key type (default: both)'),
    item: z
      .string()
      .regex(/^[A-Za-z0-9_]+$/)
      .describe('Stripe subscription item id (si_...)'),
    account: z
      .string()
      .regex(/^[A-Za-z0-9_]+$/)
      .optional()
      .describe("Stripe-Account header (WSO2: the API's ConnectedAccountKey)"),
    quantity: z
      .enum(['allowed', 'responseBytes'])
      .default('allowed')
      .describe('What is billed: allowed requests (WSO2 counts successful ones) or response bytes'),
  })
  .strict();

const Ignore = z
  .object({
    application: z.string().min(1).optional(),
    api: z.string().min(1).optional(),
    tier: z.string().min(1).nullable().optional(),
    keyType: KeyType.nullable().optional(),
  })
  .strict()
  .refine((r) => Object.keys(r).length > 0, 'an ignore rule needs at least one field');

export const BillingMapping = z
  .object({
    subscriptionItems: z.array(Entry).default([]),
    ignore: z.array(Ignore).default([]),
  })
  .strict()
  .superRefine((m, ctx) => {
    // One item, one entry: two entries on one item could post two windows at one timestamp (set overwrites).
    const seen = new Map<string, number>();
    m.subscriptionItems.forEach((e, i) => {
      const prev = seen.get(e.item);
      if (prev !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['subscriptionItems', i, 'item'],
          message: `item ${e.item} is already used by subscriptionItems[${prev}]`,
        });
      else seen.set(e.item, i);
    });
  });
export type BillingMapping = z.infer<typeof BillingMapping>;
export type BillingEntry = BillingMapping['subscriptionItems'][number];

export type Resolution =
  | { kind: 'item'; entry: BillingEntry }
  | { kind: 'ignored'; rule: number }
  | { kind: 'unmapped'; reason: string };

function appMatches(want: string, u: Usage): boolean {
  return want === u.application.id || want === u.application.name;
}

function apiMatches(want: string, u: Usage): boolean {
  return want === u.api.id || want === u.api.name || want === `${u.api.name}:${u.api.version}`;
}

export function resolveItem(m: BillingMapping, u: Usage): Resolution {
  const entry = m.subscriptionItems.find(
    (e) =>
      appMatches(e.application, u) &&
      apiMatches(e.api, u) &&
      e.tier === u.subscriptionTier &&
      (e.keyType === undefined || e.keyType === u.keyType),
  );
  if (entry) return { kind: 'item', entry };
  const rule = m.ignore.findIndex(
    (r) =>
      (r.application === undefined || appMatches(r.application, u)) &&
      (r.api === undefined || apiMatches(r.api, u)) &&
      (r.tier === undefined || r.tier === u.subscriptionTier) &&
      (r.keyType === undefined || r.keyType === u.keyType),
  );
  if (rule >= 0) return { kind: 'ignored', rule };
  return {
    kind: 'unmapped',
    reason: `no subscriptionItems entry for application ${u.application.name} (${u.application.id}), API ${u.api.name}:${u.api.version} (${u.api.id}), tier ${u.subscriptionTier ?? '(none)'}, key type ${u.keyType ?? '(none)'}`,
  };
}

/** Parses and validates a mapping document (YAML or JSON text). */
export function parseMapping(text: string, origin: string): BillingMapping {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (cause) {
    throw new BillingMappingError(`${origin}: not YAML/JSON`, { cause });
  }
  const parsed = BillingMapping.safeParse(raw);
  if (!parsed.success) {
    throw new BillingMappingError(`${origin}:\n${z.prettifyError(parsed.error)}`, {
      details: parsed.error.issues,
    });
  }
  return parsed.data;
}

/** The mapping from functions.billingMapping (inline) or functions.billingMappingFile. */
export function loadMapping(f: { billingMapping: string; billingMappingFile: string }): BillingMapping {
  if (f.billingMapping.trim() !== '') return parseMapping(f.billingMapping, 'functions.billingMapping');
  if (f.billingMappingFile === '')
    throw new BillingMappingError(
      'functions.billingProvider is stripe but neither functions.billingMappingFile nor functions.billingMapping is set',
    );
  let text: string;
  try {
    text = readFileSync(f.billingMappingFile, 'utf8');
  } catch (cause) {
    throw new BillingMappingError(`functions.billingMappingFile ${f.billingMappingFile}: cannot read`, {
      cause,
    });
  }
  return parseMapping(text, f.billingMappingFile);
}
