import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Usage } from '../../../events/usage.ts';
import { parseMapping, resolveItem } from '../../../functions/usage-billing/mapping.ts';
import { classifyAnswer, usageRecordRequest } from '../../../functions/usage-billing/stripe.ts';

const u = Usage.parse(JSON.parse(readFileSync('events/samples/usage/closed-window.json', 'utf8')));

describe('billing mapping', () => {
  it('matches application and API by id, name or name:version, tier exactly, key type when given', () => {
    const m = parseMapping(
      `subscriptionItems:
  - { application: ${u.application.id}, api: ${u.api.id}, tier: Gold, keyType: SANDBOX, item: si_sb }
  - { application: ShopFrontend, api: "PetStore:1.0.0", tier: Gold, item: si_prod }`,
      'test',
    );
    expect(resolveItem(m, u)).toMatchObject({
      kind: 'item',
      entry: { item: 'si_prod', quantity: 'allowed' },
    });
    expect(resolveItem(m, { ...u, keyType: 'SANDBOX' })).toMatchObject({ entry: { item: 'si_sb' } });
    expect(resolveItem(m, { ...u, subscriptionTier: 'Silver' })).toMatchObject({ kind: 'unmapped' });
    expect(resolveItem(m, { ...u, subscriptionTier: null })).toMatchObject({ kind: 'unmapped' });
  });

  it('refuses one item in two entries, unknown fields, an empty ignore rule', () => {
    expect(() =>
      parseMapping(
        'subscriptionItems: [{ application: a, api: b, tier: Gold, item: si_1 }, { application: a, api: b, tier: Silver, item: si_1 }]',
        't',
      ),
    ).toThrow(/already used/);
    expect(() =>
      parseMapping('subscriptionItems: [{ application: a, api: b, tier: G, item: si_1, plan: x }]', 't'),
    ).toThrow();
    expect(() => parseMapping('ignore: [{}]', 't')).toThrow(/at least one field/);
  });

  it('gives every (partition, key type) of an hour its own timestamp; too many partitions is an error', () => {
    const entry = parseMapping('subscriptionItems: [{ application: a, api: b, tier: G, item: si_1 }]', 't')
      .subscriptionItems[0]!;
    const start = Date.parse(u.window.start) / 1000;
    const ts = (p: number, k: Usage['keyType']) =>
      Number(
        usageRecordRequest({ ...u, keyType: k, source: { ...u.source, partition: p } }, entry).form.timestamp,
      );
    expect([ts(0, 'PRODUCTION'), ts(0, 'SANDBOX'), ts(1, 'PRODUCTION'), ts(1799, 'SANDBOX')]).toEqual([
      start,
      start + 1,
      start + 2,
      start + 3599,
    ]);
    expect(() => ts(1800, 'PRODUCTION')).toThrow(/slot/);
  });

  it("classifies Stripe's answers like its client libraries", () => {
    const h = (x: Record<string, string> = {}) => ({ get: (n: string) => x[n] ?? null });
    const c = (status: number, headers?: Record<string, string>) =>
      classifyAnswer({ status, headers: h(headers), body: { error: { type: 'api_error', message: 'm' } } })
        .kind;
    expect([c(200), c(409), c(429), c(500), c(503), c(400), c(404), c(401), c(403)]).toEqual([
      'ok',
      'retry',
      'retry',
      'retry',
      'retry',
      'rejected',
      'rejected',
      'unavailable',
      'unavailable',
    ]);
    expect(c(400, { 'stripe-should-retry': 'true' })).toBe('retry');
    expect(c(500, { 'stripe-should-retry': 'false' })).toBe('rejected');
    expect(classifyAnswer({ status: 429, headers: h({ 'retry-after': '2' }), body: null })).toMatchObject({
      retryAfterMs: 2000,
    });
  });
});
