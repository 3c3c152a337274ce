/**
 * Event identity is per check (issue 19 item 7): 50 distinct requests sharing one x-request-id are
 * 50 events with 50 ids and 50 analytics lines; a redelivered event still deduplicates.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  requestAttributesFromAccessLog,
  requestAttributesFromCheck,
  requestAttributesJsonFromCheck,
  requestContextJson,
} from '../../../adapter/emit/events.ts';
import { bootToken, nextCheckId } from '../../../adapter/emit/identity.ts';
import { MemoryBus } from '../../../bus/memory.ts';
import { type RequestAttributes, RequestContext } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { analyticsFunction } from '../../../functions/analytics-publisher/publisher.ts';
import { requestAttributes } from '../../../functions/analytics-publisher/samples.ts';
import { FileSink } from '../../../functions/analytics-publisher/sinks/file.ts';
import { startTestAdapter, type TestAdapter } from '../../support/adapter.ts';
import { envoyEntry, streamAccessLogs } from '../als/fixtures.ts';
import { until } from './helpers.ts';

const TOPIC = TOPICS.requestAttributes.name;
let adapters: TestAdapter[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const a of adapters) await a.close();
  adapters = [];
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const events = (bus: MemoryBus) =>
  bus.records(TOPIC).map((r) => JSON.parse(r.value!.toString()) as RequestAttributes);

async function start(bus: MemoryBus, accessLogs: boolean) {
  const t = await startTestAdapter({
    deps: { bus },
    overrides: { 'emitter.lingerMs': 1, 'adapter.accessLogs': accessLogs },
  });
  adapters.push(t);
  return t;
}

/** Runs the analytics publisher with a file sink over the events; returns the lines written. */
async function analyticsLines(batches: RequestAttributes[][]): Promise<string[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-identity-'));
  dirs.push(dir);
  const sink = new FileSink({ dir, maxBytes: 1 << 24, maxFiles: 1, fsync: false, dedupWindow: 10_000 });
  const fn = analyticsFunction({ sinks: [sink] });
  for (const batch of batches) {
    await fn.process(
      batch.map(
        (event, i) => ({ event, record: { topic: TOPIC, partition: 0, offset: String(i) } }) as never,
      ),
      {} as never,
    );
  }
  await sink.close();
  return readFileSync(path.join(dir, 'apim_metrics.log'), 'utf8').split('\n').filter(Boolean);
}

describe('check identity', () => {
  it('is the instance, the boot token and a sequence that increases by one per check', () => {
    const a = nextCheckId('adapter-0');
    const b = nextCheckId('adapter-0');
    const [, seqA] = a.split(':');
    expect(a.startsWith(`adapter-0~${bootToken}:`)).toBe(true);
    expect(Number(b.split(':')[1])).toBe(Number(seqA) + 1);
    expect(nextCheckId('x'.repeat(500)).length).toBeLessThanOrEqual(160);
  });

  it('gives the check event and the access-log event of one check ids of the same identity', () => {
    const ctx = RequestContext.parse({ ...requestAttributes(), checkId: nextCheckId('adapter-0') });
    const at = new Date('2026-11-26T04:00:00Z');
    const chk = requestAttributesFromCheck(ctx, at);
    const als = requestAttributesFromAccessLog(ctx, requestAttributes().response!, at);
    expect(chk.eventId).toBe(`chk:${ctx.checkId}`);
    expect(als.eventId).toBe(`als:${ctx.checkId}`);
    // Deterministic: rebuilding the event from the same context gives the same id.
    expect(requestAttributesFromCheck(structuredClone(ctx), at).eventId).toBe(chk.eventId);
  });

  it('the spliced check event is the same JSON text as the built one (with and without checkId, nulls, unicode)', () => {
    const at = new Date('2026-11-26T04:00:00.123Z');
    const { checkId: _, ...old } = { ...requestAttributes(), checkId: undefined };
    const contexts = [
      RequestContext.parse({ ...requestAttributes(), checkId: nextCheckId('adapter-0') }),
      RequestContext.parse(old),
      RequestContext.parse({
        ...requestAttributes(),
        userName: 'zoë "quoted" \\ \u2028',
        client: { ip: null, userAgent: null, referer: null },
      }),
    ];
    for (const ctx of contexts) {
      const spliced = requestAttributesJsonFromCheck(ctx, at);
      expect(spliced).toBe(JSON.stringify(requestAttributesFromCheck(ctx, at)));
      // Memoised: the response's metadata and the event share one serialisation.
      expect(requestContextJson(ctx)).toBe(requestContextJson(ctx));
      expect(JSON.parse(spliced)).toEqual(requestAttributesFromCheck(ctx, at));
    }
  });

  it('parses events of older adapters (no checkId) and keeps their former eventId', () => {
    const { checkId: _, ...old } = { ...requestAttributes(), checkId: undefined };
    const ctx = RequestContext.parse(old);
    expect(ctx.checkId).toBeUndefined();
    expect(requestAttributesFromCheck(ctx, new Date()).eventId).toBe(
      `chk:${ctx.receivedAt}:${ctx.adapterInstance}:${ctx.requestId}`,
    );
  });
});

describe('50 requests sharing one x-request-id', () => {
  it('(access logs off) are 50 events with 50 ids and 50 analytics lines; a redelivered batch adds none', async () => {
    const bus = new MemoryBus();
    const t = await start(bus, false);
    const key = await t.apiKey('demo-app');
    for (let i = 0; i < 50; i++) {
      const r = await t.client.check({
        path: '/petstore/v1/pets',
        headers: { apikey: key },
        requestId: 'shared-request-id',
      });
      expect(r.allowed).toBe(true);
    }
    await until(() => bus.records(TOPIC).length === 50, 'the 50 events');
    const es = events(bus);
    expect(new Set(es.map((e) => e.requestId))).toEqual(new Set(['shared-request-id']));
    expect(new Set(es.map((e) => e.eventId)).size).toBe(50);
    // Redelivery (a batch processed twice) and a replay of the same records dedupe on the identity.
    const lines = await analyticsLines([es, es, es.slice(10, 20)]);
    expect(lines).toHaveLength(50);
  });

  it('(access logs on) the access-log events rebuilt from the metadata are 50 distinct events too', async () => {
    const bus = new MemoryBus();
    const t = await start(bus, true);
    const key = await t.apiKey('demo-app');
    const forwarded: string[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await t.client.check({
        path: '/petstore/v1/pets',
        headers: { apikey: key },
        requestId: 'shared-request-id',
      });
      forwarded.push(r.dynamicMetadata.mesh_apim as string);
    }
    await streamAccessLogs(`127.0.0.1:${t.adapter.grpcPort}`, [
      forwarded.map((context) => envoyEntry({ requestId: 'shared-request-id', context, status: 200 })),
    ]);
    await until(() => bus.records(TOPIC).length === 50, 'the 50 access-log events');
    const es = events(bus);
    expect(es.every((e) => e.source === 'access-log' && e.eventId === `als:${e.checkId}`)).toBe(true);
    expect(new Set(es.map((e) => e.eventId)).size).toBe(50);
    expect(await analyticsLines([es, es])).toHaveLength(50);
  });
});
