/**
 * The access-log client stream (envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs) on
 * both transports: a real grpc-js ALS client streams batches, the allowed request's entry becomes
 * an access-log event; on http2 a stream still open when the adapter stops is ended by the server
 * (its entries processed, the stream answered OK), so draining does not wait on Envoy.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { accessLogService } from '../../../adapter/proto.ts';
import { MemoryBus } from '../../../bus/memory.ts';
import type { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { startTestAdapter, type TestAdapter, TRANSPORTS } from '../../support/adapter.ts';
import { envoyEntry, streamAccessLogs } from '../als/fixtures.ts';

const TOPIC = TOPICS.requestAttributes.name;
let adapters: TestAdapter[] = [];
afterEach(async () => {
  for (const a of adapters) await a.close();
  adapters = [];
});

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.each(TRANSPORTS)('access-log stream (%s transport)', (transport) => {
  async function start(bus: MemoryBus) {
    const t = await startTestAdapter({
      transport,
      deps: { bus },
      overrides: { 'emitter.lingerMs': 1, 'emitter.stopTimeoutMs': 200 },
    });
    adapters.push(t);
    return t;
  }

  it('entries of several batches on one stream become access-log events', async () => {
    const bus = new MemoryBus();
    const t = await start(bus);
    const key = await t.apiKey('demo-app');
    const ids = ['als-1', 'als-2', 'als-3'];
    const contexts: string[] = [];
    for (const id of ids) {
      const r = await t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key }, requestId: id });
      contexts.push(r.dynamicMetadata.mesh_apim as string);
    }
    await streamAccessLogs(`127.0.0.1:${t.adapter.grpcPort}`, [
      [envoyEntry({ requestId: 'als-1', context: contexts[0]!, status: 200 })],
      [
        envoyEntry({ requestId: 'als-2', context: contexts[1]!, status: 201 }),
        envoyEntry({ requestId: 'als-3', context: contexts[2]!, status: 503 }),
      ],
    ]);
    await until(() => bus.records(TOPIC).length === 3, 'three access-log events');
    const events = bus.records(TOPIC).map((r) => JSON.parse(r.value!.toString()) as RequestAttributes);
    expect(events.map((e) => [e.requestId, e.source, e.response?.status])).toEqual([
      ['als-1', 'access-log', 200],
      ['als-2', 'access-log', 201],
      ['als-3', 'access-log', 503],
    ]);
  });

  it.runIf(transport === 'http2')(
    'stop() ends an open ALS stream after processing what it sent',
    async () => {
      const bus = new MemoryBus();
      const t = await start(bus);
      const key = await t.apiKey('demo-app');
      const r = await t.client.check({
        path: '/petstore/v1/pets',
        headers: { apikey: key },
        requestId: 'open-1',
      });
      const Ctor = accessLogService();
      const client = new Ctor(
        `127.0.0.1:${t.adapter.grpcPort}`,
        grpc.credentials.createInsecure(),
      ) as unknown as grpc.Client & {
        StreamAccessLogs(cb: (err: grpc.ServiceError | null) => void): grpc.ClientWritableStream<unknown>;
      };
      const answered = new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.StreamAccessLogs((err) => resolve(err));
        call.write({
          identifier: { node: { id: 'sidecar~10.1.4.9~petstore' }, log_name: 'als' },
          http_logs: {
            log_entry: [envoyEntry({ requestId: 'open-1', context: r.dynamicMetadata.mesh_apim as string })],
          },
        });
        // never ended by the client
      });
      await new Promise((res) => setTimeout(res, 100));
      await t.adapter.stop();
      expect(await answered).toBeNull();
      client.close();
      expect(bus.records(TOPIC).map((x) => JSON.parse(x.value!.toString()).requestId)).toEqual(['open-1']);
    },
  );
});
