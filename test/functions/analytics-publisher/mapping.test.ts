import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnalyticsEvent, ApimFaultyEvent, ApimResponseEvent } from '../../../events/analytics.ts';
import { RequestAttributes } from '../../../events/request-attributes.ts';
import { toAnalytics } from '../../../functions/analytics-publisher/mapping.ts';
import { toAnalyticsEvent } from '../../../functions/analytics-publisher/publisher.ts';
import {
  analyticsCases,
  lambdaSamples,
  SAMPLES_DIR,
} from '../../../functions/analytics-publisher/samples.ts';

const cases = analyticsCases();

// [metric, errorType, errorCode, errorMessage] per case: the decision table under test.
const expected: Record<string, [string | null, string?, number?, string?]> = {
  'response-served': ['apim:response'],
  'response-check-only-no-access-log': ['apim:response'],
  'response-anonymous-open-api': ['apim:response'],
  'response-backend-error-500': ['apim:response'],
  'response-over-quota-allowed': ['apim:response'],
  'response-no-user-agent': ['apim:response'],
  'faulty-auth-invalid-credentials': ['apim:faulty', 'AUTH', 900901, 'AUTHENTICATION_FAILURE'],
  'faulty-auth-missing-credentials': ['apim:faulty', 'AUTH', 900902, 'AUTHENTICATION_FAILURE'],
  'faulty-auth-token-expired': ['apim:faulty', 'AUTH', 900903, 'AUTHENTICATION_FAILURE'],
  'faulty-authz-invalid-scope': ['apim:faulty', 'AUTH', 900910, 'AUTHORIZATION_FAILURE'],
  'faulty-subscription-validation': ['apim:faulty', 'AUTH', 900908, 'SUBSCRIPTION_VALIDATION_FAILURE'],
  'faulty-api-blocked': ['apim:faulty', 'AUTH', 900907, 'SUBSCRIPTION_VALIDATION_FAILURE'],
  'faulty-throttled-subscription': ['apim:faulty', 'THROTTLED', 900804, 'SUBSCRIPTION_LIMIT_EXCEEDED'],
  'faulty-throttled-application': ['apim:faulty', 'THROTTLED', 900803, 'APPLICATION_LEVEL_LIMIT_EXCEEDED'],
  'faulty-throttled-resource': ['apim:faulty', 'THROTTLED', 900802, 'RESOURCE_LEVEL_LIMIT_EXCEEDED'],
  'faulty-throttled-api': ['apim:faulty', 'THROTTLED', 900800, 'API_LEVEL_LIMIT_EXCEEDED'],
  'faulty-throttled-burst': ['apim:faulty', 'THROTTLED', 900807, 'BURST_CONTROL_LIMIT_EXCEEDED'],
  'faulty-throttled-reason-without-code': [
    'apim:faulty',
    'THROTTLED',
    900807,
    'BURST_CONTROL_LIMIT_EXCEEDED',
  ],
  'faulty-target-timeout': ['apim:faulty', 'TARGET_CONNECTIVITY', 101504, 'CONNECTION_TIMEOUT'],
  'faulty-target-connection-failed': ['apim:faulty', 'TARGET_CONNECTIVITY', 101503, 'OTHER'],
  'faulty-resource-not-found': ['apim:faulty', 'OTHER', 404, 'RESOURCE_NOT_FOUND'],
  // FaultCodeClassifier.isResourceNotFound: Synapse's ERROR_CODE 404, not the body's 900906.
  'faulty-resource-not-found-body-code-900906': ['apim:faulty', 'OTHER', 404, 'RESOURCE_NOT_FOUND'],
  'faulty-adapter-unavailable': ['apim:faulty', 'OTHER', 503, 'UNCLASSIFIED'],
  // 900900 is in WSO2's AUTH range (SynapseAnalyticsDataProvider.getFaultType): API_AUTH_GENERAL_ERROR.
  'faulty-key-manager-unavailable': ['apim:faulty', 'AUTH', 900900, 'AUTHENTICATION_FAILURE'],
  // 700700 is in no range: OTHER, and not 404/405, so UNCLASSIFIED.
  'faulty-api-blocked-lifecycle': ['apim:faulty', 'OTHER', 700700, 'UNCLASSIFIED'],
  'skipped-no-api-matched': [null],
};

