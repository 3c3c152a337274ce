/**
 * Building blocks shared by every event schema. Zod gives us the runtime validator and the
 * TypeScript type from one declaration; `z.toJSONSchema` exports the JSON Schema (events/schemas.ts).
 */
import { z } from 'zod';

export const IsoTime = z.iso.datetime({ offset: true }).describe('ISO-8601 timestamp with offset');
export const EventId = z
  .string()
  .min(1)
  .max(200)
  .describe('Unique id of this event (idempotency key for consumers)');

/** Fields every event carries. `type` discriminates events that share a topic. */
export function envelope<T extends string>(type: T) {
  return {
    type: z.literal(type),
    schemaVersion: z.literal(1),
    eventId: EventId,
    occurredAt: IsoTime,
  };
}
