import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { accessLogHandlers, accessLogServiceDefinition } from '../../../adapter/als/service.ts';
import { requestContextJson } from '../../../adapter/emit/events.ts';
import { emissionPolicy } from '../../../adapter/emit/policy.ts';
import { accessLogService } from '../../../adapter/proto.ts';
import { contextOf, silentLogger } from '../emit/helpers.ts';
import { envoyEntry } from './fixtures.ts';

function harness() {
  const registry = new Registry();
  const emitted: { key: string | null; value: string }[] = [];
  const objects: unknown[] = [];
  const handlers = accessLogHandlers({
    emitter: {
      emit: (_t, e) => objects.push(e),
      emitSerialized: (_t, key, value) => emitted.push({ key, value }),
    },
    policy: emissionPolicy(true),
    registry,
    logger: silentLogger,
  });
  const call = new EventEmitter();
  let answered = false;
  (handlers.StreamAccessLogs as (c: unknown, cb: () => void) => void)(call, () => {
    answered = true;
  });
  const outcomes = async () =>
    Object.fromEntries(
      (
        (await registry.getMetricsAsJSON()).find((m) => m.name === 'mesh_apim_als_entries_total')?.values ??
        []
      ).map((v) => [v.labels.outcome, v.value]),
    );
  return { call, emitted, objects, outcomes, answered: () => answered };
}

describe('ALS service', () => {
  const ctx = contextOf('allowed-with-response');
  const deserialize = accessLogServiceDefinition().StreamAccessLogs!.requestDeserialize;
  const serialize = accessLogService().service.StreamAccessLogs!.requestSerialize;

  it('a malformed entry is counted and logged; the entries around it and the next messages are emitted', async () => {
    const h = harness();
    const one = serialize({
      http_logs: { log_entry: [envoyEntry({ context: requestContextJson(ctx), requestId: 'x' })] },
    }) as Buffer;
    // http_logs { <entry>, <entry of 2 bytes: a truncated varint>, <entry> }
    const entry = one.subarray(2 + (one[1]! >= 0x80 ? 1 : 0));
    const list = Buffer.concat([entry, Buffer.from([0x0a, 0x02, 0x08, 0xff]), entry]);
    const len = list.length;
    const msg = Buffer.concat([Buffer.from([0x12, (len & 0x7f) | 0x80, len >> 7]), list]);
    h.call.emit('data', deserialize(msg));
    h.call.emit('data', deserialize(one));
    h.call.emit('end');
    expect(await h.outcomes()).toEqual({ malformed: 1, emitted: 3 });
    expect(h.emitted.map((e) => e.key)).toEqual([ctx.requestId, ctx.requestId, ctx.requestId]);
    expect(h.objects).toEqual([]); // every event spliced from the metadata's JSON
    expect(h.answered()).toBe(true);
  });

  it('a context that is not exactly the JSON text is emitted as an object (serialised by the emitter)', async () => {
    const h = harness();
    h.call.emit(
      'data',
      deserialize(serialize({ http_logs: { log_entry: [envoyEntry({ context: ctx })] } }) as Buffer),
    );
    expect(await h.outcomes()).toEqual({ emitted: 1 });
    expect(h.emitted).toEqual([]);
    expect(h.objects).toHaveLength(1);
  });
});
