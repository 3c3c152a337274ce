/**
 * What WSO2-format analytics shows for the fields shadow mode and tracing added to request-attributes:
 * a shadow-waived denial is a served request (apim:response with the upstream's status, no fault),
 * and neither the would-be denial nor the trace id adds keys to WSO2's events.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ApimResponseEvent } from '../../../events/analytics.ts';
import { RequestAttributes } from '../../../events/request-attributes.ts';
import { toAnalytics } from '../../../functions/analytics-publisher/mapping.ts';

const sample = (name: string) =>
  RequestAttributes.parse(
    JSON.parse(
      readFileSync(
        new URL(`../../../events/samples/request-attributes/${name}.json`, import.meta.url),
        'utf8',
      ),
    ),
  );

describe('analytics of shadow and traced requests', () => {
  it('a shadow-waived 403 is an apim:response with the status the client got, not an apim:faulty', () => {
    const ev = sample('shadow-not-subscribed');
    expect(ev.shadow).toMatchObject({ kind: 'forbidden', code: 900908 });
    const mapped = toAnalytics(ev);
    expect(mapped.metric).toBe('apim:response');
    const data = ApimResponseEvent.parse((mapped as { data: unknown }).data);
    expect(data.proxyResponseCode).toBe(200);
    expect(JSON.stringify(data)).not.toContain('900908');
  });

  it('the trace id stays out of the WSO2 event (strict: WSO2 keys only)', () => {
    const ev = sample('allowed-traced');
    expect(ev.traceId).toMatch(/^[0-9a-f]{32}$/);
    const mapped = toAnalytics(ev);
    expect(mapped.metric).toBe('apim:response');
    const data = ApimResponseEvent.parse((mapped as { data: unknown }).data);
    expect(JSON.stringify(data)).not.toContain(ev.traceId!);
  });
});
