import {
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  QueueDoesNotExist,
  SendMessageBatchCommand,
  SQSClient,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { HEARTBEAT_TAG } from '../../../events/revocation-queue.ts';
import { TokenRevoked } from '../../../events/token-revoked.ts';
import {
  chunkEntries,
  RevocationFanout,
  SQS_MAX_BATCH_BYTES,
} from '../../../functions/revocation-fanout/fanout.ts';
import { revocation } from '../../support/revocations.ts';

const sqsMock = mockClient(SQSClient);
const Q = (n: string) => `http://sqs.local/000000000000/mesh-apim-revocations-${n}`;

function fanout(now = () => 1_000_000, extra = {}) {
  const sleeps: number[] = [];
  const f = new RevocationFanout(new SQSClient({ region: 'us-east-1' }), {
    queuePrefix: 'mesh-apim-revocations',
    listCacheMs: 5_000,
    staleGraceMs: 60_000,
    staleCheckIntervalMs: 0,
    now,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...extra,
  });
  return { f, sleeps };
}

function throttled() {
  return new SQSServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'Rate exceeded',
  });
}

beforeEach(() => sqsMock.reset());

describe('chunkEntries', () => {
  it('never puts more than 10 entries in a call', () => {
    const entries = Array.from({ length: 23 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x' }));
    expect(chunkEntries(entries).map((b) => b.length)).toEqual([10, 10, 3]);
  });

  it('never exceeds 256 KiB per call, counting UTF-8 bytes', () => {
    const big = 'é'.repeat(30 * 1024); // 60 KiB in UTF-8, 30 Ki chars
    const entries = Array.from({ length: 9 }, (_, i) => ({ Id: `e${i}`, MessageBody: big }));
    const batches = chunkEntries(entries);
    for (const b of batches) {
      const bytes = b.reduce((n, e) => n + Buffer.byteLength(e.MessageBody), 0);
      expect(bytes).toBeLessThanOrEqual(SQS_MAX_BATCH_BYTES);
    }
    expect(batches.map((b) => b.length)).toEqual([4, 4, 1]);
  });

  it('rejects a single message over the limit as poison', () => {
    expect(() => chunkEntries([{ Id: 'a', MessageBody: 'x'.repeat(SQS_MAX_BATCH_BYTES + 1) }])).toThrow(
      /over the SQS limit/,
    );
  });
});

describe('RevocationFanout', () => {
  it('sends every event to every queue found across ListQueues pages', async () => {
    sqsMock
      .on(ListQueuesCommand, { NextToken: undefined })
      .resolves({ QueueUrls: [Q('a'), Q('b')], NextToken: 'p2' })
      .on(ListQueuesCommand, { NextToken: 'p2' })
      .resolves({ QueueUrls: [Q('c')] });
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const { f } = fanout();
    const events = Array.from({ length: 12 }, () => revocation());
    const report = await f.fanOut(events);
    expect(report).toMatchObject({ events: 12, queues: 3, messagesSent: 36, skippedQueues: [] });
    const calls = sqsMock.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(6);
    const listCall = sqsMock.commandCalls(ListQueuesCommand)[0]!;
    expect(listCall.args[0].input.QueueNamePrefix).toBe('mesh-apim-revocations-');
    for (const url of [Q('a'), Q('b'), Q('c')]) {
      const bodies = calls
        .filter((c) => c.args[0].input.QueueUrl === url)
        .flatMap((c) => c.args[0].input.Entries!.map((e) => TokenRevoked.parse(JSON.parse(e.MessageBody!))));
      expect(bodies.map((b) => b.eventId).sort()).toEqual(events.map((e) => e.eventId).sort());
    }
  });

  it('caches the queue list briefly, then lists again', async () => {
    let now = 0;
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('a')] });
    sqsMock.on(SendMessageBatchCommand).resolves({});
    const { f } = fanout(() => now);
    await f.fanOut([revocation()]);
    now = 4_000;
    await f.fanOut([revocation()]);
    expect(sqsMock.commandCalls(ListQueuesCommand)).toHaveLength(1);
    now = 6_000;
    await f.fanOut([revocation()]);
    expect(sqsMock.commandCalls(ListQueuesCommand)).toHaveLength(2);
  });

  it('retries only the entries that came back in Failed', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('a')] });
    sqsMock
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: [{ Id: 'e0', MessageId: '1', MD5OfMessageBody: '' }],
        Failed: [{ Id: 'e1', SenderFault: false, Code: 'InternalError' }],
      })
      .resolves({ Successful: [{ Id: 'e1', MessageId: '2', MD5OfMessageBody: '' }] });
    const { f, sleeps } = fanout();
    const report = await f.fanOut([revocation(), revocation()]);
    const calls = sqsMock.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input.Entries!.map((e) => e.Id)).toEqual(['e1']);
    expect(report.retries).toBe(1);
    expect(sleeps).toHaveLength(1);
  });

  it('backs off on throttling and 5xx with growing delays, then succeeds', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('a')] });
    sqsMock
      .on(SendMessageBatchCommand)
      .rejectsOnce(throttled())
      .rejectsOnce(
        new SQSServiceException({
          name: 'InternalError',
          $fault: 'server',
          $metadata: { httpStatusCode: 503 },
          message: 'unavailable',
        }),
      )
      .rejectsOnce(throttled())
      .resolves({});
    const { f, sleeps } = fanout(undefined, { baseDelayMs: 100 });
    const report = await f.fanOut([revocation()]);
    expect(report.messagesSent).toBe(1);
    expect(sleeps).toHaveLength(3);
    // Jittered between cap/2 and cap, cap doubling: 100, 200, 400.
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(sleeps[2]).toBeGreaterThanOrEqual(200);
    expect(sleeps[2]).toBeLessThanOrEqual(400);
  });

  it('gives up after maxAttempts with a retriable error and does not mark the events delivered', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('a')] });
    sqsMock.on(SendMessageBatchCommand).rejects(throttled());
    const { f } = fanout(undefined, { maxAttempts: 3 });
    const e = revocation();
    await expect(f.fanOut([e])).rejects.toMatchObject({ retriable: true, code: 'FANOUT_SEND_FAILED' });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(3);
    sqsMock.on(SendMessageBatchCommand).resolves({});
    expect((await f.fanOut([e])).messagesSent).toBe(1);
  });

  it('does not retry a non-transient error (access denied) but fails retriably for the caller', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('a')] });
    sqsMock.on(SendMessageBatchCommand).rejects(
      new SQSServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'no',
      }),
    );
    const { f } = fanout();
    await expect(f.fanOut([revocation()])).rejects.toThrow(/SendMessageBatch/);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });

  it('skips a queue that disappeared mid-send and still delivers to the others', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('a'), Q('gone'), Q('c')] });
    sqsMock.on(SendMessageBatchCommand).resolves({});
    sqsMock
      .on(SendMessageBatchCommand, { QueueUrl: Q('gone') })
      .rejects(new QueueDoesNotExist({ $metadata: { httpStatusCode: 400 }, message: 'gone' }));
    const { f } = fanout();
    const report = await f.fanOut([revocation()]);
    expect(report.skippedQueues).toEqual([Q('gone')]);
    expect(report.messagesSent).toBe(2);
    // The cached list is dropped so the next fan-out does not try the dead queue again.
    await f.fanOut([revocation()]);
    expect(sqsMock.commandCalls(ListQueuesCommand)).toHaveLength(2);
  });

  it('is idempotent by event id: a redelivered event is not sent again', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('a')] });
    sqsMock.on(SendMessageBatchCommand).resolves({});
    const { f } = fanout();
    const e = revocation();
    await f.fanOut([e, e]);
    const again = await f.fanOut([e]);
    expect(again).toMatchObject({ events: 0, duplicates: 1, messagesSent: 0 });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries).toHaveLength(1);
  });

  it('with no adapter queues sends nothing and succeeds', async () => {
    sqsMock.on(ListQueuesCommand).resolves({});
    const { f } = fanout();
    expect(await f.fanOut([revocation()])).toMatchObject({ queues: 0, messagesSent: 0 });
  });
});

