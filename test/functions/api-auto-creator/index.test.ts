import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { createLogger } from '../../../common/log.ts';
import type { ServiceDeleted, ServiceDeployed } from '../../../events/service-lifecycle.ts';
import { TOPICS } from '../../../events/topics.ts';
import { create } from '../../../functions/api-auto-creator/index.ts';
import {
  BatchRetryError,
  buildLambdaKafkaEvent,
  busDeps,
  type FunctionDeps,
  MemoryDeadLetterPublisher,
} from '../../../functions/lib/index.ts';
import { contractCheckedPublisherPerTest, type FakeApim } from '../../support/fakes/fake-apim-publisher.ts';

const openapi = {
  openapi: '3.0.3',
  info: { title: 'petstore', version: '1' },
  paths: {
    '/pets': {
      get: { responses: { '200': { description: 'ok' } } },
      post: { responses: { '201': { description: 'ok' } } },
    },
    '/health': { get: { security: [], responses: { '200': { description: 'ok' } } } },
  },
};

function deployed(endpoint: string, over: Partial<ServiceDeployed['api']> = {}, rv = '10'): ServiceDeployed {
  return {
    type: 'service-deployed',
    schemaVersion: 1,
    eventId: `e-${rv}`,
    occurredAt: '2026-11-26T04:00:00.000Z',
    idempotencyKey: `uid-7/${rv}`,
    service: {
      cluster: 'c1',
      namespace: 'shop',
      name: 'petstore',
      uid: 'uid-7',
      resourceVersion: rv,
      generation: null,
    },
    api: {
      name: 'petstore',
      version: 'v1',
      context: '/petstore',
      endpoint,
      openapi: { kind: 'service-path', path: '/openapi.json' },
      environments: ['Default'],
      tiers: ['Gold'],
      ...over,
    },
  };
}

const deleted = (rv = '11'): ServiceDeleted => ({
  type: 'service-deleted',
  schemaVersion: 1,
  eventId: `d-${rv}`,
  occurredAt: '2026-11-26T04:01:00.000Z',
  idempotencyKey: `uid-7/${rv}/deleted`,
  service: {
    cluster: 'c1',
    namespace: 'shop',
    name: 'petstore',
    uid: 'uid-7',
    resourceVersion: rv,
    generation: null,
  },
  api: { name: 'petstore', version: 'v1', context: '/petstore' },
});

/** Lambda-shaped event holding the given service-lifecycle events, as the trigger would deliver them. */
function lambdaEvent(events: unknown[], shape: 'msk' | 'self-managed' = 'self-managed') {
  return buildLambdaKafkaEvent(
    events.map((e, i) => ({
      topic: TOPICS.serviceLifecycle.name,
      partition: 0,
      offset: String(i),
      timestamp: Date.now(),
      key: Buffer.from('shop/petstore'),
      value: Buffer.from(typeof e === 'string' ? e : JSON.stringify(e)),
      headers: {},
    })),
    { shape },
  );
}

let service: Server;
let serviceUrl: string;
let served = JSON.stringify(openapi);
let dataDir: string;

