/** startAdapter composition: failure modes, the onCheck observer, health service, admin HTTP. */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckClient } from '../../adapter/check-client.ts';
import type { CheckRecord } from '../../adapter/check-record.ts';
import { decide } from '../../adapter/policy/decide.ts';
import { accessLogService } from '../../adapter/proto.ts';
import type { SnapshotSource } from '../../adapter/snapshot/source.ts';
import { RequestContext } from '../../events/request-attributes.ts';
import { startTestAdapter, type TestAdapter, TRANSPORTS } from '../support/adapter.ts';
import { signRs256, wso2Claims } from '../support/keys.ts';

const require = createRequire(import.meta.url);

function healthClient(port: number) {
  const { protoPath } = require('grpc-health-check') as { protoPath: string };
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const client = new pkg.grpc.health.v1.Health(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as grpc.Client & {
    Check: (
      req: { service: string },
      cb: (err: grpc.ServiceError | null, res: { status: string }) => void,
    ) => void;
  };
  return {
    check: (service: string) =>
      new Promise<string>((resolve, reject) =>
        client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))),
      ),
    close: () => client.close(),
  };
}

async function text(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe.each(TRANSPORTS)('startAdapter (%s transport)', (transport) => {
  let t: TestAdapter | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('fails closed on an internal error: 503, counted', async () => {
    t = await startTestAdapter({
      transport,
      deps: {
        decide: () => {
          throw new Error('injected');
        },
      },
    });
    const res = await t.client.check({
      path: '/petstore/v1/pets',
      headers: { apikey: await t.apiKey('demo-app') },
    });
    expect(res.allowed).toBe(false);
    expect(res.httpStatus).toBe(503);
    expect(res.body?.code).toBe('900900');
    const metrics = await text(t.adapter.adminPort, '/metrics');
    expect(metrics.body).toMatch(/mesh_apim_check_internal_errors_total\{stage="decide"\} 1/);
    expect(metrics.body).toMatch(
      /mesh_apim_checks_total\{decision="unavailable",api="none",code="900900"\} 1/,
    );
  });

  it('fails open when configured: allowed, but identity headers and the key are still stripped', async () => {
    t = await startTestAdapter({
      transport,
      overrides: { 'adapter.failureMode': 'open' },
      deps: {
        decide: () => {
          throw new Error('injected');
        },
      },
    });
    const res = await t.client.check({
      path: '/petstore/v1/pets?apikey=x',
      headers: { apikey: 'x', 'x-mesh-apim-application-id': 'forged' },
    });
    expect(res.allowed).toBe(true);
    expect(res.headers['x-mesh-apim-application-id']).toBeUndefined();
    expect(res.headersToRemove).toEqual(expect.arrayContaining(['x-mesh-apim-application-id', 'apikey']));
    expect(res.queryParamsToRemove).toEqual(['apikey']);
  });

  it('calls onCheck with a record whose context is a valid RequestContext; a throwing observer does not break the check', async () => {
    const records: CheckRecord[] = [];
    t = await startTestAdapter({ transport, deps: { onCheck: (r) => records.push(r) } });
    const key = await t.apiKey('demo-app');
    await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } });
    await t.client.check({ path: '/petstore/v1/pets' });
    expect(records.map((r) => r.decision.kind)).toEqual(['allow', 'unauthenticated']);
    for (const r of records) RequestContext.parse(r.context);
    expect(records[1]!.context.decision).toMatchObject({ code: 900902, httpStatus: 401 });
    expect(records[0]!.timings.totalMs).toBeGreaterThanOrEqual(0);

    t.adapter.check.setObserver(() => {
      throw new Error('observer bug');
    });
    const res = await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } });
    expect(res.allowed).toBe(true);
    expect((await text(t.adapter.adminPort, '/metrics')).body).toMatch(
      /mesh_apim_check_observer_errors_total 1/,
    );
  });

  it('serves grpc.health.v1 and the admin endpoints', async () => {
    t = await startTestAdapter({ transport });
    const health = healthClient(t.adapter.grpcPort);
    try {
      expect(await health.check('')).toBe('SERVING');
      expect(await health.check('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    } finally {
      health.close();
    }
    expect(await text(t.adapter.adminPort, '/healthz')).toMatchObject({ status: 200 });
    const ready = await text(t.adapter.adminPort, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({
      ready: true,
      snapshot: { source: 'standalone', apis: 1 },
    });
    await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: await t.apiKey('demo-app') } });
    const metrics = (await text(t.adapter.adminPort, '/metrics')).body;
    expect(metrics).toMatch(/mesh_apim_checks_total\{decision="allow",api="petstore-v1",code="0"\} 1/);
    expect(metrics).toMatch(/mesh_apim_check_duration_seconds_bucket\{le="0.1",decision="allow"\} 1/);
    expect(metrics).toMatch(/mesh_apim_snapshot_reloads_total\{source="standalone",result="ok"\} 1/);
    expect((await text(t.adapter.adminPort, '/nope')).status).toBe(404);
  });

  it('is not ready (and fails closed) while no snapshot could be loaded', async () => {
    const broken: SnapshotSource = {
      name: 'broken',
      load: async () => {
        throw new Error('control plane unreachable');
      },
    };
    t = await startTestAdapter({ transport, deps: { source: broken } });
    expect(t.adapter.initialLoad.status).toBe('failed');
    const ready = await text(t.adapter.adminPort, '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ ready: false, lastError: 'control plane unreachable' });
    const health = healthClient(t.adapter.grpcPort);
    try {
      expect(await health.check('')).toBe('NOT_SERVING');
    } finally {
      health.close();
    }
    const res = await t.client.check({ path: '/petstore/v1/pets' });
    expect(res.httpStatus).toBe(503);
    expect((await text(t.adapter.adminPort, '/metrics')).body).toMatch(
      /mesh_apim_snapshot_failures_total\{source="broken"\} 1/,
    );
  });

  it('registers extra gRPC services before start (e.g. the access-log service)', async () => {
    const received: unknown[] = [];
    t = await startTestAdapter({
      transport,
      deps: {
        registerServices: ({ server }) =>
          server.addService(accessLogService().service, {
            StreamAccessLogs: (
              call: grpc.ServerReadableStream<unknown, unknown>,
              cb: grpc.sendUnaryData<unknown>,
            ) => {
              call.on('data', (m) => received.push(m));
              call.on('end', () => cb(null, {}));
            },
          }),
      },
    });
    const Ctor = accessLogService();
    const client = new Ctor(
      `127.0.0.1:${t.adapter.grpcPort}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & {
      StreamAccessLogs: (cb: (err: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<unknown>;
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const call = client.StreamAccessLogs((err) => (err ? reject(err) : resolve()));
        call.write({ identifier: { log_name: 'test' } });
        call.end();
      });
    } finally {
      client.close();
    }
    expect(received).toHaveLength(1);
    expect(() => t!.adapter.server.addService(Ctor.service, {})).toThrow(/before start/);
  });

  // wso2/carbon-apimgt DefaultApiKeyGenerator leaves exp out for validity -1; ApiKeyAuthenticator accepts.
  it('accepts keys without exp by default; adapter.apiKeyAllowNoExpiry=false requires exp', async () => {
    t = await startTestAdapter({ transport });
    const sk = t.adapter.signingKey!;
    const token = await signRs256(sk.privateKey, sk.kid, wso2Claims(t.clock.now(), { exp: undefined }));
    expect((await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: token } })).allowed).toBe(
      true,
    );
    await t.close();
    t = await startTestAdapter({ transport, overrides: { 'adapter.apiKeyAllowNoExpiry': false } });
    const sk2 = t.adapter.signingKey!;
    const strict = await signRs256(sk2.privateKey, sk2.kid, wso2Claims(t.clock.now(), { exp: undefined }));
    const res = await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: strict } });
    expect(res.httpStatus).toBe(401);
    expect(res.body?.code).toBe('900901');
  });

  it('adapter.xffTrustedHops picks the client address from X-Forwarded-For', async () => {
    t = await startTestAdapter({ transport, overrides: { 'adapter.xffTrustedHops': 1 } });
    const key = await t.apiKey('demo-app', { permittedIP: '198.51.100.7' });
    const res = await t.client.check({
      path: '/petstore/v1/pets',
      headers: { apikey: key, 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 192.0.2.5' },
      clientIp: '10.244.0.17',
    });
    expect(res.allowed).toBe(true);
    expect(RequestContext.parse(res.requestContext).client.ip).toBe('198.51.100.7');
  });

  it('two adapters in one process keep separate metrics', async () => {
    t = await startTestAdapter({ transport });
    const other = await startTestAdapter({ transport });
    try {
      await other.client.check({ path: '/petstore/v1/pets' });
      expect((await text(t.adapter.adminPort, '/metrics')).body).not.toMatch(/mesh_apim_checks_total\{/);
      expect((await text(other.adapter.adminPort, '/metrics')).body).toMatch(/mesh_apim_checks_total\{/);
    } finally {
      await other.close();
    }
  });
});

describe('CheckService.evaluateWith', () => {
  let t: TestAdapter | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  const kinds = { respond: (d: { kind: string }) => d.kind, failed: () => 'failed' };

  it('a cached key is checked synchronously (no promise); the first check of a key waits for RS256', async () => {
    t = await startTestAdapter({ transport: 'http2' });
    const proto = CheckClient.request({
      path: '/petstore/v1/pets',
      headers: { apikey: await t.apiKey('demo-app') },
    });
    const first = t.adapter.check.evaluateWith(proto, kinds);
    expect(first).toBeInstanceOf(Promise);
    expect((await first).response).toBe('allow');
    const second = t.adapter.check.evaluateWith(proto, kinds);
    expect(second).not.toBeInstanceOf(Promise);
    expect((second as Awaited<typeof second>).response).toBe('allow');
    expect((second as Awaited<typeof second>).record?.decision.kind).toBe('allow');
  });

  it('an internal error on the synchronous path fails closed too, counted, and does not throw', async () => {
    let inject = false;
    t = await startTestAdapter({
      transport: 'http2',
      deps: {
        decide: (input, snapshot, clock, state) => {
          if (inject) throw new Error('injected');
          return decide(input, snapshot, clock, state);
        },
      },
    });
    const proto = CheckClient.request({
      path: '/petstore/v1/pets',
      headers: { apikey: await t.apiKey('demo-app') },
    });
    expect((await t.adapter.check.evaluateWith(proto, kinds)).response).toBe('allow');
    inject = true;
    const r = t.adapter.check.evaluateWith(proto, kinds);
    expect(r).not.toBeInstanceOf(Promise);
    expect((r as Awaited<typeof r>).response).toBe('unavailable');
    const metrics = await text(t.adapter.adminPort, '/metrics');
    expect(metrics.body).toMatch(/mesh_apim_check_internal_errors_total\{stage="decide"\} 1/);
  });
});
