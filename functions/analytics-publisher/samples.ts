/**
 * The analytics publisher's cases: one request-attributes event per decision/error type, and the
 * generator of the Lambda-shaped samples under events/samples/lambda/analytics-publisher/ (both
 * event shapes). Regenerate: `node --import tsx functions/analytics-publisher/samples.ts`; a unit test keeps
 * the files equal to this output.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RequestAttributes } from '../../events/request-attributes.ts';
import { TOPICS } from '../../events/topics.ts';
import { buildLambdaKafkaEvent, inRecordsFromValues, type LambdaKafkaEvent } from '../lib/kafka-event.ts';

type Overrides = Partial<Omit<RequestAttributes, 'decision'>> & {
  decision?: Partial<RequestAttributes['decision']>;
};

export function requestAttributes(o: Overrides = {}): RequestAttributes {
  const { decision, ...rest } = o;
  const requestId = rest.requestId ?? 'req-0001';
  return {
    type: 'request-attributes',
    schemaVersion: 1,
    eventId: `ev-${requestId}`,
    occurredAt: '2026-11-26T04:00:00.120Z',
    source: 'access-log',
    requestId,
    receivedAt: '2026-11-26T04:00:00.000Z',
    api: {
      id: '6e8b1c2a-0000-4000-8000-000000000001',
      name: 'PetStore',
      version: '1.0.0',
      context: '/petstore/1.0.0',
      creator: 'admin',
      creatorTenantDomain: 'carbon.super',
      type: 'HTTP',
    },
    resource: { template: '/pets/{petId}', method: 'GET' },
    application: { id: 'app-uuid-1', name: 'ShopApp', owner: 'alice', tier: 'Unlimited' },
    subscriptionTier: 'Gold',
    keyType: 'PRODUCTION',
    credentialType: 'apikey',
    userName: 'alice@carbon.super',
    decision: {
      kind: 'allow',
      httpStatus: 200,
      code: null,
      reason: 'OK',
      throttleKey: null,
      overQuota: false,
      ...decision,
    },
    client: {
      ip: '10.1.2.3',
      userAgent:
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
      referer: null,
    },
    request: { method: 'GET', host: 'api.example.com', path: '/petstore/1.0.0/pets/42' },
    adapterInstance: 'adapter-0',
    response: {
      status: 200,
      latencyMs: 35,
      backendLatencyMs: 30,
      requestBytes: 0,
      responseBytes: 512,
      upstreamHost: 'petstore.shop.svc.cluster.local:8080',
    },
    ...rest,
  };
}

const denied = (
  kind: RequestAttributes['decision']['kind'],
  httpStatus: number,
  code: number | null,
  reason: string,
): Overrides => ({
  source: 'check',
  response: null,
  decision: { kind, httpStatus, code, reason },
});

/** Case name -> event. Names say what they provoke; the expected WSO2 output is asserted in the tests. */
export function analyticsCases(): Record<string, RequestAttributes> {
  const c: Record<string, Overrides> = {
    'response-served': {},
    'response-check-only-no-access-log': { source: 'check', response: null },
    'response-anonymous-open-api': {
      credentialType: 'none',
      application: null,
      userName: null,
      keyType: null,
      subscriptionTier: null,
    },
    'response-backend-error-500': {
      response: {
        status: 500,
        latencyMs: 12,
        backendLatencyMs: 10,
        requestBytes: 0,
        responseBytes: 20,
        upstreamHost: 'petstore:8080',
      },
    },
    'response-over-quota-allowed': { decision: { overQuota: true, throttleKey: 'sub:app-uuid-1:api' } },
    'response-no-user-agent': { client: { ip: null, userAgent: null, referer: null } },
    'faulty-auth-invalid-credentials': {
      ...denied('unauthenticated', 401, 900901, 'INVALID_CREDENTIALS'),
      application: null,
      userName: null,
      keyType: null,
    },
    'faulty-auth-missing-credentials': {
      ...denied('unauthenticated', 401, 900902, 'MISSING_CREDENTIALS'),
      application: null,
      userName: null,
      keyType: null,
      credentialType: 'none',
    },
    'faulty-auth-token-expired': {
      ...denied('unauthenticated', 401, 900903, 'ACCESS_TOKEN_EXPIRED'),
      credentialType: 'oauth2-jwt',
    },
    'faulty-authz-invalid-scope': denied('forbidden', 403, 900910, 'INVALID_SCOPE'),
    'faulty-subscription-validation': {
      ...denied('forbidden', 403, 900908, 'SUBSCRIPTION_VALIDATION_FAILURE'),
      subscriptionTier: null,
    },
    'faulty-api-blocked': denied('forbidden', 403, 900907, 'API_BLOCKED'),
    'faulty-throttled-subscription': {
      ...denied('rate-limited', 429, 900804, 'SUBSCRIPTION_LIMIT_EXCEEDED'),
      decision: {
        kind: 'rate-limited',
        httpStatus: 429,
        code: 900804,
        reason: 'SUBSCRIPTION_LIMIT_EXCEEDED',
        throttleKey: 'sub:app-uuid-1:api',
      },
    },
    'faulty-throttled-application': denied('rate-limited', 429, 900803, 'APPLICATION_LEVEL_LIMIT_EXCEEDED'),
    'faulty-throttled-resource': denied('rate-limited', 429, 900802, 'RESOURCE_LEVEL_LIMIT_EXCEEDED'),
    'faulty-throttled-api': denied('rate-limited', 429, 900800, 'API_LEVEL_LIMIT_EXCEEDED'),
    'faulty-throttled-burst': denied('rate-limited', 429, 900807, 'BURST_CONTROL_LIMIT_EXCEEDED'),
    'faulty-throttled-reason-without-code': denied('rate-limited', 429, null, 'BURST_CONTROL_LIMIT_EXCEEDED'),
    'faulty-target-timeout': {
      response: {
        status: 504,
        latencyMs: 15000,
        backendLatencyMs: null,
        requestBytes: 0,
        responseBytes: 24,
        upstreamHost: 'petstore:8080',
      },
    },
    'faulty-target-connection-failed': {
      response: {
        status: 503,
        latencyMs: 3,
        backendLatencyMs: null,
        requestBytes: 0,
        responseBytes: 19,
        upstreamHost: null,
      },
    },
    'faulty-resource-not-found': {
      ...denied('not-found', 404, null, 'NO_MATCHING_RESOURCE'),
      resource: null,
    },
    // What the check emits: the API matched, the resource did not, with WSO2's body code 900906.
    'faulty-resource-not-found-body-code-900906': {
      ...denied('not-found', 404, 900906, 'RESOURCE_NOT_FOUND'),
      resource: null,
    },
    'faulty-adapter-unavailable': denied('unavailable', 503, null, 'SNAPSHOT_UNAVAILABLE'),
    // Introspection / JWKS unreachable: the adapter denies 503 with WSO2's API_AUTH_GENERAL_ERROR.
    'faulty-key-manager-unavailable': {
      ...denied('unavailable', 503, 900900, 'CREDENTIAL_UNAVAILABLE_INTROSPECTION'),
      credentialType: 'oauth2-opaque',
    },
    'faulty-api-blocked-lifecycle': {
      ...denied('unavailable', 503, 700700, 'API_BLOCKED'),
      response: null,
    },
    'skipped-no-api-matched': {
      ...denied('not-found', 404, null, 'NO_MATCHING_API'),
      api: null,
      resource: null,
      application: null,
    },
  };
  return Object.fromEntries(
    Object.entries(c).map(([name, o], i) => [
      name,
      requestAttributes({ requestId: `req-${String(i + 1).padStart(4, '0')}-${name}`, ...o }),
    ]),
  );
}

