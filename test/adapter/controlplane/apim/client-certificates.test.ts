/**
 * Mutual TLS for APIs from WSO2 API Manager (adapter.controlPlane: apim), end to end: the internal
 * data API (fake, spec-validated) says which APIs enable mutualssl; their client certificates come
 * from the Publisher REST API v4 (fake, every request validated against publisher-api-v4.yaml, and
 * token scopes enforced as APIM does). Certificates are openssl-made (test/support/client-certs.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientCertificateFetcher,
  certificatePem,
  usesMutualTls,
} from '../../../../adapter/controlplane/apim/client-certificates.ts';
import { refreshControlPlane } from '../../../../adapter/controlplane/apim/source.ts';
import { PublisherClient } from '../../../../apim/publisher-client.ts';
import { ManualClock, startTestAdapter, type TestAdapter } from '../../../support/adapter.ts';
import { type ClientCert, selfSignedClientCert, urlEncodedPem } from '../../../support/client-certs.ts';
import {
  FakeApim as FakeInternalData,
  sampleApimData,
} from '../../../support/fakes/fake-apim-internal-data.ts';
import { FakeApim as FakePublisher } from '../../../support/fakes/fake-apim-publisher.ts';
import { hasOpenssl } from '../../../support/openssl.ts';
import { assertValid } from '../../../support/wso2-contract.ts';

// What the client used to assume when not told (the values of apim.requestTimeoutMs / autoCreator.*).
const CLIENT_SETTINGS = {
  clientName: 'mesh-apim-api-auto-creator',
  timeoutMs: 10_000,
  maxAttempts: 4,
  retryBaseMs: 200,
};

const MTLS_UUID = 'a1b2c3d4-0000-4000-8000-0000000000a1';
const PET_UUID = 'a1b2c3d4-0000-4000-8000-000000000001';

describe.skipIf(!hasOpenssl)('client certificates from the Publisher API (control plane apim)', () => {
  let internal: FakeInternalData;
  let publisher: FakePublisher;
  let gold: ClientCert;
  let sameCn: ClientCert;
  let dir: string;
  let t: TestAdapter;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'apim-certs-'));
    gold = selfSignedClientCert(dir, 'gold', 'gold-client');
    // Same subject, different key: must not pass for the uploaded one.
    sameCn = selfSignedClientCert(dir, 'forged', 'gold-client');
    internal = await new FakeInternalData().start();
    const data = sampleApimData();
    const pet = data.apis[0]!;
    data.apis.push({
      ...pet,
      uuid: MTLS_UUID,
      apiId: 77,
      name: 'Secure',
      context: '/secure/v1',
      securityScheme: ['mutualssl', 'mutualssl_mandatory'],
    });
    internal.data = data;
    publisher = new FakePublisher(async (req) => {
      await assertValid('publisher', req);
    });
    await publisher.start();
    publisher.addApiWithCertificates(MTLS_UUID, [{ alias: 'gold-client', tier: 'Gold', pem: gold.pem }]);
    t = await startTestAdapter({
      clock: new ManualClock(gold.notBefore + 60_000),
      overrides: {
        dataDir: dir,
        'adapter.controlPlane': 'apim',
        'apim.url': internal.url,
        'apim.publisherUrl': publisher.url,
        'apim.username': 'admin',
        'apim.password': 'admin',
        'apim.refreshIntervalMs': 3_600_000,
        'apim.requestTimeoutMs': 3_000,
      },
    });
  });
  afterEach(() => {
    expect(publisher.violations).toEqual([]);
    expect(internal.violations).toEqual([]);
  });
  afterAll(async () => {
    await t?.close();
    await publisher?.stop();
    await internal?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (cert: ClientCert | null) =>
    t.client.check({
      path: '/secure/v1/pets',
      ...(cert ? { peerCertificate: urlEncodedPem(cert.pem) } : {}),
    });

  it('the uploaded certificate is accepted with its Publisher tier; others are refused 900911', async () => {
    const ok = await call(gold);
    expect(ok.allowed).toBe(true);
    expect(ok.headers['x-mesh-apim-user']).toBe('gold-client');
    expect(ok.headers['x-mesh-apim-subscription-tier']).toBe('Gold');
    for (const c of [sameCn, null]) {
      const res = await call(c);
      expect(res.httpStatus).toBe(401);
      expect(res.body?.code).toBe('900911');
    }
  });

  it('asks the Publisher only about the mutualssl API, with a token for apim:client_certificates_view', async () => {
    const paths = publisher.log.map((l) => `${l.method} ${l.path.replace(/\?.*$/, '')}`);
    expect(paths).toContain(`GET /api/am/publisher/v4/apis/${MTLS_UUID}/client-certificates`);
    expect(paths).toContain(
      `GET /api/am/publisher/v4/apis/${MTLS_UUID}/client-certificates/gold-client/content`,
    );
    expect(paths.some((p) => p.includes(PET_UUID))).toBe(false);
    expect(publisher.log.every((l) => l.status < 400)).toBe(true);
  });

  it('a failed fetch keeps the API fail-closed (900911), is counted, and the pull still succeeds', async () => {
    publisher.fail('GET', /\/client-certificates$/, 500, 10);
    const result = await refreshControlPlane(t.adapter.store);
    expect(result.status).not.toBe('failed');
    const res = await call(gold);
    expect(res.httpStatus).toBe(401);
    expect(res.body?.code).toBe('900911');
    const metric = await t.adapter.metrics.registry
      .getSingleMetric('mesh_apim_client_certificate_fetch_failures_total')!
      .get();
    expect(metric.values.find((v) => v.labels.reason === 'request')?.value).toBeGreaterThanOrEqual(1);
    // The rest of the snapshot is current: PetStore is still known (401 for no credential, not 404).
    const pet = await t.client.check({ path: '/petstore/v1/pets' });
    expect(pet.httpStatus).toBe(401);
    // API Manager answers again: the next pull restores the certificate.
    publisher.clearFaults();
    await refreshControlPlane(t.adapter.store);
    expect((await call(gold)).allowed).toBe(true);
  });
});

describe('the Publisher client-certificate requests against the spec', () => {
  let publisher: FakePublisher;
  afterEach(async () => {
    await publisher?.stop();
  });

  it('the fake rejects a request the spec does not allow, so the contract check cannot pass vacuously', async () => {
    publisher = new FakePublisher(async (req) => {
      await assertValid('publisher', req);
    });
    await publisher.start();
    publisher.addApiWithCertificates(MTLS_UUID, []);
    const client = new PublisherClient({
      ...CLIENT_SETTINGS,
      baseUrl: publisher.url,
      username: 'admin',
      password: 'admin',
      scopes: ['apim:client_certificates_view'],
      maxAttempts: 1,
    });
    await expect(
      client.call('bad', 'GET', `/apis/${MTLS_UUID}/client-certificates`, { params: { limit: 'many' } }),
    ).rejects.toThrow();
    expect(publisher.violations.length).toBe(1);
    publisher.violations.length = 0;
    expect(await client.listClientCertificates(MTLS_UUID)).toEqual([]);
    expect(publisher.violations).toEqual([]);
  });

  it('lists every page (limit/offset) of a long certificate list', async () => {
    publisher = new FakePublisher(async (req) => {
      await assertValid('publisher', req);
    });
    await publisher.start();
    publisher.addApiWithCertificates(
      MTLS_UUID,
      Array.from({ length: 130 }, (_, i) => ({ alias: `c${i}`, tier: 'Gold', pem: 'unused' })),
    );
    const client = new PublisherClient({
      ...CLIENT_SETTINGS,
      baseUrl: publisher.url,
      username: 'admin',
      password: 'admin',
    });
    const list = await client.listClientCertificates(MTLS_UUID);
    expect(list.map((c) => c.alias)).toEqual(Array.from({ length: 130 }, (_, i) => `c${i}`));
    expect(publisher.log.filter((l) => l.path.includes('/client-certificates')).map((l) => l.path)).toEqual([
      `/api/am/publisher/v4/apis/${MTLS_UUID}/client-certificates?limit=100&offset=0`,
      `/api/am/publisher/v4/apis/${MTLS_UUID}/client-certificates?limit=100&offset=100`,
    ]);
    expect(publisher.violations).toEqual([]);
  });

  it('a token without a client-certificate scope is refused (403), as APIM does', async () => {
    publisher = new FakePublisher(null);
    await publisher.start();
    publisher.addApiWithCertificates(MTLS_UUID, []);
    const client = new PublisherClient({
      ...CLIENT_SETTINGS,
      baseUrl: publisher.url,
      username: 'admin',
      password: 'admin',
      scopes: ['apim:api_create'],
      maxAttempts: 1,
    });
    await expect(client.listClientCertificates(MTLS_UUID)).rejects.toMatchObject({ status: 403 });
  });
});

describe.skipIf(!hasOpenssl)('ClientCertificateFetcher', () => {
  it('only mutualssl APIs are fetched; one unusable upload is left out and counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apim-certs-unit-'));
    const good = selfSignedClientCert(dir, 'good', 'good');
    const asked: string[] = [];
    const failures: string[] = [];
    const fetcher = new ClientCertificateFetcher({
      listClientCertificates: async (id) => {
        asked.push(id);
        return [
          { alias: 'good', tier: 'Gold' },
          { alias: 'garbage', tier: 'Gold' },
        ];
      },
      getClientCertificateContent: async (_id, alias) =>
        Buffer.from(alias === 'good' ? good.pem : 'not a certificate'),
    });
    fetcher.onFailure = (r) => failures.push(r);
    const base = { apiId: 1, name: 'a', version: 'v1', context: '/a/v1' };
    const out = await fetcher.fetch([
      { ...base, uuid: 'plain', securityScheme: ['oauth2'] },
      { ...base, uuid: 'm', securityScheme: ['mutualssl'] },
    ]);
    expect(asked).toEqual(['m']);
    expect(Object.keys(out)).toEqual(['m']);
    expect(out.m!.map((c) => c.alias)).toEqual(['good']);
    expect(failures).toEqual(['bad_certificate']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a Publisher error for one API: no entry for it (fail closed), counted and logged; others kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apim-certs-fail-'));
    const good = selfSignedClientCert(dir, 'good', 'good');
    const logged: unknown[] = [];
    const failures: string[] = [];
    const fetcher = new ClientCertificateFetcher(
      {
        listClientCertificates: async (id) => {
          if (id === 'down') throw new Error('list client certificates: HTTP 500');
          return [{ alias: 'good', tier: 'Gold' }];
        },
        getClientCertificateContent: async () => Buffer.from(good.pem),
      },
      { error: (obj: unknown) => void logged.push(obj) } as never,
    );
    fetcher.onFailure = (r) => failures.push(r);
    const base = { apiId: 1, name: 'a', version: 'v1', context: '/a/v1', securityScheme: ['mutualssl'] };
    const out = await fetcher.fetch([
      { ...base, uuid: 'down' },
      { ...base, uuid: 'up' },
    ]);
    expect(Object.keys(out)).toEqual(['up']);
    expect(failures).toEqual(['request']);
    expect(logged).toEqual([
      expect.objectContaining({ apiId: 'down', err: expect.stringContaining('HTTP 500') }),
    ]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('DER content is converted to PEM; mutualssl is recognised in every mode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'apim-certs-der-'));
    const c = selfSignedClientCert(dir, 'der', 'der');
    const der = Buffer.from(c.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    expect(certificatePem(der)).toContain('-----BEGIN CERTIFICATE-----');
    expect(usesMutualTls(['oauth2', 'mutualssl_optional'])).toBe(true);
    expect(usesMutualTls(['oauth2', 'api_key'])).toBe(false);
    expect(usesMutualTls(undefined)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});