beforeEach(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-autocreate-'));
  served = JSON.stringify(openapi);
  // The Service itself, serving its OpenAPI document (service-path source).
  service = createServer((req, res) => {
    if (req.url === '/openapi.json') res.writeHead(200, { 'content-type': 'application/json' }).end(served);
    else if (req.url === '/huge.json')
      res.writeHead(200).end(`{"openapi":"3.0.0","x":"${'a'.repeat(4096)}"}`);
    else if (req.url === '/slow.json') {
      // Never answers: the fetch must time out.
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
  serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
});
afterEach(async () => {
  service.closeAllConnections();
  await new Promise<void>((r) => service.close(() => r()));
  rmSync(dataDir, { recursive: true, force: true });
});

function deps(env: Record<string, string>): FunctionDeps & { deadLetters: MemoryDeadLetterPublisher } {
  const config = loadConfig({ env: { DATA_DIR: dataDir, ...env } });
  const base = busDeps(new MemoryBus(), config, createLogger('test'));
  return { ...base, deadLetters: new MemoryDeadLetterPublisher() };
}

describe('api-auto-creator handler, WSO2 API Manager target', () => {
  let apim: FakeApim;
  contractCheckedPublisherPerTest((a) => {
    apim = a;
  });
  const apimEnv = () => ({
    MESH_APIM_AUTO_CREATOR_TARGET: 'apim',
    APIM_URL: apim.url,
    MESH_APIM_APIM_USERNAME: 'admin',
    MESH_APIM_APIM_PASSWORD: 'admin',
    MESH_APIM_AUTO_CREATOR_RETRY_BASE_MS: '5',
  });

  it('fetches the OpenAPI from the service and publishes; the same event twice creates nothing twice (both Lambda shapes)', async () => {
    const d = deps(apimEnv());
    const { handler } = create(d);
    const ev = deployed(serviceUrl);
    const first = await handler(lambdaEvent([ev], 'msk'));
    expect(first.processed).toBe(1);
    const api = [...apim.apis.values()][0]!;
    expect(api.definition).toContain('/pets');
    expect(api.lifeCycleStatus).toBe('PUBLISHED');
    expect(api.policies).toEqual(['Gold']);
    apim.clearLog();
    const again = await handler(lambdaEvent([ev, ev]));
    expect(again.processed).toBe(2);
    expect(apim.mutations()).toEqual([]);
    expect(apim.apis.size).toBe(1);
  });

  it('APIM 400 -> the record is dead-lettered with the API Manager error body; the batch goes on', async () => {
    const d = deps(apimEnv());
    const { handler } = create(d);
    const body = {
      code: 900700,
      message: 'Invalid API context',
      description: 'context /petstore is reserved',
    };
    apim.fail('POST', /\/import-openapi$/, 400, 1, body);
    const summary = await handler(lambdaEvent([deployed(serviceUrl), 'not json', deleted()]));
    expect(summary.deadLettered).toBe(2);
    expect(summary.processed).toBe(1);
    const letter = d.deadLetters.letters.find((l) => l.error.stage === 'process')!;
    expect(letter).toMatchObject({
      consumer: 'api-auto-creator',
      error: { code: 'APIM_HTTP_400', details: { status: 400, body, operation: 'import openapi' } },
    });
    expect(d.deadLetters.letters.map((l) => l.error.stage).sort()).toEqual(['decode', 'process']);
  });

  it('APIM 500 beyond the retries fails the invocation (BatchRetryError) and nothing after it runs', async () => {
    const d = deps({ ...apimEnv(), MESH_APIM_AUTO_CREATOR_MAX_ATTEMPTS: '2' });
    const { handler } = create(d);
    apim.fail('GET', /\/apis$/, 500, 2);
    const err = await handler(lambdaEvent([deployed(serviceUrl), deleted()])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatchRetryError);
    expect((err as BatchRetryError).failures).toHaveLength(2);
    expect(d.deadLetters.letters).toEqual([]);
    // The redelivered batch succeeds (Lambda's retry): deploy, then delete, in order.
    const ok = await handler(lambdaEvent([deployed(serviceUrl), deleted()]));
    expect(ok.processed).toBe(2);
    expect([...apim.apis.values()][0]!.revisions[0]!.deploymentInfo).toEqual([]);
  });

  it('an OpenAPI document over the size limit or not OpenAPI is dead-lettered; an unreachable service is retried', async () => {
    const d = deps({ ...apimEnv(), MESH_APIM_AUTO_CREATOR_OPENAPI_MAX_BYTES: '1024' });
    const { handler } = create(d);
    const huge = deployed(serviceUrl, { openapi: { kind: 'service-path', path: '/huge.json' } });
    const notOas = deployed(serviceUrl, { openapi: { kind: 'inline', content: '{"hello":"world"}' } });
    const s = await handler(lambdaEvent([huge, notOas]));
    expect(s.deadLettered).toBe(2);
    expect(d.deadLetters.letters.map((l) => l.error.code)).toEqual(['OPENAPI_SOURCE', 'OPENAPI_SOURCE']);
    expect(d.deadLetters.letters[0]!.error.message).toMatch(/larger than 1024 bytes/);
    const down = deployed('http://127.0.0.1:1');
    await expect(handler(lambdaEvent([down]))).rejects.toBeInstanceOf(BatchRetryError);
    const slow = deps({ ...apimEnv(), MESH_APIM_AUTO_CREATOR_OPENAPI_TIMEOUT_MS: '100' });
    const timedOut = await create(slow)
      .handler(lambdaEvent([deployed(serviceUrl, { openapi: { kind: 'service-path', path: '/slow.json' } })]))
      .catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(BatchRetryError);
    expect(String((timedOut as BatchRetryError).failures[0]!.error)).toMatch(/slow\.json/);
    expect(apim.apis.size).toBe(0);
  });
});

describe('api-auto-creator handler, standalone target (default)', () => {
  it('writes one fragment per Service (resources from the OpenAPI paths), rewrites only on change, removes on delete', async () => {
    const d = deps({ MESH_APIM_AUTO_CREATOR_STANDALONE_SUBSCRIBERS: 'demo-app' });
    const { handler } = create(d);
    await handler(lambdaEvent([deployed(serviceUrl)]));
    const dir = path.join(dataDir, 'standalone.d');
    const [file] = readdirSync(dir);
    expect(file).toBe('svc.c1.shop.petstore.yaml');
    const text = readFileSync(path.join(dir, file!), 'utf8');
    expect(parseYaml(text)).toEqual({
      apis: [
        {
          id: 'petstore-v1',
          name: 'petstore',
          version: 'v1',
          context: '/petstore',
          lifecycle: 'PUBLISHED',
          securitySchemes: ['oauth2', 'api_key', 'oauth_basic_auth_api_key_mandatory'],
          apiKeyHeader: 'apikey',
          resources: [
            { method: 'GET', path: '/pets' },
            { method: 'POST', path: '/pets' },
            { method: 'GET', path: '/health', auth: 'none' },
          ],
        },
      ],
      subscriptions: [{ application: 'demo-app', api: 'petstore-v1', tier: 'Gold' }],
    });
    const mtime = (await import('node:fs')).statSync(path.join(dir, file!)).mtimeMs;
    await handler(lambdaEvent([deployed(serviceUrl)]));
    expect((await import('node:fs')).statSync(path.join(dir, file!)).mtimeMs).toBe(mtime);
    await handler(lambdaEvent([deleted(), deleted()]));
    expect(readdirSync(dir)).toEqual([]);
  });
});