export const SAMPLES_DIR = fileURLToPath(
  new URL('../../events/samples/lambda/analytics-publisher/', import.meta.url),
);

/** File name -> Lambda event: every case in both shapes, plus a mixed batch with poison records. */
export function lambdaSamples(): Record<string, LambdaKafkaEvent> {
  const topic = TOPICS.requestAttributes.name;
  const ts = Date.parse('2026-11-26T04:00:00.000Z');
  const out: Record<string, LambdaKafkaEvent> = {};
  Object.entries(analyticsCases()).forEach(([name, ev], i) => {
    const records = inRecordsFromValues(topic, [ev], {
      partition: i % 3,
      firstOffset: 1000 + i,
      timestamp: ts,
      key: () => ev.requestId,
    });
    out[`${name}.msk.json`] = buildLambdaKafkaEvent(records, { shape: 'msk' });
    out[`${name}.self-managed.json`] = buildLambdaKafkaEvent(records, { shape: 'self-managed' });
  });
  const cases = analyticsCases();
  const mixed = inRecordsFromValues(
    topic,
    [
      cases['response-served'],
      '{"truncated": ',
      { ...cases['faulty-throttled-subscription'], decision: { kind: 'bogus' } },
      cases['faulty-auth-invalid-credentials'],
    ],
    { partition: 0, firstOffset: 2000, timestamp: ts },
  );
  out['batch-with-poison.msk.json'] = buildLambdaKafkaEvent(mixed, { shape: 'msk' });
  out['batch-with-poison.self-managed.json'] = buildLambdaKafkaEvent(mixed, { shape: 'self-managed' });
  return out;
}

export function writeSamples(dir = SAMPLES_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const files = lambdaSamples();
  for (const [name, ev] of Object.entries(files))
    writeFileSync(path.join(dir, name), `${JSON.stringify(ev, null, 2)}\n`);
  return Object.keys(files);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.stdout.write(`${writeSamples().length} samples written to ${SAMPLES_DIR}\n`);
}
