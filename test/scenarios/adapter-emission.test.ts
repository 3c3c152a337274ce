/**
 * The adapter with emission wired (startAdapter with a bus): a real gRPC ext_authz client and a
 * real ALS client stream against one server on port 0, events land on the in-memory bus.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory.ts';
import { type RequestAttributes, RequestContext } from '../../events/request-attributes.ts';
import { TOPICS } from '../../events/topics.ts';
import { envoyEntry, streamAccessLogs } from '../adapter/als/fixtures.ts';
import { until } from '../adapter/emit/helpers.ts';
import { startTestAdapter, type TestAdapter } from '../support/adapter.ts';

const TOPIC = TOPICS.requestAttributes.name;
let adapters: TestAdapter[] = [];
afterEach(async () => {
  for (const a of adapters) await a.close();
  adapters = [];
});

async function start(bus: MemoryBus, overrides: Record<string, unknown> = {}) {
  const t = await startTestAdapter({
    deps: { bus },
    overrides: {
      'emitter.lingerMs': 1,
      'emitter.stopTimeoutMs': 200,
      'emitter.produceTimeoutMs': 50,
      ...overrides,
    },
  });
  adapters.push(t);
  return t;
}

const events = (bus: MemoryBus) =>
  bus.records(TOPIC).map((r) => JSON.parse(r.value!.toString()) as RequestAttributes);

async function metric(t: TestAdapter, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await t.adapter.metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? [])
    .filter((v) =>
      Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
    )
    .reduce((n, v) => n + v.value, 0);
}

describe('adapter emission (access logs on)', () => {
  it('denials come from the check; allowed requests from the access log with response fields; denial duplicates dropped', async () => {
    const bus = new MemoryBus();
    const t = await start(bus);
    const key = await t.apiKey('demo-app');
    const allowed = await t.client.check({
      path: '/petstore/v1/pets',
      headers: { apikey: key },
      requestId: 'req-allow-1',
    });
    const denied = await t.client.check({ path: '/petstore/v1/pets', requestId: 'req-deny-1' });
    expect(allowed.allowed).toBe(true);
    expect(denied.httpStatus).toBe(401);
    await until(() => bus.records(TOPIC).length === 1, 'the denial event');
    // What Envoy forwards to the access log: the ext_authz dynamic metadata, only for the allowed one.
    const forwarded = allowed.dynamicMetadata.mesh_apim as string;
    expect(RequestContext.parse(JSON.parse(forwarded)).requestId).toBe('req-allow-1');
    await streamAccessLogs(`127.0.0.1:${t.adapter.grpcPort}`, [
      [envoyEntry({ requestId: 'req-allow-1', context: forwarded, status: 201 })],
      [envoyEntry({ requestId: 'req-deny-1', context: null, status: 401 })],
    ]);
    await until(() => bus.records(TOPIC).length === 2, 'the access-log event');
    const [deny, allow] = events(bus);
    expect(deny).toMatchObject({ source: 'check', requestId: 'req-deny-1', response: null });
    expect(deny!.decision.kind).toBe('unauthenticated');
    expect(allow).toMatchObject({ source: 'access-log', requestId: 'req-allow-1' });
    expect(allow!.application?.name).toBe('demo-app');
    expect(allow!.response).toMatchObject({ status: 201, latencyMs: 48, upstreamHost: '10.1.4.7:8080' });
    expect(bus.records(TOPIC).map((r) => r.key!.toString())).toEqual(['req-deny-1', 'req-allow-1']);
    expect(await metric(t, 'mesh_apim_als_entries_total', { outcome: 'no-context' })).toBe(1);
    expect(await metric(t, 'mesh_apim_als_entries_total', { outcome: 'emitted' })).toBe(1);
  });

  it('checks are answered while the bus hangs; their events wait in the spool and arrive after recovery', async () => {
    const bus = new MemoryBus();
    const produce = bus.produce.bind(bus);
    let hung = true;
    bus.produce = (topic, records) => (hung ? new Promise<void>(() => {}) : produce(topic, records));
    const t = await start(bus, { 'adapter.accessLogs': false });
    const key = await t.apiKey('demo-app');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key }, requestId: `req-${i}` }),
      ),
    );
    expect(answers.every((a) => a.allowed)).toBe(true);
    await until(() => t.adapter.emission!.emitter.spool.pending === 20, 'spooled');
    hung = false;
    await until(() => bus.records(TOPIC).length === 20, 'drained');
  });
});

describe('adapter emission (access logs off)', () => {
  it('every request is emitted from the check with response null; access-log entries are ignored', async () => {
    const bus = new MemoryBus();
    const t = await start(bus, { 'adapter.accessLogs': false });
    const key = await t.apiKey('demo-app');
    const allowed = await t.client.check({
      path: '/petstore/v1/pets',
      headers: { apikey: key },
      requestId: 'req-a',
    });
    await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: 'not-a-key' }, requestId: 'req-b' });
    await streamAccessLogs(`127.0.0.1:${t.adapter.grpcPort}`, [
      [envoyEntry({ requestId: 'req-a', context: allowed.dynamicMetadata.mesh_apim as string })],
    ]);
    expect(await metric(t, 'mesh_apim_als_entries_total', { outcome: 'mode-off' })).toBe(1);
    await t.adapter.stop(); // flushes the emitter
    const es = events(bus);
    expect(es.map((e) => [e.requestId, e.source, e.decision.kind, e.response])).toEqual([
      ['req-a', 'check', 'allow', null],
      ['req-b', 'check', 'unauthenticated', null],
    ]);
  });
});
