import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { createLogger } from '../../../common/log.ts';
import { DeadLetter } from '../../../events/dead-letter.ts';
import { TOPICS } from '../../../events/topics.ts';
import { Usage } from '../../../events/usage.ts';
import { buildLambdaKafkaEvent, busDeps, inRecordsFromValues } from '../../../functions/lib/index.ts';
import { loadFunction } from '../../../functions/registry.ts';
import { startFunctions } from '../../../functions/runner/index.ts';
import usageBilling, { create } from '../../../functions/usage-billing/index.ts';
import { FakeStripe } from '../../support/fakes/fake-stripe.ts';

const sample = Usage.parse(JSON.parse(readFileSync('events/samples/usage/closed-window.json', 'utf8')));

function win(over: Partial<Usage> & { allowed?: number } = {}): Usage {
  const { allowed, ...rest } = over;
  const u: Usage = { ...sample, ...rest };
  if (allowed !== undefined) u.counts = { ...u.counts, allowed };
  u.eventId = `usage:${u.windowId}:r${u.revision}`;
  return u;
}

const MAPPING = `
subscriptionItems:
  - { application: ShopFrontend, api: "PetStore:1.0.0", tier: Gold, keyType: PRODUCTION, item: si_gold, account: acct_pub }
  - { application: ShopFrontend, api: PetStore, tier: Bronze, item: si_bronze }
ignore:
  - { keyType: SANDBOX }
`;

