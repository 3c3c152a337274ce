import { describe, expect, it } from 'vitest';
import { type Decision, emptyMatch } from '../../adapter/domain.ts';
import { createAdapterMetrics } from '../../adapter/metrics.ts';

function allow(api: string | null): Decision {
  const match = emptyMatch();
  return {
    kind: 'allow',
    httpStatus: 200,
    code: null,
    reason: 'ALLOWED',
    match: api
      ? { ...match, api: { ...(match.api ?? {}), id: api } as NonNullable<typeof match.api> }
      : match,
    overQuota: false,
    throttleKey: null,
    rateLimit: null,
    headersToSet: {},
    headersToRemove: [],
    queryParamsToRemove: [],
  };
}

const count = (text: string, labels: string) =>
  Number(new RegExp(`mesh_apim_checks_total\\{${labels}\\} (\\d+)`).exec(text)?.[1] ?? 0);

describe('observeCheck', () => {
  it('counts per label set, cumulatively across scrapes', async () => {
    const m = createAdapterMetrics();
    m.observeCheck(allow('a'), 0.0001);
    m.observeCheck(allow('a'), 0.0001);
    m.observeCheck(allow(null), 0.0001);
    let text = await m.registry.metrics();
    expect(count(text, 'decision="allow",api="a",code="0"')).toBe(2);
    expect(count(text, 'decision="allow",api="none",code="0"')).toBe(1);
    m.observeCheck(allow('a'), 0.0001);
    text = await m.registry.metrics();
    expect(count(text, 'decision="allow",api="a",code="0"')).toBe(3);
    expect(text).toMatch(/mesh_apim_check_duration_seconds_count\{decision="allow"\} 4/);
  });

  it('keeps every count when the label sets pass the guard bound', async () => {
    const m = createAdapterMetrics();
    for (let i = 0; i < 10_050; i++) m.observeCheck(allow(`api-${i}`), 0.0001);
    m.observeCheck(allow('api-0'), 0.0001);
    const text = await m.registry.metrics();
    expect(count(text, 'decision="allow",api="api-0",code="0"')).toBe(2);
    expect(count(text, 'decision="allow",api="api-10049",code="0"')).toBe(1);
    const total = [...text.matchAll(/^mesh_apim_checks_total\{.*\} (\d+)$/gm)].reduce(
      (a, x) => a + Number(x[1]),
      0,
    );
    expect(total).toBe(10_051);
  });
});
