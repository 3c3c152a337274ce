/** Kafka sink: the analytics events on mesh-apim.analytics.v1 for any other subscriber (all-or-nothing per batch). */
import { publish } from '../../../bus/publish.ts';
import type { Bus } from '../../../bus/types.ts';
import { TOPICS, topicName } from '../../../events/topics.ts';
import { SinkUnavailableError } from '../errors.ts';
import type { AnalyticsSink, SinkItem, SinkItemResult } from './types.ts';

export class KafkaSink implements AnalyticsSink {
  readonly name = 'kafka';
  private readonly topic: string;
  constructor(
    private readonly producer: Pick<Bus, 'produce'>,
    topicPrefix = '',
  ) {
    this.topic = topicName(TOPICS.analytics, topicPrefix);
  }

  async write(items: readonly SinkItem[]): Promise<SinkItemResult[]> {
    if (items.length === 0) return [];
    try {
      await publish(this.producer, { contract: TOPICS.analytics, name: this.topic }, items);
    } catch (err) {
      throw new SinkUnavailableError('kafka', `produce to ${this.topic} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return items.map(() => ({ ok: true }));
  }

  async close(): Promise<void> {}
}
