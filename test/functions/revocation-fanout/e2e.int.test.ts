/**
 * End to end over real components: two adapters (gRPC Check on 127.0.0.1:0), each with its own SQS
 * queue on ElasticMQ; token-revoked published to the stream; the revocation-fanout function run by
 * the local runner. A key allowed on both -> revoke -> denied on both; restart: still denied.
 * Revoke-to-deny latency (p50/p99 over 100 revocations) is printed, not asserted.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RevocationRuntime, startRevocations } from '../../../adapter/revocation/index.ts';
import { RevocationStore } from '../../../adapter/revocation/store.ts';
import { ensureSigningKey, SIGNING_KEY_FILE } from '../../../adapter/standalone/issuer.ts';
import { EventPublisher } from '../../../bridge/publish.ts';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import type { TokenRevoked } from '../../../events/token-revoked.ts';
import revocationFanout from '../../../functions/revocation-fanout/index.ts';
import { type RunningFunctions, startFunctions } from '../../../functions/runner/index.ts';
import { startTestAdapter, type TestAdapter } from '../../support/adapter.ts';
import { sqsClient, sqsEndpoint, uniquePrefix, until } from '../../support/sqs.ts';

const root = mkdtempSync(join(tmpdir(), 'mesh-apim-revoc-e2e-'));
const prefix = uniquePrefix('e2e');
const bus = new MemoryBus();
const publisher = new EventPublisher(bus);
let functions: RunningFunctions;

interface Node {
  id: string;
  t: TestAdapter;
  feed: RevocationRuntime;
}
const nodes: Node[] = [];

function overrides(id: string) {
  return {
    dataDir: join(root, id),
    instanceId: id,
    'revocation.transport': 'sqs',
    'revocation.queuePrefix': prefix,
    'revocation.sqsEndpoint': sqsEndpoint,
    'functions.batchWindowMs': 10,
  };
}

async function startNode(id: string): Promise<Node> {
  const o = overrides(id);
  const config = loadConfig({ env: {}, overrides: o });
  const store = new RevocationStore();
  // Loaded (data directory) and listening (own queue) before the adapter serves.
  const feed = await startRevocations({ config, instanceId: id, store, sqs: sqsClient() });
  const t = await startTestAdapter({ overrides: o, deps: { revocations: store } });
  return { id, t, feed };
}

async function stopNode(n: Node) {
  await n.t.adapter.stop();
  n.t.client.close();
  await n.feed.stop();
}

function revoke(jti: string): TokenRevoked {
  const now = new Date().toISOString();
  return {
    type: 'token-revoked',
    schemaVersion: 1,
    eventId: `e2e-${jti}`,
    occurredAt: now,
    kind: 'jti',
    value: jti,
    revokedAt: now,
    expiresAt: null,
    tenantDomain: 'carbon.super',
    source: 'cli',
  };
}

const jtiOf = (key: string) =>
  JSON.parse(Buffer.from(key.split('.')[1]!, 'base64url').toString()).jti as string;
const allowed = async (n: Node, key: string) =>
  (await n.t.client.check({ path: '/petstore/v1/pets', headers: { apikey: key } })).allowed;

describe.skipIf(!sqsEndpoint)('token revocation end to end (two adapters, SQS fan-out)', () => {
  beforeAll(async () => {
    // Both adapters trust one standalone signing key (as replicas sharing a secret would).
    ensureSigningKey(join(root, 'a'));
    mkdirSync(join(root, 'b'), { recursive: true });
    copyFileSync(join(root, 'a', SIGNING_KEY_FILE), join(root, 'b', SIGNING_KEY_FILE));
    nodes.push(await startNode('a'), await startNode('b'));
    const config = loadConfig({ env: {}, overrides: overrides('fn') });
    functions = await startFunctions(config, bus, {
      modules: [
        {
          ...revocationFanout,
          // The test's endpoint; the definition destroys a client it built itself only.
          localOptions: () => ({ sqs: sqsClient }),
        },
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await functions?.stop();
    await Promise.allSettled(nodes.map(stopNode));
    rmSync(root, { recursive: true, force: true });
  });

  it('a key allowed on both adapters is denied on both after revoke; latency reported', async () => {
    const [a, b] = nodes as [Node, Node];
    const N = 100;
    const keys: string[] = [];
    for (let i = 0; i < N; i++) keys.push(await a.t.apiKey('demo-app'));
    for (const k of keys.slice(0, 5)) {
      expect(await allowed(a, k)).toBe(true);
      expect(await allowed(b, k)).toBe(true);
    }
    const latencies: number[] = [];
    for (const key of keys) {
      const t0 = performance.now();
      await publisher.revoked(revoke(jtiOf(key)));
      await until(async () => !(await allowed(a, key)) && !(await allowed(b, key)), 30_000, 'denied on both');
      latencies.push(performance.now() - t0);
    }
    for (const k of keys) {
      const res = await b.t.client.check({ path: '/petstore/v1/pets', headers: { apikey: k } });
      expect(res).toMatchObject({ allowed: false, httpStatus: 401 });
    }
    latencies.sort((x, y) => x - y);
    const pct = (p: number) => latencies[Math.min(N - 1, Math.ceil((p / 100) * N) - 1)]!.toFixed(1);
    console.log(
      `revoke-to-deny on both adapters over ${N} revocations: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${latencies[N - 1]!.toFixed(1)} ms`,
    );
  }, 600_000);

  it('a restarted adapter keeps denying the revoked key (revoked set reloaded before serving)', async () => {
    const b = nodes[1]!;
    const key = await nodes[0]!.t.apiKey('demo-app');
    expect(await allowed(b, key)).toBe(true);
    await publisher.revoked(revoke(jtiOf(key)));
    await until(async () => !(await allowed(b, key)), 30_000, 'denied');
    await stopNode(b);
    const again = await startNode('b');
    nodes[1] = again;
    expect(await allowed(again, key)).toBe(false);
    // The restarted adapter still follows new revocations through its recreated queue.
    const key2 = await nodes[0]!.t.apiKey('demo-app');
    expect(await allowed(again, key2)).toBe(true);
    await publisher.revoked(revoke(jtiOf(key2)));
    await until(
      async () => !(await allowed(again, key2)) && !(await allowed(nodes[0]!, key2)),
      30_000,
      'denied',
    );
  }, 120_000);
});