// WSO2's field set (apim-analytics-publisher response schema after the ELK builder).
const RESPONSE_FIELDS = [
  'requestTimestamp',
  'correlationId',
  'keyType',
  'apiId',
  'apiType',
  'apiName',
  'apiVersion',
  'apiCreator',
  'apiCreatorTenantDomain',
  'apiMethod',
  'apiContext',
  'apiResourceTemplate',
  'destination',
  'applicationId',
  'applicationName',
  'applicationOwner',
  'regionId',
  'gatewayType',
  'userAgent',
  'platform',
  'userName',
  'userIp',
  'proxyResponseCode',
  'targetResponseCode',
  'responseCacheHit',
  'responseLatency',
  'backendLatency',
  'requestMediationLatency',
  'responseMediationLatency',
  'properties',
].sort();
// GenericInputValidator's ELK_ERROR attributes: ELKMetricEventBuilder keeps exactly these.
const FAULTY_FIELDS = [
  'requestTimestamp',
  'correlationId',
  'keyType',
  'errorType',
  'errorCode',
  'errorMessage',
  'apiId',
  'apiType',
  'apiName',
  'apiVersion',
  'apiCreator',
  'apiCreatorTenantDomain',
  'applicationId',
  'applicationName',
  'applicationOwner',
  'regionId',
  'gatewayType',
  'proxyResponseCode',
  'targetResponseCode',
  'properties',
].sort();
const INT_FIELDS = [
  'proxyResponseCode',
  'targetResponseCode',
  'responseLatency',
  'backendLatency',
  'requestMediationLatency',
  'responseMediationLatency',
];

