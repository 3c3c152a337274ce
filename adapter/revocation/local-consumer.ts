/**
 * Standalone transport: the adapter consumes token-revoked from the bus itself (the embedded log),
 * so `npm start` + `mesh-apim revoke` needs no SQS. A group per instance: every adapter sees every
 * revocation, and a new instance replays the whole topic.
 */
import type { Bus, Subscription } from '../../bus/types.ts';
import { createLogger } from '../../common/log.ts';
import { TokenRevoked } from '../../events/token-revoked.ts';
import { TOPICS, topicName } from '../../events/topics.ts';

const log = createLogger('revocation-local');

export async function consumeRevocationsFromBus(
  bus: Bus,
  o: { instanceId: string; topicPrefix: string; apply(e: TokenRevoked): unknown },
): Promise<Subscription> {
  const topic = topicName(TOPICS.tokenRevoked, o.topicPrefix);
  await bus.ensureTopics([{ name: topic, partitions: 1, retentionMs: -1, cleanupPolicy: 'delete' }]);
  return bus.consume({
    groupId: `adapter-revocations-${o.instanceId}`,
    topics: [topic],
    fromBeginning: true,
    maxWaitMs: 20,
    async handler(batch) {
      for (const r of batch.records) {
        let json: unknown = null;
        try {
          json = JSON.parse(r.value?.toString('utf8') ?? 'null');
        } catch {}
        const parsed = TokenRevoked.safeParse(json);
        if (!parsed.success) {
          log.error({ offset: r.offset, partition: r.partition }, 'invalid token-revoked record skipped');
          continue;
        }
        await o.apply(parsed.data);
      }
    },
  });
}
