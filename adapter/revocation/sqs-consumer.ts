/**
 * The adapter's own revocation queue: created as `<prefix>-<instance id>` (or given), tagged with a
 * heartbeat the fan-out function checks before deleting stale queues, long-polled (20 s, 10 messages);
 * each message is applied to the store, then the batch is deleted. Deleted on clean shutdown.
 */
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  type SQSClient,
  TagQueueCommand,
} from '@aws-sdk/client-sqs';
import { Backoff, sleep } from '../../common/backoff.ts';
import { createLogger } from '../../common/log.ts';
import { isQueueGone } from '../../common/sqs-errors.ts';
import { adapterQueueName, HEARTBEAT_TAG } from '../../events/revocation-queue.ts';
import { TokenRevoked } from '../../events/token-revoked.ts';

const log = createLogger('revocation-queue');

export interface QueueConsumerOptions {
  queuePrefix: string;
  instanceId: string;
  /** Use this queue instead of creating one; it is then not deleted on shutdown. */
  queueUrl?: string;
  heartbeatIntervalMs: number;
  waitTimeSeconds?: number;
  /** Called with each valid event; returns false for a duplicate. */
  apply(e: TokenRevoked): boolean | Promise<boolean>;
  now?: () => number;
}

export class RevocationQueueConsumer {
  queueUrl = '';
  private owned = false;
  private running = false;
  private loop: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private abort = new AbortController();
  applied = 0;
  received = 0;

  constructor(
    private readonly sqs: SQSClient,
    private readonly o: QueueConsumerOptions,
  ) {}

  /** Creates/tags the queue and starts polling; resolves once the queue exists (messages from now on reach us). */
  async start(): Promise<string> {
    await this.ensureQueue();
    this.running = true;
    this.heartbeat = setInterval(() => {
      this.beat().catch((err) => log.warn({ err: String(err) }, 'heartbeat failed'));
    }, this.o.heartbeatIntervalMs);
    this.heartbeat.unref();
    this.loop = this.poll();
    return this.queueUrl;
  }

  private async ensureQueue(): Promise<void> {
    if (this.o.queueUrl) {
      this.queueUrl = this.o.queueUrl;
      await this.beat();
      return;
    }
    const name = adapterQueueName(this.o.queuePrefix, this.o.instanceId);
    const res = await this.sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        // Revocations older than this are in the adapter's start-up load anyway.
        Attributes: { MessageRetentionPeriod: '86400', ReceiveMessageWaitTimeSeconds: '20' },
        tags: { [HEARTBEAT_TAG]: String((this.o.now ?? Date.now)()) },
      }),
    );
    this.queueUrl = res.QueueUrl!;
    this.owned = true;
    // CreateQueue on an existing queue does not update its tags.
    await this.beat();
  }

  private async beat(): Promise<void> {
    await this.sqs.send(
      new TagQueueCommand({
        QueueUrl: this.queueUrl,
        Tags: { [HEARTBEAT_TAG]: String((this.o.now ?? Date.now)()) },
      }),
    );
  }

  private async poll(): Promise<void> {
    // Deterministic (no jitter), as before: 200 ms doubling to 2 s.
    const backoff = new Backoff({ minMs: 200, maxMs: 2_000, jitter: 'none' });
    while (this.running) {
      try {
        const res = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: this.o.waitTimeSeconds ?? 20,
          }),
          { abortSignal: this.abort.signal },
        );
        const msgs = res.Messages ?? [];
        this.received += msgs.length;
        const done: { Id: string; ReceiptHandle: string }[] = [];
        for (const [i, m] of msgs.entries()) {
          let event: TokenRevoked | null = null;
          try {
            event = TokenRevoked.parse(JSON.parse(m.Body ?? ''));
          } catch (err) {
            // The fan-out only sends validated events and the bus keeps the original: drop, loudly.
            // Not the body: an invalid message may be a pre-digest event carrying a live token.
            log.error(
              { err: String(err), messageId: m.MessageId, bytes: m.Body?.length ?? 0 },
              'invalid revocation message dropped',
            );
          }
          if (event && (await this.o.apply(event))) this.applied++;
          done.push({ Id: String(i), ReceiptHandle: m.ReceiptHandle! });
        }
        if (done.length > 0)
          await this.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: done }));
        backoff.reset();
      } catch (err) {
        if (!this.running) break;
        const wait = backoff.next();
        if (isQueueGone(err) && this.owned) {
          // Deleted as stale (e.g. after a long pause): recreate, the heartbeat resumes.
          log.warn('revocation queue disappeared; recreating');
          await this.ensureQueue().catch(() => {});
        } else log.warn({ err: String(err), backoffMs: wait }, 'revocation poll failed');
        await sleep(wait, this.abort.signal);
      }
    }
  }

  async stop(deleteQueue = true): Promise<void> {
    this.running = false;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.abort.abort();
    await this.loop?.catch(() => {});
    if (deleteQueue && this.owned) {
      await this.sqs.send(new DeleteQueueCommand({ QueueUrl: this.queueUrl })).catch((err) => {
        if (!isQueueGone(err)) log.warn({ err: String(err) }, 'could not delete revocation queue');
      });
    }
  }
}