describe('usage-billing handler against the fake Stripe', () => {
  let stripe: FakeStripe;
  beforeEach(async () => {
    stripe = await new FakeStripe({ items: { si_gold: 'acct_pub', si_bronze: undefined } }).start();
  });
  afterEach(async () => {
    await stripe.stop();
  });

  function setup(env: Record<string, string> = {}) {
    const config = loadConfig({
      env: {
        MESH_APIM_FUNCTIONS_BILLING_PROVIDER: 'stripe',
        MESH_APIM_FUNCTIONS_BILLING_STRIPE_URL: stripe.url,
        MESH_APIM_FUNCTIONS_BILLING_STRIPE_SECRET_KEY: stripe.secretKey,
        MESH_APIM_FUNCTIONS_BILLING_MAPPING: MAPPING,
        MESH_APIM_FUNCTIONS_BILLING_BACKOFF_MS: '5',
        ...env,
      },
    });
    const bus = new MemoryBus();
    const deps = busDeps(bus, config, createLogger('test'));
    const handler = create(deps).handler;
    let offset = 0;
    const batch = (events: Usage[], shape: 'msk' | 'self-managed' = 'self-managed') => {
      const recs = inRecordsFromValues(TOPICS.usage.name, events, { firstOffset: offset });
      offset += events.length;
      return handler(buildLambdaKafkaEvent(recs, { shape }));
    };
    const deadLetters = () =>
      bus.records(TOPICS.deadLetter.name).map((r) => DeadLetter.parse(JSON.parse(r.value!.toString())));
    return { bus, batch, deadLetters, config };
  }

  it('is registered on the usage topic and off without a billing provider', async () => {
    expect((await loadFunction('usage-billing'))?.topics).toEqual([TOPICS.usage]);
    expect(usageBilling.enabled?.(loadConfig({ env: {} }))).toBe(false);
    const config = loadConfig({ env: { MESH_APIM_FUNCTIONS_RUN_LOCAL: 'true' } });
    const running = await startFunctions(config, new MemoryBus(), { logger: createLogger('test') });
    expect(running.names).not.toContain('usage-billing');
    expect(running.names).toContain('usage-metering');
    await running.stop();
  });

  for (const shape of ['msk', 'self-managed'] as const) {
    it(`${shape}: posts a usage record in WSO2's Stripe shape (form fields, auth, account, idempotency key)`, async () => {
      const { batch } = setup();
      expect(await batch([win()], shape)).toMatchObject({ processed: 1, deadLettered: 0 });
      expect(stripe.requests).toHaveLength(1);
      const r = stripe.requests[0]!;
      expect(r).toMatchObject({
        method: 'POST',
        path: '/v1/subscription_items/si_gold/usage_records',
        status: 200,
      });
      expect(r.headers.authorization).toBe(`Bearer ${stripe.secretKey}`);
      expect(r.headers['stripe-account']).toBe('acct_pub');
      expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(r.headers['idempotency-key']).toBe(`mesh-apim-usage:si_gold:${sample.windowId}:r1`);
      // Hour start + slot of partition 3, PRODUCTION: 3 * 2 + 0 seconds.
      const ts = Date.parse('2026-11-26T04:00:00.000Z') / 1000 + 6;
      expect(r.form).toEqual({ quantity: '1204', timestamp: String(ts), action: 'set' });
      expect(stripe.total('si_gold')).toBe(1204);
    });
  }

  it('a window delivered twice is posted once (the repeat replays the first answer)', async () => {
    const { batch } = setup();
    await batch([win()]);
    await batch([win()]);
    expect(stripe.requests).toHaveLength(2);
    expect(stripe.requests[1]?.replayed).toBe(true);
    expect(stripe.executed()).toHaveLength(1);
    expect(stripe.total('si_gold')).toBe(1204);
  });

  it('a revision amends the window (set overwrites) instead of adding to it', async () => {
    const { batch } = setup();
    await batch([win()]);
    await batch([win({ revision: 2, allowed: 1210, lateEvents: 6 })]);
    expect(stripe.executed()).toHaveLength(2);
    expect(stripe.total('si_gold')).toBe(1210);
    // Replaying the topic (both revisions again, in order) converges on the latest one.
    await batch([win(), win({ revision: 2, allowed: 1210, lateEvents: 6 })]);
    expect(stripe.total('si_gold')).toBe(1210);
  });

  it('windows of other partitions and key types of one hour add up (each has its own timestamp)', async () => {
    const { batch } = setup();
    const other = win({
      windowId: '2026112604.p4.0cR1xB3o9kq2mVtY7uEwZa',
      source: { ...sample.source, partition: 4 },
      allowed: 100,
    });
    await batch([win(), other]);
    expect(stripe.total('si_gold')).toBe(1304);
    expect([...stripe.usageOf('si_gold').keys()]).toHaveLength(2);
  });

  it('5xx then success: retried with the same idempotency key, posted once', async () => {
    const { batch } = setup();
    stripe.failNext(2, 500);
    expect(await batch([win()])).toMatchObject({ processed: 1 });
    expect(stripe.requests.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(new Set(stripe.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(stripe.total('si_gold')).toBe(1204);
  });

  it('a 500 Stripe saved under the key (replayed on retry) is retried under a fresh key: set keeps it idempotent', async () => {
    const { batch } = setup();
    stripe.failNext(1, 500, {}, true);
    expect(await batch([win()])).toMatchObject({ processed: 1 });
    expect(stripe.requests.map((r) => [r.status, r.replayed])).toEqual([
      [500, false],
      [500, true],
      [200, false],
    ]);
    expect(stripe.requests[2]?.headers['idempotency-key']).toBe(
      `mesh-apim-usage:si_gold:${sample.windowId}:r1:a3`,
    );
    expect(stripe.total('si_gold')).toBe(1204);
  });

  it('429 with Retry-After is waited out; Stripe-Should-Retry: false on a 500 is final', async () => {
    const { batch, deadLetters } = setup();
    stripe.failNext(1, 429, { 'retry-after': '0.05' });
    const t0 = Date.now();
    await batch([win()]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(stripe.total('si_gold')).toBe(1204);
    stripe.failNext(1, 500, { 'stripe-should-retry': 'false' });
    await batch([win({ revision: 2, allowed: 1300 })]);
    expect(deadLetters()[0]?.error.code).toBe('BILLING_REJECTED');
  });

  it('Stripe down past every attempt fails the batch (retried), nothing dead-lettered', async () => {
    const { batch, deadLetters } = setup({ MESH_APIM_FUNCTIONS_BILLING_MAX_ATTEMPTS: '2' });
    stripe.failNext(2, 503);
    await expect(batch([win()])).rejects.toMatchObject({
      code: 'BATCH_RETRY',
      failures: [expect.objectContaining({ error: expect.stringMatching(/after 2 attempt/) })],
    });
    expect(deadLetters()).toHaveLength(0);
    // The redelivery succeeds: nothing was stored under the key for the refused attempts.
    await batch([win()]);
    expect(stripe.total('si_gold')).toBe(1204);
  });

  it('a wrong secret key fails the batch instead of dead-lettering every window', async () => {
    const { batch, deadLetters } = setup({ MESH_APIM_FUNCTIONS_BILLING_STRIPE_SECRET_KEY: 'sk_test_wrong' });
    await expect(batch([win()])).rejects.toThrow();
    expect(deadLetters()).toHaveLength(0);
    expect(stripe.requests).toHaveLength(1);
  });

  it('an unmapped window goes to the dead-letter topic with its reason; ignored and empty ones are skipped', async () => {
    const { batch, deadLetters } = setup();
    const unmapped = win({ windowId: 'w-unmapped', subscriptionTier: 'Platinum' });
    const sandbox = win({ windowId: 'w-sandbox', keyType: 'SANDBOX' });
    const empty = win({ windowId: 'w-empty', subscriptionTier: 'Platinum', allowed: 0 });
    expect(await batch([unmapped, sandbox, empty, win()])).toMatchObject({
      records: 4,
      processed: 1,
      skipped: 2,
      deadLettered: 1,
    });
    const [dl] = deadLetters();
    expect(dl?.error.code).toBe('BILLING_UNMAPPED');
    expect(dl?.error.message).toMatch(/tier Platinum/);
    expect(dl?.consumer).toBe('usage-billing');
    expect(stripe.requests).toHaveLength(1);
  });

  it("a subscription item Stripe does not know is dead-lettered with Stripe's error", async () => {
    await stripe.stop();
    stripe = await new FakeStripe({ items: { si_bronze: undefined } }).start();
    const { batch, deadLetters } = setup();
    await batch([win()]);
    expect(deadLetters()[0]?.error).toMatchObject({ code: 'BILLING_REJECTED' });
    expect(deadLetters()[0]?.error.message).toMatch(/resource_missing/);
  });

  it('within one batch only the latest revision of a window is posted', async () => {
    const { batch } = setup();
    expect(await batch([win(), win({ revision: 2, allowed: 1300 })])).toMatchObject({
      processed: 1,
      skipped: 1,
    });
    expect(stripe.executed()).toHaveLength(1);
    expect(stripe.total('si_gold')).toBe(1300);
  });

  it('fails fast at start on a bad mapping or a missing key', () => {
    expect(() =>
      setup({ MESH_APIM_FUNCTIONS_BILLING_MAPPING: 'subscriptionItems: [{ application: a }]' }),
    ).toThrow(/BILLING_MAPPING|subscriptionItems/);
    expect(() => setup({ MESH_APIM_FUNCTIONS_BILLING_STRIPE_SECRET_KEY: '' })).toThrow(/SecretKey/);
  });
});