describe('stale-queue cleanup', () => {
  it('deletes queues whose heartbeat is older than the grace period, keeps fresh ones', async () => {
    const now = 10_000_000;
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('fresh'), Q('stale'), Q('untagged-old')] });
    sqsMock
      .on(ListQueueTagsCommand, { QueueUrl: Q('fresh') })
      .resolves({ Tags: { [HEARTBEAT_TAG]: String(now - 30_000) } })
      .on(ListQueueTagsCommand, { QueueUrl: Q('stale') })
      .resolves({ Tags: { [HEARTBEAT_TAG]: String(now - 61_000) } })
      .on(ListQueueTagsCommand, { QueueUrl: Q('untagged-old') })
      .resolves({ Tags: {} });
    sqsMock
      .on(GetQueueAttributesCommand)
      .resolves({ Attributes: { CreatedTimestamp: String(Math.floor((now - 120_000) / 1000)) } });
    sqsMock.on(DeleteQueueCommand).resolves({});
    const { f } = fanout(() => now);
    const deleted = await f.sweepStaleQueues();
    expect(deleted).toEqual([Q('stale'), Q('untagged-old')]);
    expect(sqsMock.commandCalls(DeleteQueueCommand).map((c) => c.args[0].input.QueueUrl)).toEqual(deleted);
  });

  it('keeps a just-created queue that has no heartbeat tag yet', async () => {
    const now = 10_000_000;
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('new')] });
    sqsMock.on(ListQueueTagsCommand).resolves({});
    sqsMock
      .on(GetQueueAttributesCommand)
      .resolves({ Attributes: { CreatedTimestamp: String(Math.floor(now / 1000) - 5) } });
    const { f } = fanout(() => now);
    expect(await f.sweepStaleQueues()).toEqual([]);
    expect(sqsMock.commandCalls(DeleteQueueCommand)).toHaveLength(0);
  });

  it('a queue deleted by someone else during the sweep is not an error', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('x')] });
    sqsMock
      .on(ListQueueTagsCommand)
      .rejects(new QueueDoesNotExist({ $metadata: { httpStatusCode: 400 }, message: 'gone' }));
    const { f } = fanout();
    expect(await f.sweepStaleQueues()).toEqual([]);
  });

  it('sweeps at most once per interval', async () => {
    let now = 0;
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [] });
    const { f } = fanout(() => now, { staleCheckIntervalMs: 60_000 });
    await f.sweepStaleQueues();
    now = 30_000;
    await f.sweepStaleQueues();
    expect(sqsMock.commandCalls(ListQueuesCommand)).toHaveLength(1);
    now = 61_000;
    await f.sweepStaleQueues();
    expect(sqsMock.commandCalls(ListQueuesCommand)).toHaveLength(2);
  });
});
