import {
  ListQueuesCommand,
  SendMessageBatchCommand,
  SQSClient,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { TOPICS } from '../../../events/topics.ts';
import {
  BatchRetryError,
  buildLambdaKafkaEvent,
  busDeps,
  inRecordsFromValues,
} from '../../../functions/lib/index.ts';
import { create } from '../../../functions/revocation-fanout/index.ts';
import { revocation } from '../../support/revocations.ts';

const sqsMock = mockClient(SQSClient);
beforeEach(() => sqsMock.reset());

function setup() {
  const bus = new MemoryBus();
  const config = loadConfig({ env: {} });
  const { handler } = create(busDeps(bus, config), {
    sqs: () => new SQSClient({ region: 'us-east-1' }),
    overrides: { sleep: async () => {} },
  });
  return { bus, handler };
}

const event = (values: unknown[], shape: 'msk' | 'self-managed' = 'self-managed') =>
  buildLambdaKafkaEvent(inRecordsFromValues(TOPICS.tokenRevoked.name, values), { shape });

describe('revocation-fanout handler', () => {
  it('fans a Lambda Kafka batch (MSK shape) out to the adapter queues', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: ['http://q/mesh-apim-adapter-a'] });
    sqsMock.on(SendMessageBatchCommand).resolves({});
    const { handler } = setup();
    const summary = await handler(event([revocation(), revocation()], 'msk'));
    expect(summary.results.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries).toHaveLength(2);
  });

  it('dead-letters a schema-invalid record and still delivers the valid one', async () => {
    sqsMock.on(ListQueuesCommand).resolves({ QueueUrls: ['http://q/mesh-apim-adapter-a'] });
    sqsMock.on(SendMessageBatchCommand).resolves({});
    const { bus, handler } = setup();
    const summary = await handler(event([{ type: 'token-revoked', kind: 'nonsense' }, revocation()]));
    expect(summary.results.map((r) => r.status)).toEqual(['dead-lettered', 'ok']);
    expect(bus.records(TOPICS.deadLetter.name)).toHaveLength(1);
  });

  it('fails the invocation retriably when SQS stays unreachable, so the batch is redelivered', async () => {
    sqsMock.on(ListQueuesCommand).rejects(
      new SQSServiceException({
        name: 'ServiceUnavailable',
        $fault: 'server',
        $metadata: { httpStatusCode: 503 },
        message: 'down',
      }),
    );
    const { handler } = setup();
    await expect(handler(event([revocation()]))).rejects.toBeInstanceOf(BatchRetryError);
  });
});
