/** The fan-out core and the adapter queue consumer against a real SQS API (ElasticMQ). */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { RevocationQueueConsumer } from '../../../adapter/revocation/sqs-consumer.ts';
import { RevocationStore } from '../../../adapter/revocation/store.ts';
import { adapterQueueName, HEARTBEAT_TAG } from '../../../events/revocation-queue.ts';
import { RevocationFanout } from '../../../functions/revocation-fanout/fanout.ts';
import { revocation } from '../../support/revocations.ts';
import { elasticmq, sqsClient, sqsEndpoint, uniquePrefix, until } from '../../support/sqs.ts';

const consumers: RevocationQueueConsumer[] = [];
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop()));
});

function adapterQueue(prefix: string, id: string, store = new RevocationStore()) {
  const c = new RevocationQueueConsumer(sqsClient(), {
    queuePrefix: prefix,
    instanceId: id,
    heartbeatIntervalMs: 60_000,
    waitTimeSeconds: 1,
    apply: (e) => store.apply(e),
  });
  consumers.push(c);
  return { c, store };
}

function fanout(prefix: string, extra = {}) {
  return new RevocationFanout(sqsClient(), {
    queuePrefix: prefix,
    listCacheMs: 0,
    staleGraceMs: 60_000,
    staleCheckIntervalMs: 0,
    ...extra,
  });
}

describe.skipIf(!sqsEndpoint)('revocation fan-out on ElasticMQ', () => {
  it('delivers every revocation to every adapter queue (batches of 10), duplicates harmless', async () => {
    const prefix = uniquePrefix('fan');
    const adapters = ['a', 'b', 'c'].map((id) => adapterQueue(prefix, id));
    await Promise.all(adapters.map((a) => a.c.start()));
    const events = Array.from({ length: 25 }, (_, i) => revocation({ value: `fan-${i}` }));
    const f = fanout(prefix);
    const report = await f.fanOut(events);
    expect(report).toMatchObject({ queues: 3, messagesSent: 75, skippedQueues: [] });
    await until(() => adapters.every((a) => a.c.applied === 25), 30_000, 'all applied');
    for (const a of adapters) for (const e of events) expect(a.store.revokedBy({ jti: e.value })).toBe('jti');

    // A second fan-out instance (cold Lambda) re-sends: adapters drop the duplicates by event id.
    await fanout(prefix).fanOut(events.slice(0, 5));
    await until(() => adapters.every((a) => a.c.received === 30), 30_000, 'duplicates received');
    expect(adapters.map((a) => a.c.applied)).toEqual([25, 25, 25]);
  });

  it('adapter queue lifecycle: created with a heartbeat tag, deleted on clean shutdown', async () => {
    const prefix = uniquePrefix('life');
    const sqs = sqsClient();
    const { c } = adapterQueue(prefix, 'x1');
    const url = await c.start();
    expect(url).toContain(adapterQueueName(prefix, 'x1'));
    const tags = await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }));
    expect(Number(tags.Tags?.[HEARTBEAT_TAG])).toBeGreaterThan(Date.now() - 60_000);
    await c.stop();
    const left = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: `${prefix}-` }));
    expect(left.QueueUrls ?? []).toEqual([]);
  });

  it('stale queues (heartbeat older than the grace period) are deleted, live ones kept', async () => {
    const prefix = uniquePrefix('stale');
    const sqs = sqsClient();
    const { c } = adapterQueue(prefix, 'live');
    const live = await c.start();
    const stale = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `${prefix}-dead`,
          tags: { [HEARTBEAT_TAG]: String(Date.now() - 3_600_000) },
        }),
      )
    ).QueueUrl!;
    const deleted = await fanout(prefix).sweepStaleQueues(true);
    expect(deleted).toEqual([stale]);
    const left = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: `${prefix}-` }));
    expect(left.QueueUrls).toEqual([live]);
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: live, AttributeNames: ['All'] }));
  });

  it('a queue deleted mid-fan-out is skipped; the others still get everything', async () => {
    const prefix = uniquePrefix('gone');
    const keep = adapterQueue(prefix, 'keep');
    const gone = adapterQueue(prefix, 'gone');
    await keep.c.start();
    await gone.c.start();
    const f = fanout(prefix, { listCacheMs: 60_000 });
    await f.listQueues(); // cached with both queues
    await gone.c.stop();
    const report = await f.fanOut([revocation({ value: 'after-gone' })]);
    expect(report.skippedQueues).toHaveLength(1);
    await until(() => keep.store.revokedBy({ jti: 'after-gone' }) !== null, 30_000, 'delivered');
  });

  it('ElasticMQ down during the fan-out, then back: every revocation lands', async () => {
    const prefix = uniquePrefix('down');
    const adapters = ['p', 'q'].map((id) => adapterQueue(prefix, id));
    await Promise.all(adapters.map((a) => a.c.start()));
    const f = fanout(prefix, { maxAttempts: 60, baseDelayMs: 200, maxDelayMs: 1_000, listCacheMs: 60_000 });
    await f.listQueues();
    await elasticmq('stop');
    const events = Array.from({ length: 12 }, (_, i) => revocation({ value: `down-${i}` }));
    const sending = f.fanOut(events);
    await new Promise((r) => setTimeout(r, 2_000));
    await elasticmq('start');
    const report = await sending;
    expect(report.messagesSent).toBe(24);
    await until(
      () => adapters.every((a) => events.every((e) => a.store.revokedBy({ jti: e.value }))),
      60_000,
      'all landed',
    );
  });
});