describe('request-attributes -> WSO2 analytics mapping', () => {
  it('every case is a valid request-attributes event and has an expectation', () => {
    expect(Object.keys(expected).sort()).toEqual(Object.keys(cases).sort());
    for (const ev of Object.values(cases)) RequestAttributes.parse(ev);
  });

  for (const [name, [metric, errorType, errorCode, errorMessage]] of Object.entries(expected)) {
    it(`${name} -> ${metric ?? 'skipped'}${errorMessage ? ` ${errorType}/${errorMessage}` : ''}`, () => {
      const m = toAnalytics(cases[name]!);
      expect(m.metric).toBe(metric);
      if (m.metric === null) return;
      const keys = Object.keys(m.data).sort();
      if (m.metric === 'apim:response') {
        expect(keys).toEqual(RESPONSE_FIELDS);
        ApimResponseEvent.parse(m.data);
        for (const f of INT_FIELDS)
          expect(Number.isInteger((m.data as Record<string, unknown>)[f]), f).toBe(true);
        expect(typeof m.data.responseCacheHit).toBe('boolean');
      } else {
        expect(keys).toEqual(FAULTY_FIELDS);
        ApimFaultyEvent.parse(m.data);
        expect([m.data.errorType, m.data.errorCode, m.data.errorMessage]).toEqual([
          errorType,
          errorCode,
          errorMessage,
        ]);
        expect(m.data.targetResponseCode).toBe(-1);
        // AuthFaultDataCollector: an AUTH fault names the application (and key type) UNKNOWN.
        if (m.data.errorType === 'AUTH') {
          expect(m.data).toMatchObject({
            applicationId: 'UNKNOWN',
            applicationName: 'UNKNOWN',
            applicationOwner: 'UNKNOWN',
            keyType: 'UNKNOWN',
          });
          expect(m.data.properties).not.toHaveProperty('userName');
        }
      }
      // SynapseAnalyticsDataProvider.getProperties: exactly these (userName only when known).
      const props = m.data.properties;
      expect(
        Object.keys(props)
          .filter((k) => k !== 'userName')
          .sort(),
      ).toEqual(['apiContext', 'responseContentType', 'responseSize'].sort());
      expect(Number.isInteger(props.responseSize)).toBe(true);
      expect(m.data).not.toHaveProperty('userAgentHeader');
      expect(m.data.correlationId).toBe(cases[name]!.requestId);
    });
  }

  it('a served request carries the API, application, parsed user agent and latencies', () => {
    const m = toAnalytics(cases['response-served']!);
    expect(m.metric === 'apim:response' && m.data).toMatchObject({
      requestTimestamp: '2026-11-26T04:00:00.000Z',
      keyType: 'PRODUCTION',
      apiName: 'PetStore',
      apiContext: '/petstore/1.0.0',
      apiResourceTemplate: '/pets/{petId}',
      apiMethod: 'GET',
      applicationName: 'ShopApp',
      userName: 'alice@carbon.super',
      userAgent: 'Chrome',
      platform: 'Mac OS X',
      proxyResponseCode: 200,
      targetResponseCode: 200,
      responseLatency: 35,
      backendLatency: 30,
      requestMediationLatency: 5,
      responseMediationLatency: 0,
      gatewayType: 'ENVOY',
      regionId: 'default',
      destination: 'petstore.shop.svc.cluster.local:8080',
      properties: {
        userName: 'alice@carbon.super',
        apiContext: '/petstore/1.0.0',
        responseSize: 512,
        responseContentType: 'UNKNOWN',
      },
    });
  });

  it('unknown values use WSO2 placeholders: UNKNOWN, -1, anonymous', () => {
    const noLog = toAnalytics(cases['response-check-only-no-access-log']!);
    expect(noLog.metric === 'apim:response' && noLog.data).toMatchObject({
      proxyResponseCode: 200,
      targetResponseCode: -1,
      responseLatency: -1,
      backendLatency: -1,
      requestMediationLatency: -1,
      destination: 'UNKNOWN',
    });
    const anon = toAnalytics(cases['response-anonymous-open-api']!);
    expect(anon.metric === 'apim:response' && anon.data).toMatchObject({
      applicationId: 'anonymous',
      applicationName: 'anonymous',
      applicationOwner: 'anonymous',
      userName: 'anonymous',
      keyType: 'UNKNOWN',
    });
    const noUa = toAnalytics(cases['response-no-user-agent']!);
    expect(noUa.metric === 'apim:response' && noUa.data).toMatchObject({
      userAgent: 'UNKNOWN',
      platform: 'UNKNOWN',
      userIp: 'UNKNOWN',
    });
    const authFail = toAnalytics(cases['faulty-auth-invalid-credentials']!);
    expect(authFail.metric === 'apim:faulty' && authFail.data).toMatchObject({
      applicationId: 'UNKNOWN',
      proxyResponseCode: 401,
      targetResponseCode: -1,
      // Check-time fault: no response, so WSO2's responseSize 0 and responseContentType UNKNOWN.
      properties: { apiContext: '/petstore/1.0.0', responseSize: 0, responseContentType: 'UNKNOWN' },
    });
  });

  it('a throttled fault keeps the authenticated application and user (ThrottledFaultDataCollector)', () => {
    const m = toAnalytics(cases['faulty-throttled-subscription']!);
    expect(m.metric === 'apim:faulty' && m.data).toMatchObject({
      applicationId: 'app-uuid-1',
      applicationName: 'ShopApp',
      applicationOwner: 'alice',
      keyType: 'PRODUCTION',
      properties: { userName: 'alice@carbon.super', apiContext: '/petstore/1.0.0', responseSize: 0 },
    });
  });

  it('requestTimestamp is UTC ISO-8601 whatever offset the event was stamped with', () => {
    const ev = structuredClone(cases['response-served']!);
    ev.receivedAt = '2026-11-26T06:00:00.5+02:00';
    const m = toAnalytics(ev);
    expect(m.metric !== null && m.data.requestTimestamp).toBe('2026-11-26T04:00:00.500Z');
  });

  it('the response content type Envoy logged lands in properties.responseContentType', () => {
    const ev = structuredClone(cases['response-served']!);
    ev.response = { ...ev.response!, contentType: 'application/json; charset=utf-8' };
    const m = toAnalytics(ev);
    expect(m.metric === 'apim:response' && m.data.properties.responseContentType).toBe(
      'application/json; charset=utf-8',
    );
  });

  it('analytics topic events are deterministic (a replay produces identical events) and valid', () => {
    for (const ev of Object.values(cases)) {
      const a = toAnalyticsEvent(ev);
      const b = toAnalyticsEvent(structuredClone(ev));
      expect(a).toEqual(b);
      if (!('skip' in a)) {
        AnalyticsEvent.parse(a);
        expect(a.eventId).toBe(`analytics:${ev.eventId}`);
      }
    }
  });

  it('the Lambda-shaped samples on disk are the generated ones (node --import tsx functions/analytics-publisher/samples.ts)', () => {
    const generated = lambdaSamples();
    expect(readdirSync(SAMPLES_DIR).sort()).toEqual(Object.keys(generated).sort());
    for (const [file, ev] of Object.entries(generated)) {
      expect(JSON.parse(readFileSync(path.join(SAMPLES_DIR, file), 'utf8')), file).toEqual(ev);
    }
  });
});

describe('the request-attributes samples of events/samples/ (emitter-made)', () => {
  const dir = path.join(SAMPLES_DIR, '..', '..', 'request-attributes');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  it('exist', () => expect(files.length).toBeGreaterThan(0));
  for (const f of files) {
    it(`${f} maps to a valid WSO2 analytics event (or a documented skip)`, () => {
      const ev = RequestAttributes.parse(JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
      const a = toAnalyticsEvent(ev);
      if ('skip' in a) {
        expect(ev.decision.kind).toBe('not-found');
        return;
      }
      AnalyticsEvent.parse(a);
      expect(a.metric).toBe(ev.decision.kind === 'allow' ? a.metric : 'apim:faulty');
      if (ev.decision.kind === 'rate-limited' && a.metric === 'apim:faulty')
        expect(a.data.errorType).toBe('THROTTLED');
      if (['unauthenticated', 'forbidden'].includes(ev.decision.kind) && a.metric === 'apim:faulty')
        expect(a.data.errorType).toBe('AUTH');
    });
  }
});
