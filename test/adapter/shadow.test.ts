/** Shadow enforcement as a pure mapping after decide(): the allow it serves, the mode, the log limit. */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ValidCredential } from '../../adapter/credentials/types.ts';
import type { CheckRequest, Decision } from '../../adapter/domain.ts';
import { decide } from '../../adapter/policy/decide.ts';
import { ThrottleState } from '../../adapter/policy/throttle.ts';
import { SHADOW_REASON, ShadowEnforcement, shadowAllow } from '../../adapter/shadow.ts';
import { compileSnapshot } from '../../adapter/snapshot/compile.ts';
import { toCheckRequest } from '../../adapter/translate.ts';
import type { Logger } from '../../common/log.ts';
import { ManualClock } from '../support/adapter.ts';

const snapshot = compileSnapshot(
  {
    apis: [
      {
        name: 'p',
        version: 'v1',
        context: '/p',
        enforcement: 'shadow',
        resources: [{ method: 'GET', path: '/*' }],
      },
      { name: 'q', version: 'v1', context: '/q', resources: [{ method: 'GET', path: '/*' }] },
    ],
    applications: [{ name: 'app' }],
    subscriptions: [],
  },
  { source: 'test' },
);

const req = (path: string, headers: Record<string, string> = {}): CheckRequest =>
  toCheckRequest({ attributes: { request: { http: { method: 'GET', path, headers, id: 'r1' } } } }, 0);

const valid = (): ValidCredential =>
  ({
    status: 'valid',
    type: 'apikey',
    keyType: 'PRODUCTION',
    subject: 'alice',
    jti: null,
    issuedAt: null,
    application: { by: 'id', id: 'app', name: 'app' },
    restrictions: {},
    scopes: [],
    strip: { headers: ['apikey'], queryParams: [] },
  }) as unknown as ValidCredential;

const clock = new ManualClock();
const decideOn = (request: CheckRequest, credential: Parameters<typeof decide>[0]['credential']) =>
  decide({ request, credential }, snapshot, clock, { throttle: new ThrottleState(1000) });

function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = { info: (o: Record<string, unknown>) => lines.push(o) } as unknown as Logger;
  return { logger, lines };
}

describe('shadowAllow', () => {
  it('keeps the identity of a valid credential denied for a non-credential reason (not subscribed)', () => {
    const request = req('/p/v1/x', { apikey: 'k', 'x-mesh-apim-over-quota': 'true' });
    const denied = decideOn(request, valid());
    expect(denied).toMatchObject({ kind: 'forbidden', reason: 'NOT_SUBSCRIBED' });
    const served = shadowAllow(denied as Exclude<Decision, { kind: 'allow' }>, request, valid());
    expect(served).toMatchObject({
      kind: 'allow',
      httpStatus: 200,
      code: null,
      reason: SHADOW_REASON,
      rateLimit: null,
    });
    expect(served.headersToSet).toMatchObject({
      'x-mesh-apim-api-id': 'p-v1',
      'x-mesh-apim-application-id': 'app',
      'x-mesh-apim-user': 'alice',
      'x-mesh-apim-key-type': 'PRODUCTION',
    });
    expect(served.headersToRemove).toEqual(expect.arrayContaining(['x-mesh-apim-over-quota', 'apikey']));
  });

  it('keeps only the API for an invalid credential, and strips its carriers', () => {
    const request = req('/p/v1/x?apikey=bad', { 'x-mesh-apim-user': 'root' });
    const credential = {
      status: 'invalid',
      type: 'apikey',
      reason: 'SIGNATURE',
      strip: { headers: [], queryParams: ['apikey'] },
    } as const;
    const denied = decideOn(request, credential as never);
    expect(denied.kind).toBe('unauthenticated');
    const served = shadowAllow(denied as Exclude<Decision, { kind: 'allow' }>, request, credential as never);
    expect(Object.keys(served.headersToSet).sort()).toEqual([
      'x-mesh-apim-api-id',
      'x-mesh-apim-api-name',
      'x-mesh-apim-api-version',
    ]);
    expect(served.headersToRemove).toContain('x-mesh-apim-user');
    expect(served.queryParamsToRemove).toEqual(['apikey']);
    expect(served.match.credentialType).toBe('apikey');
  });
});

describe('ShadowEnforcement', () => {
  it('uses the API mode first, the global mode otherwise; never touches an allow', () => {
    const { logger } = recordingLogger();
    const enforce = new ShadowEnforcement({ mode: 'enforce', registry: new Registry(), logger });
    const shadow = new ShadowEnforcement({ mode: 'shadow', registry: new Registry(), logger });
    const onP = decideOn(req('/p/v1/x'), { status: 'missing', type: 'none' });
    const onQ = decideOn(req('/q/v1/x'), { status: 'missing', type: 'none' });
    const nowhere = decideOn(req('/z/v1/x'), { status: 'missing', type: 'none' });
    expect(enforce.modeOf(onP, snapshot)).toBe('shadow');
    expect(enforce.modeOf(onQ, snapshot)).toBe('enforce');
    expect(enforce.modeOf(nowhere, snapshot)).toBe('enforce');
    expect(shadow.modeOf(onQ, snapshot)).toBe('shadow');
    expect(shadow.modeOf(nowhere, snapshot)).toBe('shadow');
    expect(enforce.waive(onQ, req('/q/v1/x'), { status: 'missing', type: 'none' }, snapshot)).toBeNull();
    const served = shadowAllow(onP as Exclude<Decision, { kind: 'allow' }>, req('/p/v1/x'), {
      status: 'missing',
      type: 'none',
    });
    expect(shadow.waive(served, req('/p/v1/x'), { status: 'missing', type: 'none' }, snapshot)).toBeNull();
  });

  it('counts every waived denial and logs one line per API and reason per interval, with the suppressed count', async () => {
    const { logger, lines } = recordingLogger();
    const registry = new Registry();
    let now = 0;
    const s = new ShadowEnforcement({
      mode: 'enforce',
      registry,
      logger,
      logIntervalMs: 1000,
      now: () => now,
    });
    const missing = { status: 'missing', type: 'none' } as const;
    const request = req('/p/v1/x');
    const denied = decideOn(request, missing);
    for (let i = 0; i < 5; i++) expect(s.waive(denied, request, missing, snapshot)?.denied).toBe(denied);
    now = 1500;
    s.waive(denied, request, missing, snapshot);
    expect(lines.map((l) => l.suppressed)).toEqual([0, 4]);
    expect(lines[0]).toMatchObject({
      api: 'p-v1',
      decision: 'unauthenticated',
      code: 900902,
      reason: 'CREDENTIAL_MISSING',
    });
    const values = (await registry.getSingleMetric('mesh_apim_shadow_decisions_total')!.get()).values;
    expect(values).toEqual([
      { labels: { api: 'p-v1', decision: 'unauthenticated', code: '900902' }, value: 6 },
    ]);
  });
});
