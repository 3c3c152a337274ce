/**
 * publish(bus, topic, events): events of one topic contract (events/topics.ts) onto the bus, each
 * keyed by the contract's partition key and serialised once. The way code outside bus/ produces
 * events; the emitter's hot path (adapter/emit) keeps its own pre-serialised records.
 */
import type { z } from 'zod';
import { type TopicContract, topicName } from '../events/topics.ts';
import type { Bus, OutRecord } from './types.ts';

/** A topic contract under its wire name (the configured prefix applied once, where the caller is built). */
export interface Topic<S extends z.ZodType = z.ZodType> {
  contract: TopicContract<S>;
  name: string;
}

export function topicOf<S extends z.ZodType>(contract: TopicContract<S>, prefix = ''): Topic<S> {
  return { contract, name: topicName(contract, prefix) };
}

export interface PublishOptions<E> {
  /** Record headers of an event (e.g. its type, for consumers that filter without parsing). */
  headers?: (event: E) => Record<string, string>;
  /** The records' timestamp, ms since epoch; the bus's now when omitted. */
  timestamp?: number;
}

/** Resolves once the bus accepted every event (Bus.produce); nothing is produced for none. */
export async function publish<S extends z.ZodType>(
  bus: Pick<Bus, 'produce'>,
  topic: Topic<S>,
  events: readonly z.infer<S>[],
  options: PublishOptions<z.infer<S>> = {},
): Promise<void> {
  if (events.length === 0) return;
  const { headers, timestamp } = options;
  await bus.produce(
    topic.name,
    events.map((event) => {
      const r: OutRecord = { key: topic.contract.key(event), value: JSON.stringify(event) };
      if (headers) r.headers = headers(event);
      if (timestamp !== undefined) r.timestamp = timestamp;
      return r;
    }),
  );
}
