import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TokenRevoked } from '../../events/token-revoked.ts';
import {
  chunkEntries,
  HEARTBEAT_TAG,
  RevocationFanout,
  SQS_MAX_BATCH_BYTES,
  sqsRetryConfig,
} from '../../revocation/fanout.ts';
import { revocation } from './samples.ts';

const sqsMock = mockClient(SQSClient);
const Q = (n: string) => `http://sqs.local/000000000000/mesh-apim-revocations-${n}`;

function fanout(now = () => 1_000_000, extra = {}, sqs = new SQSClient({ region: 'us-east-1' })) {
  const f = new RevocationFanout(sqs, {
    queuePrefix: 'mesh-apim-revocations',
    listCacheMs: 5_000,
    staleGraceMs: 60_000,
    staleCheckIntervalMs: 0,
    now,
    baseDelayMs: 10,
    ...extra,
  });
  return { f };
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
    const { f } = fanout(undefined, { baseDelayMs: 100 });
    const t0 = performance.now();
    const report = await f.fanOut([revocation(), revocation()]);
    const calls = sqsMock.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input.Entries!.map((e) => e.Id)).toEqual(['e1']);
    expect(report.retries).toBe(1);
    // One backoff before the resend: at least half the base (jitter 0.5x..1x).
    expect(performance.now() - t0).toBeGreaterThanOrEqual(49);
  });

  it('entries that keep failing: FANOUT_ENTRIES_FAILED after maxAttempts sends, events not marked delivered', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('a')] });
    sqsMock
      .on(SendMessageBatchCommand)
      .resolves({ Failed: [{ Id: 'e0', SenderFault: false, Code: 'InternalError' }] });
    const { f } = fanout(undefined, { maxAttempts: 3, baseDelayMs: 2 });
    const e = revocation();
    await expect(f.fanOut([e])).rejects.toMatchObject({ retriable: true, code: 'FANOUT_ENTRIES_FAILED' });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(3);
    sqsMock.on(SendMessageBatchCommand).resolves({});
    expect((await f.fanOut([e])).messagesSent).toBe(1);
  });

  it('a call error the client gave up on fails retriably (FANOUT_SEND_FAILED), not resent by the fan-out', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: [Q('a')] });
    sqsMock.on(SendMessageBatchCommand).rejects(throttled());
    const { f } = fanout(undefined, { maxAttempts: 3 });
    await expect(f.fanOut([revocation()])).rejects.toMatchObject({
      retriable: true,
      code: 'FANOUT_SEND_FAILED',
    });
    // Under aws-sdk-client-mock the SDK retry does not run: that is tested below on the real client.
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });

  it('the fan-out client retries in the SDK: standard mode, 8 attempts unless told', async () => {
    const c = new SQSClient({ region: 'us-east-1', ...sqsRetryConfig() });
    expect(await c.config.maxAttempts()).toBe(8);
    expect((await c.config.retryStrategy()) as { mode?: string }).toMatchObject({ mode: 'standard' });
    expect(sqsRetryConfig(3).maxAttempts).toBe(3);
    c.destroy();
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

// aws-sdk-client-mock replaces `send`, so the SDK's retry never runs under it: these go through the
// real client stack (standard retry) to a local SQS stand-in speaking the JSON protocol.
describe('RevocationFanout on a real SQS client: throttling and 5xx are retried by the SDK', () => {
  let server: Server;
  let url = '';
  let sendAnswers: { status: number; type: string }[] = [];
  let sends = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const target = String(req.headers['x-amz-target'] ?? '');
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        const reply = (status: number, json: unknown) =>
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(json));
        if (target.endsWith('.ListQueues'))
          return reply(200, { QueueUrls: [`${url}/000000000000/mesh-apim-revocations-a`] });
        sends++;
        const fail = sendAnswers.shift();
        if (fail) return reply(fail.status, { __type: `com.amazonaws.sqs#${fail.type}`, message: fail.type });
        const entries = body.Entries as { Id: string; MessageBody: string }[];
        reply(200, {
          Successful: entries.map((e, i) => ({
            Id: e.Id,
            MessageId: `m${i}`,
            MD5OfMessageBody: createHash('md5').update(e.MessageBody).digest('hex'),
          })),
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    sqsMock.reset(); // stubs `send` again for whatever runs after
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    // After the file's beforeEach, whose sqsMock.reset() stubs `send` again.
    sqsMock.restore();
    sends = 0;
    sendAnswers = [];
  });
  const client = (maxAttempts?: number) =>
    new SQSClient({
      region: 'us-east-1',
      endpoint: url,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
      ...sqsRetryConfig(maxAttempts),
    });

  it('5xx and throttling retried by the client, counted as entry retries, then delivered', async () => {
    sendAnswers = [
      { status: 503, type: 'ServiceUnavailable' },
      { status: 400, type: 'ThrottlingException' },
    ];
    const sqs = client();
    const { f } = fanout(undefined, {}, sqs);
    const report = await f.fanOut([revocation()]);
    expect(report.messagesSent).toBe(1);
    expect(sends).toBe(3);
    expect(report.retries).toBe(2);
    sqs.destroy();
  });

  it('gives up after maxAttempts requests with a retriable error', async () => {
    sendAnswers = Array.from({ length: 5 }, () => ({ status: 500, type: 'InternalError' }));
    const sqs = client(3);
    const { f } = fanout(undefined, {}, sqs);
    await expect(f.fanOut([revocation()])).rejects.toMatchObject({
      retriable: true,
      code: 'FANOUT_SEND_FAILED',
    });
    expect(sends).toBe(3);
    sqs.destroy();
  });

  it('access denied is not retried: one request', async () => {
    sendAnswers = [{ status: 403, type: 'AccessDenied' }];
    const sqs = client();
    const { f } = fanout(undefined, {}, sqs);
    await expect(f.fanOut([revocation()])).rejects.toThrow(/SendMessageBatch/);
    expect(sends).toBe(1);
    sqs.destroy();
  });
});
